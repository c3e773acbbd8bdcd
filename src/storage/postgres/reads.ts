/**
 * The reads of the Postgres store (REQ, COUNT, HLL, negentropy, NIP-05 by
 * domain) on the read pool: each compiled by compile.ts into one statement;
 * several filters are joined by UNION ALL, deduplicated and re-sorted here.
 * Every read runs under a time limit (server-side statement_timeout on the
 * read pool plus a deadline here that also bounds waiting for a pooled
 * connection) and is retried once when its pooled connection died. Under
 * FreshReads, with a replica as the read pool, reads go to the primary.
 */
import { Effect } from "effect"
import type { PgClient } from "@effect/sql-pg/PgClient"
import { compareNewestFirst, nip05AtDomain, nowSeconds, type Filter, type NostrEvent, type ServedEvent } from "../../nostr/index.ts"
import { FreshReads, type ScanCursor, type StoreError } from "../EventStore.ts"
import { compileCount, compileHll, compileQuery, compileRecords, compileScan } from "./compile.ts"
import { isConnectionError, storeError, withDeadline } from "./errors.ts"
import { byteaArray, bytesHex, likePattern, rowToEvent, rowToServed, type EventRow, type ServedRow } from "./sql.ts"

/** What the reads need: the pools and the deadline. */
export interface ReadsDeps {
  readonly read: PgClient
  /** With a read replica as `read`: a pool on the primary for reads under FreshReads. Undefined: `read` serves them too. */
  readonly primaryRead: PgClient | undefined
  /** Deadline of one read, waiting for a connection included. */
  readonly readDeadlineMs: number
}

export const makeReads = (deps: ReadsDeps) => {
  const { read, primaryRead, readDeadlineMs } = deps

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

  /** Export: one keyset page, oldest first (compileScan); the stored text, or the columns of rows stored without it. */
  const scan = (filter: Filter, after: ScanCursor | undefined, max: number): Effect.Effect<ReadonlyArray<ServedEvent>, StoreError> =>
    Effect.flatMap(nowSeconds, (now) => {
      const q = compileScan(filter, now, after, max)
      if (q.parts === 0) return Effect.succeed([])
      return Effect.map(readRaw<ServedRow>(q.text, q.params), (rows) => rows.map(rowToServed))
    })

  /** Import: which ids are stored, from event_ids (one row per stored event, unpartitioned: one probe an id). */
  const storedIds = (ids: ReadonlyArray<string>): Effect.Effect<ReadonlySet<string>, StoreError> =>
    ids.length === 0
      ? Effect.succeed(new Set())
      : Effect.map(
          // What a put would find: the primary's, also with a read replica.
          Effect.provideService(readRaw<{ id: Uint8Array }>(`SELECT id FROM event_ids WHERE id = ANY($1::bytea[])`, [byteaArray(ids)]), FreshReads, true),
          (rows) => new Set(rows.map((r) => bytesHex(r.id)))
        )

  return { readRaw, query, queryServed, count, countHll, negentropyRecords, authorsAtDomain, scan, storedIds, warmReads }
}
