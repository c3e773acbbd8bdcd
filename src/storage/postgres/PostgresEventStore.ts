/**
 * The PostgreSQL EventStore (the production store). Same behaviour as the
 * memory adapter; schema and the batched write live in migrations/.
 *
 * - Writes: `put` hands the event to a group-commit writer. Workers (one per
 *   ingest connection) take up to `writeBatchSize` queued events, waiting
 *   `writeBatchWaitMs` after the first for more, and write the whole batch with
 *   ONE call of `parrhesia_put_events` (multi-row inserts from arrays, a single
 *   autocommitted statement = one transaction, one WAL flush). Every put of the
 *   batch resolves after that commit. If the batch fails nothing of it counts
 *   as stored and its events are retried one by one, so a bad row only fails
 *   itself (StoreError).
 * - With the PostgreSQL ClusterBus, the same statement also sends the
 *   notifications of the events the batch stored (`setBatchNotifier`), so
 *   other processes hear of an event if and only if its batch committed.
 * - Replaceable/addressable resolution happens inside the database (heads
 *   table upsert compared on (created_at, id)), so concurrent writers and
 *   several versions in one batch converge on the NIP-01 winner.
 * - Reads: each filter becomes one parameterized SELECT with its own
 *   ORDER BY created_at DESC, id ASC LIMIT n; several filters are joined by
 *   UNION ALL, deduplicated and re-sorted here. Every read runs under a time
 *   limit (server-side statement_timeout on the read pool plus a deadline
 *   here that also bounds waiting for a pooled connection).
 * - Three pools: ingest (writer), read (REQ/COUNT), admin (deletions,
 *   purges, maintenance).
 *
 * "Now" for NIP-40 comes from Effect's Clock when the call runs; internal
 * waits and deadlines always use the live clock, so a TestClock in the
 * caller's context cannot stall the writer or the time limits.
 */
import { Buffer } from "node:buffer"
import { Cause, Clock, Context, Deferred, Effect, Fiber, Queue, Result } from "effect"
import type { Scope, Tracer } from "effect"
import { tracingEnabled } from "../../observability/tracing.ts"
import * as PgTypes from "@effect/sql-pg/PgTypes"
import type { PgClient } from "@effect/sql-pg/PgClient"
import {
  compareNewestFirst,
  dTagOf,
  expirationOf,
  isEmptyFilter,
  kindClass,
  nip05AtDomain,
  nowSeconds,
  parseSearch,
  servedEvent,
  servedFromJson,
  type Filter,
  type NostrEvent,
  type ServedEvent
} from "../../nostr/index.ts"
import { FreshReads, StoreError, type DeletionRequest, type EventStoreShape, type PutOutcome } from "../EventStore.ts"
import { longestFiniteAge, shortestFiniteAge, type RetentionPolicy, type RetentionRule } from "../../config/retention.ts"

// ------------------------------------------------------------------ helpers

const liveClock = Clock.Clock.defaultValue()

/** Runs `eff` on the live clock whatever the caller provides. */
export const onLiveClock = <A, E, R>(eff: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(eff, Clock.Clock, liveClock)

/** The database's own message of an SqlError (or anything else), for StoreError texts. */
export const describeError = (e: unknown): string => {
  const seen = new Set<unknown>()
  let cur: unknown = e
  const parts: Array<string> = []
  while (cur !== null && typeof cur === "object" && !seen.has(cur)) {
    seen.add(cur)
    const o = cur as { message?: unknown; reason?: unknown; cause?: unknown }
    if (typeof o.message === "string" && o.message !== "" && !parts.includes(o.message)) parts.push(o.message)
    cur = o.reason ?? o.cause
  }
  // The innermost message is the database's; keep the outer one for context when it differs.
  if (parts.length === 0) return String(e)
  return parts.length === 1 ? parts[0]! : `${parts[parts.length - 1]} (${parts[0]})`
}

const storeError = (what: string) => (e: unknown) =>
  e instanceof StoreError ? e : new StoreError({ message: `${what}: ${describeError(e)}`, cause: e })

/** Fails with StoreError when `eff` takes longer than `ms` (live clock); interrupting it cancels the query. */
const withDeadline =
  (ms: number, what: string) =>
  <A, E, R>(eff: Effect.Effect<A, E, R>): Effect.Effect<A, E | StoreError, R> =>
    onLiveClock(
      Effect.timeoutOrElse(eff, {
        duration: ms,
        orElse: () => Effect.fail(new StoreError({ message: `${what} timed out after ${ms} ms` }))
      })
    )

const isConnectionError = (e: unknown): boolean =>
  (e as { reason?: { _tag?: unknown } } | undefined)?.reason?._tag === "ConnectionError"

/**
 * Runs a unit of work that is one transaction (a statement in autocommit, or a withTransaction)
 * again when PostgreSQL chose it as a deadlock victim or refused it for serialization: the whole
 * unit was rolled back, so running it again is safe. Maintenance and deletions racing the writers
 * (partition drops, batched purges) need it; never wrap a single statement inside a transaction.
 */
export const retryingDeadlocks = <A, E, R>(unit: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.retry(unit, {
    times: 4,
    while: (e) => {
      const tag = (e as { reason?: { _tag?: unknown } } | undefined)?.reason?._tag
      return tag === "DeadlockError" || tag === "SerializationError"
    }
  })

const hexBytes = (hex: string): Buffer => Buffer.from(hex, "hex")
const bytesHex = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString("hex")

const arrayParam = (values: ReadonlyArray<unknown>, oid: number): PgTypes.Parameter =>
  Result.getOrThrow(PgTypes.array(values, oid))
const byteaArray = (hex: ReadonlyArray<string>) => arrayParam(hex.map(hexBytes), PgTypes.OID.bytea)
const textArray = (values: ReadonlyArray<string | null>) => arrayParam(values, PgTypes.OID.text)
const int4Array = (values: ReadonlyArray<number>) => arrayParam(values, PgTypes.OID.int4)
const int8Array = (values: ReadonlyArray<number | null>) =>
  arrayParam(
    values.map((v) => (v === null ? null : BigInt(v))),
    PgTypes.OID.int8
  )
const int8 = (v: number) => PgTypes.int8(BigInt(v))

interface EventRow {
  readonly id: Uint8Array
  readonly pubkey: Uint8Array
  readonly created_at: bigint | number
  readonly kind: number
  readonly tags: ReadonlyArray<ReadonlyArray<string>>
  readonly content: string
  readonly sig: Uint8Array
}

const rowToEvent = (r: EventRow): NostrEvent => ({
  id: bytesHex(r.id),
  pubkey: bytesHex(r.pubkey),
  created_at: Number(r.created_at),
  kind: r.kind,
  tags: r.tags,
  content: r.content,
  sig: bytesHex(r.sig)
})

/**
 * Tag values longer than this many UTF-8 bytes are not indexed (a btree entry
 * holds ~2.7 kB); a filter can then not find the event by that value.
 */
const MAX_INDEXED_TAG_BYTES = 2000

const indexableValue = (v: string) => v.length <= 500 || Buffer.byteLength(v, "utf8") <= MAX_INDEXED_TAG_BYTES

// ------------------------------------------------------------------ filters -> SQL

/** `%text%` for ILIKE, with \ % _ escaped (backslash is LIKE's default escape). */
const likePattern = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`

class Params {
  readonly values: Array<unknown> = []
  add(v: unknown): string {
    this.values.push(v)
    return `$${this.values.length}`
  }
}

interface FilterSql {
  /** FROM ... WHERE ... of the filter. */
  readonly body: string
  /** ORDER BY expression list (newest first, lowest id first). */
  readonly order: string
  /** The tsquery of a search filter (NIP-50), for ranking. */
  readonly tsq?: string
}

/**
 * A search is ranked among its newest matches, at most this many (or its limit when larger):
 * a word in a fifth of all events would otherwise make every query rank tens of thousands of rows.
 */
export const SEARCH_CANDIDATES = 1000

const EVENT_COLUMNS = "e.id, e.pubkey, e.created_at, e.kind, e.tags, e.content, e.sig"
const RANKED_COLUMNS = "r.id, r.pubkey, r.created_at, r.kind, r.tags, r.content, r.sig"
/** What the inner selects of the LATERAL and ranked forms carry: every column either output list reads. */
const INNER_COLUMNS = `${EVENT_COLUMNS}, e.event_json`

/**
 * What a REQ answer reads (queryServed): the event's JSON text as stored, kind and created_at; the
 * other columns only for rows stored without the text (before migration 0006), NULL otherwise.
 */
const servedColumns = (a: string) =>
  `${a}.event_json, ${a}.kind, ${a}.created_at, ` +
  ["id", "pubkey", "tags", "content", "sig"].map((c) => `CASE WHEN ${a}.event_json IS NULL THEN ${a}.${c} END AS ${c}`).join(", ")
const SERVED_COLUMNS = servedColumns("e")
const SERVED_RANKED_COLUMNS = servedColumns("r")

interface ServedRow {
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

const rowToServed = (r: ServedRow): ServedEvent =>
  r.event_json !== null ? servedFromJson(r.event_json, r.kind, Number(r.created_at)) : servedEvent(rowToEvent(r))

/**
 * FROM/WHERE of one filter (the caller checked it is not empty); `nowParam` is "now".
 *
 * A tag condition with a single value (and no ids) drives the query from
 * event_tags: its (name, value, created_at DESC) index yields the matches
 * newest first, and each is looked up in events by primary key through a
 * LATERAL subquery (kept as a parameterized nested loop, so only the one
 * partition holding that created_at is probed), so a `#p`/`#e` REQ with a
 * limit stops after `limit` hits. A plain join would let the planner pick a
 * hash join over every events partition. Other tag conditions are semi-joins.
 */
const filterSql = (f: Filter, p: Params, nowParam: string): FilterSql => {
  const c: Array<string> = []
  // One value: plain equality, so the planner can walk a (column, created_at DESC) index in order and
  // stop at the limit; `= ANY(array)` makes it fetch and sort every match.
  if (f.ids !== undefined)
    c.push(f.ids.length === 1 ? `e.id = ${p.add(hexBytes(f.ids[0]!))}::bytea` : `e.id = ANY(${p.add(byteaArray(f.ids))}::bytea[])`)
  if (f.authors !== undefined)
    c.push(
      f.authors.length === 1
        ? `e.pubkey = ${p.add(hexBytes(f.authors[0]!))}::bytea`
        : `e.pubkey = ANY(${p.add(byteaArray(f.authors))}::bytea[])`
    )
  if (f.kinds !== undefined)
    c.push(f.kinds.length === 1 ? `e.kind = ${p.add(f.kinds[0]!)}::integer` : `e.kind = ANY(${p.add(int4Array(f.kinds))}::integer[])`)
  if (f.excludeKinds !== undefined && f.excludeKinds.length > 0)
    c.push(`e.kind <> ALL(${p.add(int4Array(f.excludeKinds))}::integer[])`)
  const since = f.since !== undefined ? p.add(int8(f.since)) : undefined
  const until = f.until !== undefined ? p.add(int8(f.until)) : undefined
  if (since !== undefined) c.push(`e.created_at >= ${since}`)
  if (until !== undefined) c.push(`e.created_at <= ${until}`)
  if (f.alsoTagged !== undefined) {
    c.push(
      badText(f.alsoTagged.value) !== undefined
        ? "FALSE"
        : `(e.id, e.created_at) IN (SELECT ta.event_id, ta.created_at FROM event_tags ta WHERE ta.name = ${p.add(f.alsoTagged.name)}::text` +
            ` AND ta.value = ${p.add(f.alsoTagged.value)}::text)`
    )
  }
  const driving: Array<string> = []
  if (f.tags !== undefined) {
    // A value PostgreSQL text cannot hold (NUL, a lone surrogate) is in no stored tag: it matches nothing.
    const entries = Object.entries(f.tags).map(([name, values]) => [name, values.filter((v) => badText(v) === undefined)] as const)
    if (entries.some(([, values]) => values.length === 0)) c.push("FALSE")
    // A search ranks on e.search_vector, which the LATERAL form does not carry: it is driven from events.
    const drive = f.ids === undefined && f.search === undefined ? entries.findIndex(([, values]) => values.length === 1) : -1
    entries.forEach(([name, values], k) => {
      const t = `t${k}`
      const range =
        (since !== undefined ? ` AND ${t}.created_at >= ${since}` : "") + (until !== undefined ? ` AND ${t}.created_at <= ${until}` : "")
      if (k === drive) {
        driving.push(`${t}.name = ${p.add(name)}::text AND ${t}.value = ${p.add(values[0]!)}::text${range}`)
      } else {
        c.push(
          `(e.id, e.created_at) IN (SELECT ${t}.event_id, ${t}.created_at FROM event_tags ${t} WHERE ${t}.name = ${p.add(name)}::text` +
            (values.length === 1
              ? ` AND ${t}.value = ${p.add(values[0]!)}::text${range})`
              : ` AND ${t}.value = ANY(${p.add(textArray(values))}::text[])${range})`)
        )
      }
    })
  }
  // NIP-50: all words, through the GIN index on search_vector (to_tsvector('simple', content)). The words are ours
  // (letters and digits only, see src/nostr/search.ts), so plainto_tsquery sees no operators.
  let tsq: string | undefined
  if (f.search !== undefined) {
    const parsed = parseSearch(f.search)
    const words = "error" in parsed ? [] : parsed.words
    if (words.length > 0) {
      tsq = `plainto_tsquery('simple', ${p.add(words.join(" "))}::text)`
      c.push(`e.search_vector @@ ${tsq}`)
    }
  }
  c.push(`(e.expires_at IS NULL OR e.expires_at > ${nowParam})`)
  if (driving.length === 0) {
    return { body: `FROM events e WHERE ${c.join(" AND ")}`, order: "e.created_at DESC, e.id ASC", ...(tsq !== undefined ? { tsq } : {}) }
  }
  const t = driving[0]!.slice(0, driving[0]!.indexOf("."))
  return {
    body:
      `FROM event_tags ${t} CROSS JOIN LATERAL (SELECT ${INNER_COLUMNS} FROM events e` +
      ` WHERE e.id = ${t}.event_id AND e.created_at = ${t}.created_at AND ${c.join(" AND ")} LIMIT 1) e` +
      ` WHERE ${driving[0]}`,
    order: `${t}.created_at DESC, ${t}.event_id ASC`
  }
}

export interface CompiledQuery {
  readonly text: string
  readonly params: ReadonlyArray<unknown>
  /** How many filters made it into the statement (0: nothing can match). */
  readonly parts: number
  /** True when the rows come back already newest first without duplicates. */
  readonly sorted?: boolean
}

/**
 * REQ: one SELECT per non-empty filter, each with its own order and limit, joined by UNION ALL.
 * `served`: the columns of queryServed (the stored text) instead of the event's columns.
 */
export const compileQuery = (filters: ReadonlyArray<Filter>, now: number, served = false): CompiledQuery => {
  const columns = served ? SERVED_COLUMNS : EVENT_COLUMNS
  const p = new Params()
  const nowParam = p.add(int8(now))
  const selects: Array<string> = []
  let unordered = false
  for (const f of filters) {
    if (isEmptyFilter(f)) continue
    const { body, order, tsq } = filterSql(f, p, nowParam)
    if (f.ids !== undefined && (f.limit === undefined || f.ids.length <= f.limit)) {
      // At most ids.length rows can match: no ORDER BY/LIMIT, so the planner probes the
      // primary key per id instead of walking a created_at index until the limit is met
      // (which scans everything when fewer than `limit` ids exist). Sorted by the caller.
      unordered = true
      selects.push(`SELECT ${columns} ${body}`)
      continue
    }
    const limit = f.limit !== undefined ? ` LIMIT ${p.add(f.limit)}` : ""
    if (tsq !== undefined) {
      // NIP-50: relevance first, the limit after ranking, among the newest candidates.
      const candidates = p.add(Math.max(SEARCH_CANDIDATES, f.limit ?? 0))
      selects.push(
        `SELECT ${served ? SERVED_RANKED_COLUMNS : RANKED_COLUMNS} FROM (SELECT ${INNER_COLUMNS}, e.search_vector ${body} ORDER BY ${order} LIMIT ${candidates}) r` +
          ` ORDER BY ts_rank(r.search_vector, ${tsq}) DESC, r.created_at DESC, r.id ASC${limit}`
      )
      continue
    }
    selects.push(`SELECT ${columns} ${body} ORDER BY ${order}${limit}`)
  }
  const text = selects.length === 1 ? selects[0]! : selects.map((s) => `(${s})`).join(" UNION ALL ")
  return { text, params: p.values, parts: selects.length, sorted: selects.length === 1 && !unordered }
}

/** NIP-77: (created_at, id, pubkey) of the union of the filters, each with its own limit when set, at most `max` rows. */
export const compileRecords = (filters: ReadonlyArray<Filter>, now: number, max: number): CompiledQuery => {
  const p = new Params()
  const nowParam = p.add(int8(now))
  const selects: Array<string> = []
  for (const f of filters) {
    if (isEmptyFilter(f)) continue
    const { body, order } = filterSql(f, p, nowParam)
    const limit = f.limit !== undefined ? ` ORDER BY ${order} LIMIT ${p.add(f.limit)}` : ""
    selects.push(`SELECT e.created_at, e.id, e.pubkey ${body}${limit}`)
  }
  const text = `SELECT DISTINCT ON (r.id) r.created_at, r.id, r.pubkey FROM (${selects.map((s) => `(${s})`).join(" UNION ALL ")}) r LIMIT ${p.add(max)}`
  return { text, params: p.values, parts: selects.length }
}

/** COUNT: distinct matches of all filters, limits ignored. */
export const compileCount = (filters: ReadonlyArray<Filter>, now: number): CompiledQuery => {
  const p = new Params()
  const nowParam = p.add(int8(now))
  const selects: Array<string> = []
  for (const f of filters) {
    if (isEmptyFilter(f)) continue
    selects.push(filterSql(f, p, nowParam).body)
  }
  const text =
    selects.length === 1
      ? `SELECT count(*) AS n ${selects[0]}`
      : `SELECT count(*) AS n FROM (${selects.map((w) => `SELECT e.id ${w}`).join(" UNION ")}) s`
  return { text, params: p.values, parts: selects.length }
}

/**
 * NIP-45 HLL: the count and the registers in one statement, aggregated in the
 * database (at most 256 register rows come back, never the events). The
 * register of a pubkey is its byte at `offset`; its value, the leading zero
 * bits of the bytes after it, plus one: `position('1' in bits)` of those bytes.
 */
export const compileHll = (filters: ReadonlyArray<Filter>, now: number, offset: number): CompiledQuery => {
  if (!Number.isInteger(offset) || offset < 8 || offset > 23) throw new Error(`HLL offset out of range: ${offset}`)
  const p = new Params()
  const nowParam = p.add(int8(now))
  const bodies: Array<string> = []
  for (const f of filters) {
    if (isEmptyFilter(f)) continue
    bodies.push(filterSql(f, p, nowParam).body)
  }
  const matched = bodies.length === 1 ? `SELECT e.pubkey ${bodies[0]}` : bodies.map((b) => `SELECT e.id, e.pubkey ${b}`).join(" UNION ")
  const bits = (31 - offset) * 8
  const rest = `position('1' IN (('x' || encode(substring(m.pubkey FROM ${offset + 2}), 'hex'))::bit(${bits}))::text)`
  const text =
    `WITH m AS (${matched}), r AS (` +
    `SELECT get_byte(m.pubkey, ${offset}) AS ri, max(CASE WHEN ${rest} = 0 THEN ${bits + 1} ELSE ${rest} END) AS v FROM m GROUP BY 1)` +
    ` SELECT (SELECT count(*) FROM m)::bigint AS n, (SELECT coalesce(json_agg(json_build_array(r.ri, r.v)), '[]'::json) FROM r)::text AS regs`
  return { text, params: p.values, parts: bodies.length }
}

// ------------------------------------------------------------------ writes

const OUTCOMES: ReadonlyArray<PutOutcome> = ["stored", "duplicate", "superseded", "deleted"]

const PUT_SQL =
  "SELECT pos, outcome FROM parrhesia_put_events($1::bytea[], $2::bytea[], $3::bigint[], $4::bigint[]::integer[], $5::text[], " +
  "$6::text[], $7::bytea[], $8::text[], $9::bigint[], $10::integer[], $11::text[], $12::text[])"

/**
 * PUT_SQL plus the batch's notifications, in the same statement and so the same transaction:
 * PostgreSQL delivers them at commit, and only if it commits. Only events the batch stored
 * (outcome 0) go out: message g is head || (stored events of group g joined by ",") || tail,
 * and each piece of a big event goes out when its event is stored. The count forces the CTE
 * `n`. The notice's parameters follow the `k` of putParams (derived from PUT_SQL, so the two
 * cannot disagree on the function call).
 */
const putNotifySqls = new Map<number, string>()
const putNotifySql = (k: number): string => {
  let text = putNotifySqls.get(k)
  if (text === undefined) {
    const $ = (i: number) => `$${k + i}`
    text =
      `WITH r AS MATERIALIZED (SELECT pos, outcome FROM ${PUT_SQL.slice(PUT_SQL.indexOf(" FROM ") + 6)}), ` +
      `n AS (SELECT pg_notify(${$(1)}::text, ${$(2)}::text || string_agg(j.json, ',' ORDER BY j.pos) || ${$(3)}::text) ` +
      `FROM r JOIN unnest(${$(4)}::text[], ${$(5)}::integer[]) WITH ORDINALITY AS j(json, grp, pos) ON j.pos = r.pos ` +
      `WHERE r.outcome = 0 AND j.grp >= 0 GROUP BY j.grp ` +
      `UNION ALL SELECT pg_notify(${$(1)}::text, c.payload) FROM r JOIN unnest(${$(6)}::text[], ${$(7)}::integer[]) AS c(payload, pos) ON c.pos = r.pos ` +
      `WHERE r.outcome = 0) ` +
      `SELECT r.pos, r.outcome FROM r CROSS JOIN (SELECT count(*) FROM n) AS sent`
    putNotifySqls.set(k, text)
  }
  return text
}

/**
 * The notifications a batch sends with its commit (the PostgreSQL ClusterBus makes them):
 * for the events of the batch, in its order, whole messages by group and pieces of big events.
 */
export interface BatchNotice {
  readonly channel: string
  /** Message g = head + the stored events of group g joined by "," + tail. */
  readonly head: string
  readonly tail: string
  /** Per event: its JSON text and its group (-1: it goes in pieces). */
  readonly jsons: ReadonlyArray<string>
  readonly groups: ReadonlyArray<number>
  /** Whole payloads, each sent when the event at its position (1-based, in piecePos) is stored. */
  readonly pieces: ReadonlyArray<string>
  readonly piecePos: ReadonlyArray<number>
}

export type BatchNotifier = (events: ReadonlyArray<NostrEvent>) => BatchNotice

const noticeParams = (n: BatchNotice): ReadonlyArray<unknown> => [
  n.channel,
  n.head,
  n.tail,
  textArray(n.jsons),
  int4Array(n.groups),
  textArray(n.pieces),
  int4Array(n.piecePos)
]

/** The 12 array parameters of parrhesia_put_events for distinct events. */
export const putParams = (events: ReadonlyArray<NostrEvent>): ReadonlyArray<unknown> => {
  const n = events.length
  const ids = new Array<Buffer>(n)
  const pubkeys = new Array<Buffer>(n)
  const created = new Array<number>(n)
  const kinds = new Array<number>(n)
  const tags = new Array<string>(n)
  const contents = new Array<string>(n)
  const sigs = new Array<Buffer>(n)
  const dtags = new Array<string | null>(n)
  const expires = new Array<number | null>(n)
  const tagPos: Array<number> = []
  const tagNames: Array<string> = []
  const tagValues: Array<string> = []
  for (let i = 0; i < n; i++) {
    const e = events[i]!
    ids[i] = hexBytes(e.id)
    pubkeys[i] = hexBytes(e.pubkey)
    created[i] = e.created_at
    kinds[i] = e.kind
    tags[i] = JSON.stringify(e.tags)
    contents[i] = e.content
    sigs[i] = hexBytes(e.sig)
    const cls = kindClass(e.kind)
    dtags[i] = cls === "replaceable" ? "" : cls === "addressable" ? dTagOf(e) : null
    expires[i] = expirationOf(e) ?? null
    let seen: Set<string> | undefined
    for (const t of e.tags) {
      if (t.length < 2 || t[0]!.length !== 1) continue
      const name = t[0]!
      const value = t[1]!
      if (!indexableValue(value)) continue
      const key = `${name}\u0000${value}`
      if (seen === undefined) seen = new Set()
      else if (seen.has(key)) continue
      seen.add(key)
      tagPos.push(i + 1)
      tagNames.push(name)
      tagValues.push(value)
    }
  }
  return [
    arrayParam(ids, PgTypes.OID.bytea),
    arrayParam(pubkeys, PgTypes.OID.bytea),
    int8Array(created),
    // int8 on the wire: an out-of-range kind fails in the database ("integer out of range"), never wraps.
    int8Array(kinds),
    textArray(tags),
    textArray(contents),
    arrayParam(sigs, PgTypes.OID.bytea),
    textArray(dtags),
    int8Array(expires),
    int4Array(tagPos),
    textArray(tagNames),
    textArray(tagValues)
  ]
}

const badText = (s: string): string | undefined =>
  s.includes("\u0000")
    ? "PostgreSQL text cannot hold NUL (\\u0000)"
    : !(s as string & { isWellFormed(): boolean }).isWellFormed()
      ? "the text contains a lone UTF-16 surrogate, which UTF-8 cannot hold"
      : undefined

/**
 * Why PostgreSQL could not store this event's text exactly, if it cannot.
 * Such events are refused up front (StoreError) rather than altered, and
 * never reach a batch where they would force the one-by-one fallback.
 */
export const unstorableText = (e: NostrEvent): string | undefined => {
  const c = badText(e.content)
  if (c !== undefined) return `content: ${c}`
  for (const tag of e.tags) {
    for (const v of tag) {
      const t = badText(v)
      if (t !== undefined) return `tag: ${t}`
    }
  }
  return undefined
}

interface PendingPut {
  readonly event: NostrEvent
  readonly done: Deferred.Deferred<PutOutcome, StoreError>
  /** The caller's span (tracing on): linked with the span of the batch that commits it. */
  readonly span?: Tracer.Span
}

export interface WriterStats {
  /** Batch transactions committed (one statement each). */
  batches: number
  /** Events in committed batches (distinct ids). */
  batchedEvents: number
  /** Batches that failed and were retried one event at a time. */
  fallbacks: number
  /** Events that failed even alone. */
  failedEvents: number
}

// ------------------------------------------------------------------ the store

export interface PostgresStoreOptions {
  readonly ingest: PgClient
  readonly read: PgClient
  /** With a read replica as `read`: a pool on the primary for reads under FreshReads. Absent: `read` serves them too. */
  readonly primaryRead?: PgClient
  readonly admin: PgClient
  readonly writeBatchSize: number
  readonly writeBatchWaitMs: number
  /** Workers writing batches concurrently (normally the ingest pool size). */
  readonly writers: number
  readonly queryTimeoutMs: number
  /** Read connections to open and warm up (the REQ shapes prepared on each) before the store is ready; 0 or absent: none. */
  readonly warmReadConnections?: number
  /** Deadline of one batch write / one admin operation. */
  readonly writeTimeoutMs?: number
}

/** Internals of the Postgres store, for the maintenance job and tests. */
export interface PostgresStoreInternals {
  readonly stats: WriterStats
  /** Runs SQL on the read pool under the same time limit as REQ/COUNT (tests use it). */
  readonly readRaw: (text: string, params?: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<unknown>, StoreError>
  readonly ingest: PgClient
  readonly read: PgClient
  readonly admin: PgClient
  /**
   * Makes every batch send, in its own transaction, the notifications built by `notifier`
   * for the events it stored (the PostgreSQL ClusterBus); undefined: none.
   */
  readonly setBatchNotifier: (notifier: BatchNotifier | undefined) => void
}

export class PostgresStore extends Context.Service<PostgresStore, PostgresStoreInternals>()(
  "parrhesia/storage/postgres/PostgresStore"
) {}

/** Rows removed per retention statement. */
export const RETENTION_BATCH = 5000

/**
 * The retention age of `e.kind` in seconds as SQL (NULL: kept for ever), the first
 * matching rule winning; its numbers are appended to `params`.
 */
const retentionAgeSql = (p: RetentionPolicy, params: Array<unknown>): string => {
  const add = (v: unknown) => {
    params.push(v)
    return `$${params.length}`
  }
  const age = (a: number | undefined) => (a === undefined ? "NULL" : `${add(int8(a))}::bigint`)
  if (p.rules.length === 0) return age(p.fallback)
  const whens = p.rules.map((r: RetentionRule) => `WHEN e.kind BETWEEN ${add(r.from)}::integer AND ${add(r.to)}::integer THEN ${age(r.maxAge)}`)
  return `CASE ${whens.join(" ")} ELSE ${age(p.fallback)} END`
}

type RemoveSource = { readonly where: string; readonly params: ReadonlyArray<unknown> }

export const makePostgresEventStore = Effect.fnUntraced(function* (
  options: PostgresStoreOptions
): Effect.fn.Return<{ readonly store: EventStoreShape; readonly internals: PostgresStoreInternals }, never, Scope.Scope> {
  const { ingest, read, admin } = options
  const primaryRead = options.primaryRead
  const batchSize = Math.max(1, options.writeBatchSize)
  const waitMs = Math.max(0, options.writeBatchWaitMs)
  const writeTimeoutMs = options.writeTimeoutMs ?? 30_000
  // The server's statement_timeout (read pool) normally fires first; this also bounds waiting for a connection.
  const readDeadlineMs = options.queryTimeoutMs + 250
  const stats: WriterStats = { batches: 0, batchedEvents: 0, fallbacks: 0, failedEvents: 0 }

  // ---------------------------------------------------------------- writer

  const queue = yield* Queue.bounded<PendingPut, Cause.Done>(Math.max(1024, batchSize * 32))

  let batchNotifier: BatchNotifier | undefined

  const writeOnce = (events: ReadonlyArray<NostrEvent>) =>
    Effect.try({
      try: () => {
        const params = putParams(events)
        if (batchNotifier === undefined) return { text: PUT_SQL, params }
        return { text: putNotifySql(params.length), params: [...params, ...noticeParams(batchNotifier(events))] }
      },
      catch: (e) => e
    }).pipe(
      Effect.flatMap((q) => ingest.unsafe<{ pos: number; outcome: number }>(q.text, q.params)),
      withDeadline(writeTimeoutMs, "write"),
      Effect.mapError(storeError("could not store event")),
      Effect.map((rows) => {
        const out = new Array<PutOutcome>(events.length)
        for (const r of rows) out[r.pos - 1] = OUTCOMES[r.outcome] ?? "stored"
        return out
      })
    )

  const settle = (items: ReadonlyArray<PendingPut>, outcome: PutOutcome) =>
    Effect.forEach(
      items,
      (it, i) => Deferred.succeed(it.done, i === 0 || outcome !== "stored" ? outcome : "duplicate"),
      { discard: true }
    )

  const writeBatch = (batch: ReadonlyArray<PendingPut>) => {
    // Same id twice in one batch: write it once; the later puts are duplicates of the first.
    const byId = new Map<string, Array<PendingPut>>()
    for (const it of batch) {
      const same = byId.get(it.event.id)
      if (same === undefined) byId.set(it.event.id, [it])
      else same.push(it)
    }
    // Sorted ids: concurrent batches take their row locks in the same order.
    const ids = [...byId.keys()].sort()
    const events = ids.map((id) => byId.get(id)![0]!.event)
    // Traced: one span per committed batch, linked both ways with the spans of the events in it.
    const traced = tracingEnabled() ? batch.filter((it) => it.span?.sampled === true) : []
    const linked = <A, E, R>(self: Effect.Effect<A, E, R>) =>
      traced.length === 0
        ? self
        : Effect.withSpan(
            Effect.tap(Effect.currentSpan, (batchSpan) =>
              Effect.sync(() => {
                for (const it of traced) it.span!.addLinks([{ span: batchSpan, attributes: { "link.kind": "committed-in-batch" } }])
              })
            ).pipe(Effect.orDie, Effect.andThen(self)),
            "store.commit_batch",
            {
              captureStackTrace: false,
              attributes: { "db.system": "postgresql", "store.batch_events": events.length },
              links: traced.map((it) => ({ span: it.span!, attributes: { "link.kind": "event-in-batch" } }))
            }
          )
    return linked(writeOnce(events)).pipe(
      Effect.tap(() =>
        Effect.sync(() => {
          stats.batches++
          stats.batchedEvents += events.length
        })
      ),
      Effect.flatMap((outcomes) => Effect.forEach(ids, (id, i) => settle(byId.get(id)!, outcomes[i]!), { discard: true })),
      Effect.catch((batchError: StoreError) =>
        events.length === 1
          ? Effect.sync(() => stats.failedEvents++).pipe(
              Effect.andThen(Effect.forEach(byId.get(ids[0]!)!, (it) => Deferred.fail(it.done, batchError), { discard: true }))
            )
          : Effect.sync(() => stats.fallbacks++).pipe(
              Effect.andThen(
                Effect.forEach(
                  ids,
                  (id) => {
                    const items = byId.get(id)!
                    return writeOnce([items[0]!.event]).pipe(
                      Effect.flatMap((o) => settle(items, o[0]!)),
                      Effect.catch((e: StoreError) =>
                        Effect.sync(() => stats.failedEvents++).pipe(
                          Effect.andThen(Effect.forEach(items, (it) => Deferred.fail(it.done, e), { discard: true }))
                        )
                      )
                    )
                  },
                  { concurrency: 4, discard: true }
                )
              )
            )
      ),
      // Never leave a put waiting: if the writer is interrupted (shutdown), fail what is unsettled.
      Effect.onInterrupt(() =>
        Effect.forEach(batch, (it) => Deferred.fail(it.done, new StoreError({ message: "the event store is shutting down" })), {
          discard: true
        })
      )
    )
  }

  const worker = Effect.gen(function* () {
    for (;;) {
      let batch: ReadonlyArray<PendingPut> = yield* Queue.takeBetween(queue, 1, batchSize)
      if (batch.length < batchSize && waitMs > 0) {
        yield* Effect.sleep(waitMs)
        const more = yield* Queue.takeBetween(queue, 0, batchSize - batch.length).pipe(
          Effect.catch(() => Effect.succeed([] as ReadonlyArray<PendingPut>))
        )
        if (more.length > 0) batch = batch.concat(more)
      }
      yield* writeBatch(batch)
    }
  }).pipe(
    Effect.catch(() => Effect.void), // the queue is done: shutting down
    onLiveClock
  )

  const workers = yield* Effect.forEach(Array.from({ length: Math.max(1, options.writers) }), () => Effect.forkDetach(worker))

  yield* Effect.addFinalizer(() =>
    Effect.gen(function* () {
      // Stop taking new puts, let the workers drain what is queued, then stop them.
      yield* Queue.end(queue)
      yield* Effect.forEach(workers, (f) => Fiber.await(f), { discard: true }).pipe(
        Effect.timeoutOrElse({ duration: writeTimeoutMs, orElse: () => Effect.void }),
        onLiveClock
      )
      yield* Effect.forEach(workers, (f) => Fiber.interrupt(f), { discard: true })
    })
  )

  const put = (event: NostrEvent): Effect.Effect<PutOutcome, StoreError> => {
    const unstorable = unstorableText(event)
    if (unstorable !== undefined) return Effect.fail(new StoreError({ message: `could not store event: ${unstorable}`, unstorable: true }))
    const callerSpan = tracingEnabled() ? Effect.orElseSucceed(Effect.currentSpan, () => undefined) : Effect.succeed(undefined)
    return Effect.flatMap(Effect.zip(Deferred.make<PutOutcome, StoreError>(), callerSpan), ([done, span]) =>
      Effect.flatMap(Queue.offer(queue, span === undefined ? { event, done } : { event, done, span }), (accepted) =>
        accepted ? Deferred.await(done) : Effect.fail(new StoreError({ message: "the event store is shutting down" }))
      )
    )
  }

  // ---------------------------------------------------------------- reads

  const readRaw = <A extends object>(text: string, params: ReadonlyArray<unknown> = []) =>
    (primaryRead === undefined
      ? Effect.suspend(() => read.unsafe<A>(text, params))
      : Effect.flatMap(Effect.service(FreshReads), (fresh) => (fresh ? primaryRead : read).unsafe<A>(text, params))
    ).pipe(
      // A pooled connection that died (server restarted) is replaced by the pool; reads are safe to retry once.
      Effect.retry({ times: 1, while: isConnectionError }),
      withDeadline(readDeadlineMs, "query"),
      Effect.mapError(storeError("query failed"))
    )

  /** A REQ's rows, converted; several parts are merged: duplicates dropped, newest first. */
  const queryRows = <R extends object, A extends { readonly id: string; readonly created_at: number }>(
    filters: ReadonlyArray<Filter>,
    served: boolean,
    convert: (row: R) => A
  ): Effect.Effect<ReadonlyArray<A>, StoreError> =>
    Effect.flatMap(nowSeconds, (now) => {
      const q = compileQuery(filters, now, served)
      if (q.parts === 0) return Effect.succeed([])
      return Effect.map(readRaw<R>(q.text, q.params), (rows) => {
        const events = new Array<A>(rows.length)
        for (let i = 0; i < rows.length; i++) events[i] = convert(rows[i]!)
        if (q.sorted) return events
        const seen = new Set<string>()
        const out: Array<A> = []
        for (const e of events) if (!seen.has(e.id)) (seen.add(e.id), out.push(e))
        return out.sort(compareNewestFirst)
      })
    })

  const query = (filters: ReadonlyArray<Filter>): Effect.Effect<ReadonlyArray<NostrEvent>, StoreError> =>
    queryRows<EventRow, NostrEvent>(filters, false, rowToEvent)

  const queryServed = (filters: ReadonlyArray<Filter>): Effect.Effect<ReadonlyArray<ServedEvent>, StoreError> =>
    queryRows<ServedRow, ServedEvent>(filters, true, rowToServed)

  /**
   * Opens every read connection (`connections`: the pool's size) and runs the REQ shapes on each:
   * the first REQs after start then pay neither for connecting, nor for a new session's catalog
   * caches (every partition's relcache entries), nor for parsing and planning the statements,
   * which the session keeps prepared. Failures are ignored: the reads themselves report them.
   */
  const warmReads = (connections: number): Effect.Effect<void> => {
    const zeros = "0".repeat(64)
    const now = Math.floor(Date.now() / 1000)
    const shapes: ReadonlyArray<ReadonlyArray<Filter>> = [
      [{ kinds: [1], limit: 100 }],
      [{ authors: [zeros], limit: 50 }],
      [{ tags: { p: [zeros] }, limit: 50 }],
      [{ ids: Array.from({ length: 20 }, (_, i) => i.toString(16).padStart(64, "0")), limit: 500 }]
    ]
    const statements = shapes.map((filters) => compileQuery(filters, now, true))
    return Effect.scoped(
      Effect.forEach(
        Array.from({ length: Math.max(1, connections) }),
        () =>
          Effect.flatMap(read.reserve, (conn) =>
            Effect.forEach(statements, (q) => conn.execute(q.text, q.params, undefined), { discard: true })
          ),
        { concurrency: "unbounded", discard: true }
      )
    ).pipe(withDeadline(readDeadlineMs * 4, "warm-up"), Effect.ignore)
  }
  if (options.warmReadConnections !== undefined && options.warmReadConnections > 0) yield* warmReads(options.warmReadConnections)

  const count = (filters: ReadonlyArray<Filter>): Effect.Effect<number, StoreError> =>
    Effect.flatMap(nowSeconds, (now) => {
      const q = compileCount(filters, now)
      if (q.parts === 0) return Effect.succeed(0)
      return Effect.map(readRaw<{ n: bigint | number }>(q.text, q.params), (rows) => Number(rows[0]?.n ?? 0))
    })

  /** Candidates by a LIKE on the raw content (the index-free part is small: profiles), confirmed by parsing their JSON. */
  const authorsAtDomain = (domain: string): Effect.Effect<ReadonlyArray<string>, StoreError> =>
    Effect.map(
      readRaw<{ pubkey: Uint8Array; content: string }>(
        `SELECT e.pubkey, e.content FROM events e WHERE e.kind = 0 AND e.content ILIKE $1::text LIMIT 100000`,
        [likePattern(`@${domain}`)]
      ),
      (rows) =>
        rows.flatMap((r) => {
          try {
            return nip05AtDomain((JSON.parse(r.content) as { nip05?: unknown }).nip05, domain) ? [bytesHex(r.pubkey)] : []
          } catch {
            return []
          }
        })
    )

  const negentropyRecords = (filters: ReadonlyArray<Filter>, max: number) =>
    Effect.flatMap(nowSeconds, (now) => {
      const q = compileRecords(filters, now, max)
      if (q.parts === 0) return Effect.succeed([])
      return Effect.map(readRaw<{ created_at: bigint | number | string; id: Uint8Array; pubkey: Uint8Array }>(q.text, q.params), (rows) =>
        rows.map((r) => ({ created_at: Number(r.created_at), id: bytesHex(r.id), pubkey: bytesHex(r.pubkey) }))
      )
    })

  const countHll = (filters: ReadonlyArray<Filter>, offset: number) =>
    Effect.flatMap(nowSeconds, (now) => {
      const q = compileHll(filters, now, offset)
      const hll = new Uint8Array(256)
      if (q.parts === 0) return Effect.succeed({ count: 0, hll })
      return Effect.map(readRaw<{ n: bigint | number; regs: string }>(q.text, q.params), (rows) => {
        for (const [ri, v] of JSON.parse(rows[0]?.regs ?? "[]") as Array<[number, number]>) hll[ri] = v
        return { count: Number(rows[0]?.n ?? 0), hll }
      })
    })

  // ---------------------------------------------------------------- admin: deletions

  /**
   * Removes the events selected by `where` (over `events e`) with their tags,
   * id claims and replaceable heads; with `tombstone`, records (id, author) in
   * deleted_events so they never come back. Returns how many were removed.
   */
  const removeSql = (src: RemoveSource, tombstone: string | undefined) =>
    `WITH gone AS (
       DELETE FROM events e WHERE ${src.where}
       RETURNING e.id, e.created_at, e.pubkey, e.kind, e.d_tag
     ), gone_tags AS (
       DELETE FROM event_tags et USING gone WHERE et.event_id = gone.id AND et.created_at = gone.created_at
     ), gone_ids AS (
       DELETE FROM event_ids ei USING gone WHERE ei.id = gone.id
     ), gone_heads AS (
       DELETE FROM replaceable_heads h USING gone
       WHERE gone.d_tag IS NOT NULL AND h.pubkey = gone.pubkey AND h.kind = gone.kind AND h.d_tag = gone.d_tag AND h.id = gone.id
     )${
       tombstone === undefined
         ? ""
         : `, tomb AS (
       INSERT INTO deleted_events (id, pubkey, deleted_at) SELECT gone.id, gone.pubkey, ${tombstone} FROM gone ON CONFLICT DO NOTHING
     )`
     }
     SELECT count(*)::integer AS n FROM gone`

  const adminOp = <A, E>(what: string, eff: Effect.Effect<A, E>) =>
    eff.pipe(withDeadline(writeTimeoutMs * 2, what), Effect.mapError(storeError(what)))

  const removeWhere = (sql: PgClient, src: RemoveSource, tombstone: boolean, nowSec: number) => {
    const params = [...src.params]
    let tomb: string | undefined
    if (tombstone) {
      params.push(int8(nowSec))
      tomb = `$${params.length}`
    }
    return Effect.map(sql.unsafe<{ n: number }>(removeSql(src, tomb), params), (rows) => rows[0]?.n ?? 0)
  }

  const deleteByRequest = (r: DeletionRequest): Effect.Effect<number, StoreError> =>
    Effect.gen(function* () {
      const now = yield* nowSeconds
      const author = hexBytes(r.pubkey)
      let removed = 0
      if (r.ids.length > 0) {
        const ids = byteaArray(r.ids)
        // With `k` tags, only events of those kinds are deleted (an id the store has not seen is still tombstoned).
        const kinds = r.kinds !== undefined ? int4Array(r.kinds) : null
        // Tombstones for the requester's own ids: every named id except events stored under another
        // author, of an undeletable kind (5, 62), or of a kind the request does not name.
        yield* admin.unsafe(
          `INSERT INTO deleted_events (id, pubkey, deleted_at)
           SELECT r.id, $2, $3 FROM unnest($1::bytea[]) AS r(id)
           WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = r.id
                             AND (e.pubkey <> $2 OR e.kind IN (5, 62) OR ($4::integer[] IS NOT NULL AND e.kind <> ALL($4::integer[]))))
           ON CONFLICT DO NOTHING`,
          [ids, author, int8(now), kinds]
        )
        removed += yield* removeWhere(
          admin,
          {
            where: `e.id = ANY($1::bytea[]) AND e.pubkey = $2 AND e.kind NOT IN (5, 62) AND ($3::integer[] IS NULL OR e.kind = ANY($3::integer[]))`,
            params: [ids, author, kinds]
          },
          false,
          now
        )
      }
      const own = r.addresses.filter((a) => a.pubkey === r.pubkey)
      if (own.length > 0) {
        const kinds = own.map((a) => a.kind)
        const dtags = own.map((a) => (kindClass(a.kind) === "addressable" ? a.d : ""))
        const params = [int4Array(kinds), textArray(dtags), author, int8(r.until)]
        yield* admin.unsafe(
          `INSERT INTO deleted_addresses (pubkey, kind, d_tag, until)
           SELECT DISTINCT $3::bytea, a.kind, a.d_tag, $4::bigint FROM unnest($1::integer[], $2::text[]) AS a(kind, d_tag)
           ON CONFLICT (pubkey, kind, d_tag) DO UPDATE SET until = GREATEST(deleted_addresses.until, excluded.until)`,
          params
        )
        removed += yield* removeWhere(
          admin,
          {
            where: `e.pubkey = $3 AND e.d_tag IS NOT NULL AND e.created_at <= $4
                    AND (e.kind, e.d_tag) IN (SELECT a.kind, a.d_tag FROM unnest($1::integer[], $2::text[]) AS a(kind, d_tag))`,
            params
          },
          false,
          now
        )
      }
      return removed
    }).pipe((eff) => adminOp("delete", retryingDeadlocks(admin.withTransaction(eff))))

  const vanish = (pubkey: string, until: number): Effect.Effect<number, StoreError> =>
    Effect.gen(function* () {
      const now = yield* nowSeconds
      yield* admin.unsafe(
        `INSERT INTO vanished_pubkeys (pubkey, until) VALUES ($1, $2)
         ON CONFLICT (pubkey) DO UPDATE SET until = GREATEST(vanished_pubkeys.until, excluded.until)`,
        [hexBytes(pubkey), int8(until)]
      )
      const own = yield* removeWhere(
        admin,
        { where: `e.pubkey = $1 AND e.created_at <= $2`, params: [hexBytes(pubkey), int8(until)] },
        true,
        now
      )
      const wraps = yield* removeWhere(
        admin,
        {
          where: `e.kind = 1059 AND e.created_at <= $2 AND (e.id, e.created_at) IN
                  (SELECT t.event_id, t.created_at FROM event_tags t WHERE t.name = 'p' AND t.value = $1::text AND t.created_at <= $2)`,
          params: [pubkey, int8(until)]
        },
        true,
        now
      )
      return own + wraps
    }).pipe((eff) => adminOp("vanish", retryingDeadlocks(admin.withTransaction(eff))))

  const purgeExpired = (now: number): Effect.Effect<number, StoreError> =>
    adminOp(
      "purge expired",
      retryingDeadlocks(removeWhere(admin, { where: `e.expires_at IS NOT NULL AND e.expires_at <= $1`, params: [int8(now)] }, false, now))
    )

  // ---------------------------------------------------------------- retention

  /**
   * Whole partitions first: one whose upper bound is older than the longest
   * finite age holds only events past their limit, unless it holds a kind kept
   * for ever, which one probe of the partition rules out. Such a partition is
   * dropped with its event_tags twin, after its id claims and replaceable heads
   * are released (tombstones stay). Then the remaining rows past their limit go
   * in batches of `RETENTION_BATCH`, each its own short statement, so writers
   * are never held up for long.
   */
  const purgeByRetention = (policy: RetentionPolicy, now: number): Effect.Effect<number, StoreError> =>
    Effect.gen(function* () {
      const shortest = shortestFiniteAge(policy)
      if (shortest === undefined) return 0
      const params: Array<unknown> = [int8(now)]
      const ageOf = retentionAgeSql(policy, params)
      const probeParams: Array<unknown> = []
      const probeAge = retentionAgeSql(policy, probeParams)
      let removed = 0
      const oldEnough = now - longestFiniteAge(policy)
      const partitions = yield* admin.unsafe<{ name: string; hi: string | null }>(
        `SELECT c.relname AS name, (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''?(-?\\d+)''?\\)'))[1] AS hi
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
         WHERE p.relname = 'events' AND c.relname LIKE 'events\\_p%'`
      )
      for (const part of partitions) {
        if (part.hi === null || Number(part.hi) > oldEnough) continue
        const name = part.name
        if (!/^events_p\d{6}$/.test(name)) continue
        const kept = yield* admin.unsafe<{ one: number }>(
          `SELECT 1 AS one FROM ${name} e WHERE (${probeAge}) IS NULL LIMIT 1`,
          probeParams
        )
        if (kept.length > 0) continue
        const n = yield* retryingDeadlocks(admin.withTransaction(
          Effect.gen(function* () {
            const counted = yield* admin.unsafe<{ n: number }>(`SELECT count(*)::integer AS n FROM ${name}`)
            yield* admin.unsafe(`DELETE FROM event_ids ei USING ${name} e WHERE ei.id = e.id`)
            yield* admin.unsafe(
              `DELETE FROM replaceable_heads h USING ${name} e
               WHERE e.d_tag IS NOT NULL AND h.pubkey = e.pubkey AND h.kind = e.kind AND h.d_tag = e.d_tag AND h.id = e.id`
            )
            yield* admin.unsafe(`DROP TABLE IF EXISTS event_tags_${name.slice("events_".length)}`)
            yield* admin.unsafe(`DROP TABLE ${name}`)
            return counted[0]?.n ?? 0
          })
        ))
        removed += n
        yield* Effect.logInfo("retention dropped a partition").pipe(Effect.annotateLogs({ partition: name, events: n }))
      }
      // Row by row for the rest, newest limit first; the created_at bound lets the index narrow the scan.
      params.push(int8(now - shortest), RETENTION_BATCH)
      const bound = `$${params.length - 1}`
      const limit = `$${params.length}`
      for (;;) {
        const n = yield* retryingDeadlocks(removeWhere(
          admin,
          {
            where: `(e.id, e.created_at) IN (SELECT v.id, v.created_at FROM events v
                     WHERE v.created_at < ${bound} AND v.created_at < $1 - (${ageOf.replaceAll("e.kind", "v.kind")}) LIMIT ${limit})`,
            params
          },
          false,
          now
        ))
        removed += n
        if (n < RETENTION_BATCH) break
      }
      return removed
    }).pipe((eff) => adminOp("retention", eff))

  const vanished = adminOp(
    "list vanished pubkeys",
    Effect.map(admin.unsafe<{ pubkey: Uint8Array; until: string | number | bigint }>(`SELECT pubkey, until FROM vanished_pubkeys`), (rows) =>
      rows.map((r) => ({ pubkey: bytesHex(r.pubkey), until: Number(r.until) }))
    )
  )

  const store: EventStoreShape = { put, query, queryServed, count, countHll, negentropyRecords, authorsAtDomain, deleteByRequest, vanish, vanished, purgeExpired, purgeByRetention }
  const internals: PostgresStoreInternals = {
    stats,
    readRaw: (text, params) => readRaw<object>(text, params ?? []),
    ingest,
    read,
    admin,
    setBatchNotifier: (n) => {
      batchNotifier = n
    }
  }
  return { store, internals }
})
