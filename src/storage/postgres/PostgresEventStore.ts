/**
 * The PostgreSQL EventStore (the production store). Same behaviour as the
 * memory adapter; schema and the batched write live in migrations/.
 *
 * This file assembles it from its parts, each given what it needs explicitly:
 * - writer.ts: the group-commit writer behind `put` (ingest pool), which also
 *   sends a batch's cluster notifications in its commit (`setBatchNotifier`);
 * - reads.ts: REQ, COUNT, HLL, negentropy, NIP-05 by domain (read pool, or the
 *   primary under FreshReads), the filters compiled by compile.ts;
 * - maintenance.ts: deletions, vanish, expiry and retention (admin pool);
 * - sql.ts (encoders, columns, row mappers) and errors.ts (StoreError texts,
 *   deadlines, retries), which the parts share.
 * Three pools: ingest (writer), read (REQ/COUNT), admin (deletions, purges,
 * maintenance).
 *
 * "Now" for NIP-40 comes from Effect's Clock when the call runs; internal
 * waits and deadlines always use the live clock, so a TestClock in the
 * caller's context cannot stall the writer or the time limits.
 */
import { Context, Effect } from "effect"
import type { Scope } from "effect"
import type { PgClient } from "@effect/sql-pg/PgClient"
import type { EventStoreShape, StoreError } from "../EventStore.ts"
import { makeMaintenance } from "./maintenance.ts"
import { makeReads } from "./reads.ts"
import { makeWriter, type BatchNotifier, type WriterStats } from "./writer.ts"

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

export const makePostgresEventStore = Effect.fnUntraced(function* (
  options: PostgresStoreOptions
): Effect.fn.Return<{ readonly store: EventStoreShape; readonly internals: PostgresStoreInternals }, never, Scope.Scope> {
  const { ingest, read, admin } = options
  const writeTimeoutMs = options.writeTimeoutMs ?? 30_000
  const writer = yield* makeWriter({
    ingest,
    batchSize: Math.max(1, options.writeBatchSize),
    waitMs: Math.max(0, options.writeBatchWaitMs),
    writers: options.writers,
    writeTimeoutMs
  })
  const reads = makeReads({
    read,
    primaryRead: options.primaryRead,
    // The server's statement_timeout (read pool) normally fires first; this also bounds waiting for a connection.
    readDeadlineMs: options.queryTimeoutMs + 250
  })
  if (options.warmReadConnections !== undefined && options.warmReadConnections > 0) yield* reads.warmReads(options.warmReadConnections)
  const maintenance = makeMaintenance({ admin, writeTimeoutMs })

  const store: EventStoreShape = {
    put: writer.put,
    query: reads.query,
    queryServed: reads.queryServed,
    count: reads.count,
    // The database's files (events, tags, indexes, the operator's lists): a stat per file, no scan.
    size: Effect.map(reads.readRaw<{ bytes: string }>("SELECT pg_database_size(current_database())::text AS bytes"), (rows) => Number(rows[0]?.bytes ?? 0)),
    countHll: reads.countHll,
    negentropyRecords: reads.negentropyRecords,
    authorsAtDomain: reads.authorsAtDomain,
    scan: reads.scan,
    storedIds: reads.storedIds,
    deleteByRequest: maintenance.deleteByRequest,
    vanish: maintenance.vanish,
    vanished: maintenance.vanished,
    purgeExpired: maintenance.purgeExpired,
    purgeByRetention: maintenance.purgeByRetention
  }
  const internals: PostgresStoreInternals = {
    stats: writer.stats,
    readRaw: (text, params) => reads.readRaw<object>(text, params ?? []),
    ingest,
    read,
    admin,
    setBatchNotifier: writer.setBatchNotifier
  }
  return { store, internals }
})
