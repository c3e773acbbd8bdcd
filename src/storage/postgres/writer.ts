/**
 * The group-commit writer of the Postgres store: `put` hands the event to it.
 * Workers (one per ingest connection) take up to `batchSize` queued events,
 * waiting `waitMs` after the first for more, and write the whole batch with
 * ONE call of `parrhesia_put_events` (multi-row inserts from arrays, a single
 * autocommitted statement = one transaction, one WAL flush). Every put of the
 * batch resolves after that commit. If the batch fails nothing of it counts as
 * stored and its events are retried one by one, so a bad row only fails itself
 * (StoreError).
 *
 * With the PostgreSQL ClusterBus, the same statement also sends the
 * notifications of the events the batch stored (`setBatchNotifier`), so other
 * processes hear of an event if and only if its batch committed.
 *
 * Replaceable/addressable resolution happens inside the database (heads table
 * upsert compared on (created_at, id)), so concurrent writers and several
 * versions in one batch converge on the NIP-01 winner. Waits run on the live
 * clock.
 */
import { Buffer } from "node:buffer"
import { Cause, Deferred, Effect, Fiber, Queue } from "effect"
import type { Scope, Tracer } from "effect"
import type { PgClient } from "@effect/sql-pg/PgClient"
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { tracingEnabled } from "../../observability/tracing.ts"
import { dTagOf, eventJson, expirationOf, kindClass, type NostrEvent } from "../../nostr/index.ts"
import { indexableTagValue, StoreError, type PutOutcome } from "../EventStore.ts"
import { describeError, onLiveClock, retryingDeadlocks, storeError, withDeadline } from "./errors.ts"
import { arrayParam, badText, hexBytes, int4Array, int8Array, textArray } from "./sql.ts"


const OUTCOMES: ReadonlyArray<PutOutcome> = ["stored", "duplicate", "superseded", "deleted"]

/**
 * $13 is each event's JSON text as the relay serialized it (eventJson, already made for fanout and the
 * hot window): stored as `event_json` instead of PostgreSQL building it again from the columns, and the
 * same array feeds the batch's notifications.
 */
export const PUT_SQL =
  "SELECT pos, outcome FROM parrhesia_put_events($1::bytea[], $2::bytea[], $3::bigint[], $4::bigint[]::integer[], $5::text[], " +
  "$6::text[], $7::bytea[], $8::text[], $9::bigint[], $10::integer[], $11::text[], $12::text[], $13::text[])"
/** The parameter of PUT_SQL holding the events' JSON texts. */
const JSONS_PARAM = "$13"
/** How many parameters PUT_SQL takes (putParams gives as many); the statements below number theirs after them. */
const PUT_ARGS = new Set(PUT_SQL.match(/\$\d+/g)).size
/** The function call of PUT_SQL, for the statements that wrap it. */
const PUT_CALL = PUT_SQL.slice(PUT_SQL.indexOf(" FROM ") + 6)
const $ = (i: number) => `$${PUT_ARGS + i}`

/**
 * PUT_SQL plus the batch's notifications, in the same statement and so the same transaction:
 * PostgreSQL delivers them at commit, and only if it commits. Only events the batch stored
 * (outcome 0) go out: message g is head || (stored events of group g joined by ",") || tail,
 * and each piece of a big event goes out when its event is stored. The count forces the CTE
 * `n`. Its own parameters (noticeParams, then this process's bus origin) follow PUT_SQL's.
 */
const PUT_NOTIFY_SQL =
  `WITH r AS MATERIALIZED (SELECT pos, outcome FROM ${PUT_CALL}), ` +
  // By position in the arrays, not a join with their unnest: PostgreSQL's cached generic plan for
  // this statement (it knows no array sizes) joined the two by a nested loop over the CTE,
  // quadratic in the batch (notify ~16 us an event at batches of 200, ~3 without; pg-breakdown.ts).
  `n AS (SELECT pg_notify(${$(1)}::text, ${$(2)}::text || string_agg((${JSONS_PARAM}::text[])[r.pos], ',' ORDER BY r.pos) || ${$(3)}::text) ` +
  `FROM r WHERE r.outcome = 0 AND (${$(4)}::integer[])[r.pos] >= 0 GROUP BY (${$(4)}::integer[])[r.pos] ` +
  `UNION ALL SELECT pg_notify(${$(1)}::text, c.payload) FROM r JOIN unnest(${$(5)}::text[], ${$(6)}::integer[]) AS c(payload, pos) ON c.pos = r.pos ` +
  `WHERE r.outcome = 0), ` +
  `o AS MATERIALIZED (SELECT parrhesia_bus_others(${$(7)}::text) AS others) ` +
  `SELECT r.pos, r.outcome, o.others FROM r CROSS JOIN (SELECT count(*) FROM n) AS sent CROSS JOIN o`

/**
 * PUT_SQL for a process that is the only one listening to the cluster bus (migration 0010): no
 * notifications, and an error instead of a commit if another listener has appeared since (the
 * writer then sends the batch again with them). Its one parameter after PUT_SQL's is this
 * process's bus origin.
 */
const PUT_QUIET_SQL = `WITH g AS MATERIALIZED (SELECT parrhesia_bus_alone(${$(1)}::text) AS alone) SELECT p.pos, p.outcome FROM g CROSS JOIN LATERAL ${PUT_CALL} AS p`

/** The quiet statement found another listener (parrhesia_bus_alone's error). */
const othersListen = (e: unknown): boolean => describeError(e).includes("parrhesia_bus_others_listen")

/**
 * The notifications a batch sends with its commit (the PostgreSQL ClusterBus makes them):
 * for the events of the batch, in its order, whole messages by group and pieces of big events.
 */
export interface BatchNotice {
  readonly channel: string
  /** Message g = head + the stored events of group g joined by "," + tail. */
  readonly head: string
  readonly tail: string
  /** Per event (their JSON texts are PUT_SQL's own $13): its group (-1: it goes in pieces). */
  readonly groups: ReadonlyArray<number>
  /** Whole payloads, each sent when the event at its position (1-based, in piecePos) is stored. */
  readonly pieces: ReadonlyArray<string>
  readonly piecePos: ReadonlyArray<number>
}

export interface BatchNotifier {
  /** This process's bus origin: its listener connects as application_name `parrhesia-bus <origin>`. */
  readonly origin: string
  readonly notice: (events: ReadonlyArray<NostrEvent>) => BatchNotice
}

const noticeParams = (n: BatchNotice): ReadonlyArray<unknown> => [
  n.channel,
  n.head,
  n.tail,
  int4Array(n.groups),
  textArray(n.pieces),
  int4Array(n.piecePos)
]

/** The 13 array parameters of parrhesia_put_events for distinct events. */
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
  const jsons = new Array<string>(n)
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
    jsons[i] = eventJson(e)
    let seen: Set<string> | undefined
    for (const t of e.tags) {
      if (t.length < 2 || t[0]!.length !== 1) continue
      const name = t[0]!
      const value = t[1]!
      if (!indexableTagValue(value)) continue
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
    textArray(tagValues),
    textArray(jsons)
  ]
}

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

interface PutRow {
  readonly pos: number
  readonly outcome: number
  /** Notifying statements only: whether another process listens to the bus. */
  readonly others?: boolean
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
  /** Batches stored without notifications (no other process listened to the cluster bus). */
  quietBatches: number
  /** Quiet statements that found another listener had appeared (sent again with notifications). */
  quietRefused: number
}

/** What the writer needs: the ingest pool and its settings (already bounded by the assembly). */
export interface WriterDeps {
  readonly ingest: PgClient
  /** Events per batch, at least 1. */
  readonly batchSize: number
  /** How long a worker waits for more after the first event of a batch, at least 0. */
  readonly waitMs: number
  /** Workers writing batches concurrently (normally the ingest pool size). */
  readonly writers: number
  /** Deadline of one batch write (and of draining the queue at shutdown). */
  readonly writeTimeoutMs: number
}

export interface Writer {
  readonly put: (event: NostrEvent) => Effect.Effect<PutOutcome, StoreError>
  readonly stats: WriterStats
  readonly setBatchNotifier: (notifier: BatchNotifier | undefined) => void
}

/** Starts the workers for the scope; closing it drains the queue (up to writeTimeoutMs), then stops them. */
export const makeWriter = Effect.fnUntraced(function* (deps: WriterDeps): Effect.fn.Return<Writer, never, Scope.Scope> {
  const { ingest, batchSize, waitMs, writers, writeTimeoutMs } = deps
  const stats: WriterStats = { batches: 0, batchedEvents: 0, fallbacks: 0, failedEvents: 0, quietBatches: 0, quietRefused: 0 }

  const queue = yield* Queue.bounded<PendingPut, Cause.Done>(Math.max(1024, batchSize * 32))

  let batchNotifier: BatchNotifier | undefined

  /**
   * Whether another process listens to the cluster bus, as the last notifying statement found
   * (parrhesia_bus_others); until one says not, yes. While not, batches go without notifications.
   */
  let othersListening = true

  const statement = (events: ReadonlyArray<NostrEvent>): Effect.Effect<ReadonlyArray<PutRow>, unknown> => {
    const notifier = batchNotifier
    let params: ReadonlyArray<unknown>
    try {
      params = putParams(events)
    } catch (e) {
      return Effect.fail(e)
    }
    if (notifier === undefined) return ingest.unsafe<PutRow>(PUT_SQL, params)
    const notifying = Effect.suspend(() => {
      let all: ReadonlyArray<unknown>
      try {
        all = [...params, ...noticeParams(notifier.notice(events)), notifier.origin]
      } catch (e) {
        return Effect.fail(e)
      }
      return Effect.map(ingest.unsafe<PutRow>(PUT_NOTIFY_SQL, all), (rows) => {
        othersListening = rows[0]?.others ?? true
        return rows
      })
    })
    if (othersListening) return notifying
    return ingest.unsafe<PutRow>(PUT_QUIET_SQL, [...params, notifier.origin]).pipe(
      Effect.tap(() => Effect.sync(() => void stats.quietBatches++)),
      // Somebody started listening: nothing of the quiet statement was kept; again, notifying.
      Effect.catchIf(othersListen, () => {
        stats.quietRefused++
        othersListening = true
        return notifying
      })
    )
  }

  const writeOnce = (events: ReadonlyArray<NostrEvent>) =>
    // One statement in autocommit is one transaction: a deadlock victim (a purge or partition drop
    // racing this batch) was wholly rolled back, notifications included, so it runs again.
    retryingDeadlocks(statement(events)).pipe(
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

  const workers = yield* Effect.forEach(Array.from({ length: Math.max(1, writers) }), () => Effect.forkDetach(worker))

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

  return {
    put,
    stats,
    setBatchNotifier: (n) => {
      batchNotifier = n
    }
  }
})
