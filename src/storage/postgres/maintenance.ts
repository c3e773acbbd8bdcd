/**
 * What the Postgres store does on the admin pool: NIP-09 deletions and NIP-62
 * vanish requests (removing events with their tags, id claims and replaceable
 * heads, and recording tombstones), the NIP-40 expiry purge, and retention
 * (whole partitions dropped, then batched row deletes). Each unit that is one
 * transaction runs again when PostgreSQL rolls it back for a deadlock, since
 * these race the writers; each runs under the admin deadline.
 */
import { Effect } from "effect"
import type { PgClient } from "@effect/sql-pg/PgClient"
import { kindClass, nowSeconds } from "../../nostr/index.ts"
import type { DeletionRequest, StoreError } from "../EventStore.ts"
import { longestFiniteAge, shortestFiniteAge, type RetentionPolicy, type RetentionRule } from "../../config/retention.ts"
import { retryingDeadlocks, storeError, withDeadline } from "./errors.ts"
import { byteaArray, bytesHex, hexBytes, int4Array, int8, textArray } from "./sql.ts"

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

/** What maintenance needs: the admin pool and its deadline (twice `writeTimeoutMs` per operation). */
export interface MaintenanceDeps {
  readonly admin: PgClient
  readonly writeTimeoutMs: number
}

export const makeMaintenance = (deps: MaintenanceDeps) => {
  const { admin, writeTimeoutMs } = deps

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

  return { deleteByRequest, vanish, vanished, purgeExpired, purgeByRetention }
}
