/**
 * The SQL vocabulary the Postgres store's parts share: parameter encoders
 * (hex <-> bytea, typed arrays, int8), the column lists a REQ reads and the
 * row mappers that turn them back into events, and the test of text
 * PostgreSQL cannot hold. Pure functions with no state, so the writer, the
 * reads, the query compilers and maintenance can all import them.
 */
import { Buffer } from "node:buffer"
import { Result } from "effect"
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { servedEvent, servedFromJson, type NostrEvent, type ServedEvent } from "../../nostr/index.ts"

export const hexBytes = (hex: string): Buffer => Buffer.from(hex, "hex")
export const bytesHex = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString("hex")

export const arrayParam = (values: ReadonlyArray<unknown>, oid: number): PgTypes.Parameter =>
  Result.getOrThrow(PgTypes.array(values, oid))
export const byteaArray = (hex: ReadonlyArray<string>) => arrayParam(hex.map(hexBytes), PgTypes.OID.bytea)
export const textArray = (values: ReadonlyArray<string | null>) => arrayParam(values, PgTypes.OID.text)
export const int4Array = (values: ReadonlyArray<number>) => arrayParam(values, PgTypes.OID.int4)
export const int8Array = (values: ReadonlyArray<number | null>) =>
  arrayParam(
    values.map((v) => (v === null ? null : BigInt(v))),
    PgTypes.OID.int8
  )
export const int8 = (v: number) => PgTypes.int8(BigInt(v))

export interface EventRow {
  readonly id: Uint8Array
  readonly pubkey: Uint8Array
  readonly created_at: bigint | number
  readonly kind: number
  readonly tags: ReadonlyArray<ReadonlyArray<string>>
  readonly content: string
  readonly sig: Uint8Array
}

export const rowToEvent = (r: EventRow): NostrEvent => ({
  id: bytesHex(r.id),
  pubkey: bytesHex(r.pubkey),
  created_at: Number(r.created_at),
  kind: r.kind,
  tags: r.tags,
  content: r.content,
  sig: bytesHex(r.sig)
})

/** `%text%` for ILIKE, with \ % _ escaped (backslash is LIKE's default escape). */
export const likePattern = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`

export const EVENT_COLUMNS = "e.id, e.pubkey, e.created_at, e.kind, e.tags, e.content, e.sig"
export const RANKED_COLUMNS = "r.id, r.pubkey, r.created_at, r.kind, r.tags, r.content, r.sig"
/** What the inner selects of the LATERAL and ranked forms carry: every column either output list reads. */
export const INNER_COLUMNS = `${EVENT_COLUMNS}, e.event_json`

/**
 * What a REQ answer reads (queryServed): the event's JSON text as stored, kind and created_at; the
 * other columns only for rows stored without the text (before migration 0006), NULL otherwise.
 */
const servedColumns = (a: string) =>
  `${a}.event_json, ${a}.kind, ${a}.created_at, ` +
  ["id", "pubkey", "tags", "content", "sig"].map((c) => `CASE WHEN ${a}.event_json IS NULL THEN ${a}.${c} END AS ${c}`).join(", ")
export const SERVED_COLUMNS = servedColumns("e")
export const SERVED_RANKED_COLUMNS = servedColumns("r")

export interface ServedRow {
  readonly event_json: string | null
  readonly kind: number
  readonly created_at: bigint | number
  /** These five: only when event_json is NULL. */
  readonly id: Uint8Array
  readonly pubkey: Uint8Array
  readonly tags: ReadonlyArray<ReadonlyArray<string>>
  readonly content: string
  readonly sig: Uint8Array
}

export const rowToServed = (r: ServedRow): ServedEvent =>
  r.event_json !== null ? servedFromJson(r.event_json, r.kind, Number(r.created_at)) : servedEvent(rowToEvent(r))

/** Why PostgreSQL text cannot hold `s` exactly (NUL, a lone surrogate), if it cannot. */
export const badText = (s: string): string | undefined =>
  s.includes("\u0000")
    ? "PostgreSQL text cannot hold NUL (\\u0000)"
    : !(s as string & { isWellFormed(): boolean }).isWellFormed()
      ? "the text contains a lone UTF-16 surrogate, which UTF-8 cannot hold"
      : undefined
