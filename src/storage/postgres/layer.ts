/**
 * The one entry of the Postgres store: embedded-or-external server,
 * migrations, partitions, three pools, the group-commit writer — all scoped.
 * Closing the layer drains and stops the writer, closes the pools and stops
 * the embedded server. The embedded server is supervised (restarted when it
 * dies) and the store's health (StoreHealth: /ready, the fast refusals while
 * down) follows the supervisor and a probe through the pools.
 */
import { Context, Effect, Layer, Metric, Redacted, Schedule } from "effect"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import type { Settings } from "../../config/settings.ts"
import { RelayConfig } from "../../config/RelayConfig.ts"
import { replicaLagSeconds } from "../../observability/metrics.ts"
import { EventStore, StoreError } from "../EventStore.ts"
import { followPrimary, gated, StoreHealth, StoreHealthState, type ServerReport } from "../StoreHealth.ts"
import { embeddedPostgres } from "./EmbeddedPostgres.ts"
import { superviseEmbedded } from "./EmbeddedSupervisor.ts"
import { runMigrations } from "./Migrator.ts"
import { describeError, onLiveClock } from "./errors.ts"
import { makePostgresEventStore, PostgresStore } from "./PostgresEventStore.ts"
import { probeForever, rolledBackWrite } from "./StoreProbe.ts"

/** PostgreSQL connections one relay process may open: its three pools, the cluster bus, moderation and groups listeners, and slack for tools. */
export const connectionsPerProcess = (settings: Settings) =>
  settings.ingestPoolSize + settings.readPoolSize + settings.adminPoolSize + 3 + 5

/**
 * The embedded server of the settings for this scope, sized for `processes` relay processes (workers)
 * sharing it, and supervised: restarted with backoff when it dies, each state change given to `report`.
 */
export const embeddedFromSettings = (settings: Settings, processes = 1, report: (r: ServerReport) => void = () => {}) =>
  Effect.tap(
    embeddedPostgres({
      dataDir: settings.dataDir,
      port: settings.embeddedPgPort,
      warn: (m) => console.warn(`parrhesia: ${m}`),
      maxConnections: processes * connectionsPerProcess(settings)
    }),
    (server) => superviseEmbedded({ server, report, log: (m) => console.warn(`parrhesia: ${m}`) })
  )

/** Where to connect: an external URL (the server a primary supervises, with `workers`), or the embedded server started for this scope. */
const serverUrl = (settings: Settings, health: StoreHealthState) =>
  settings.databaseUrl !== ""
    ? Effect.as(Effect.acquireRelease(Effect.sync(() => followPrimary(health)), (stop) => Effect.sync(stop)), settings.databaseUrl)
    : Effect.map(
        embeddedFromSettings(settings, 1, (r) => health.reportServer(r)),
        (s) => s.url
      )

const pool = (url: string, name: string, maxConnections: number, statementTimeoutMs: number, keepOpen = false) =>
  PgClient.make({
    url: Redacted.make(url),
    maxConnections,
    applicationName: `parrhesia-${name}`,
    connectTimeout: "5 seconds",
    // keepOpen: every connection opened at start and never closed for idleness, so a REQ or EVENT after
    // a quiet spell does not wait for a new session (connect, authenticate, cold catalog caches, re-prepare).
    minConnections: keepOpen ? maxConnections : 0,
    idleTimeout: "5 minutes",
    startupParameters: { statement_timeout: String(statementTimeoutMs), timezone: "UTC" }
  }).pipe(
    Effect.provide(Reactivity.layer),
    Effect.mapError((e) => new StoreError({ message: `cannot open the ${name} pool: ${describeError(e)}`, cause: e }))
  )

/** Creates the partitions for the coming periods (idempotent). The layer runs it at start and every 6 hours. */
export const ensurePartitions = (admin: PgClient.PgClient, partitionMonths: number) =>
  admin
    .withTransaction(
      Effect.gen(function* () {
        // Processes starting together (workers, hosts) would race to create the same partition.
        yield* admin.unsafe(`SELECT pg_advisory_xact_lock(7335002)`)
        return yield* admin.unsafe<{ n: number }>(`SELECT parrhesia_ensure_partitions($1::integer, 3, 1) AS n`, [partitionMonths])
      })
    )
    .pipe(
      Effect.map((rows) => rows[0]?.n ?? 0),
      Effect.mapError((e) => new StoreError({ message: `partition maintenance failed: ${describeError(e)}`, cause: e }))
    )

const WRITE_TIMEOUT_MS = 30_000

/** Builds the store from settings; provides EventStore and the PostgresStore internals. */
export const makeFromSettings = (settings: Settings) =>
  Effect.gen(function* () {
    const health = new StoreHealthState()
    const url = yield* serverUrl(settings, health)
    const admin = yield* pool(url, "admin", settings.adminPoolSize, 0)
    const version = yield* admin.unsafe<{ v: string }>(`SELECT current_setting('server_version_num') AS v`).pipe(
      Effect.mapError(
        (e) => new StoreError({ message: `cannot connect to PostgreSQL at ${redactUrl(url)}: ${describeError(e)}`, cause: e })
      )
    )
    const num = Number(version[0]?.v ?? 0)
    if (num < 150000) {
      return yield* new StoreError({ message: `PostgreSQL 15 or newer is required, the server is ${num} (server_version_num)` })
    }
    yield* runMigrations(admin)
    yield* ensurePartitions(admin, settings.partitionMonths)
    const ingest = yield* pool(url, "ingest", settings.ingestPoolSize, WRITE_TIMEOUT_MS, true)
    // readDatabaseUrl: REQ/COUNT read from the replica; reads under FreshReads (see EventStore.ts) from a small primary pool.
    const replicaUrl = settings.readDatabaseUrl
    const read = yield* pool(replicaUrl !== "" ? replicaUrl : url, "read", settings.readPoolSize, settings.queryTimeoutMs, true)
    const primaryRead = replicaUrl !== "" ? yield* pool(url, "read-primary", Math.min(4, settings.readPoolSize), settings.queryTimeoutMs) : undefined
    if (replicaUrl !== "") {
      yield* checkReplica(read, replicaUrl)
      yield* Effect.forkScoped(onLiveClock(sampleReplicaLag(read).pipe(Effect.repeat(Schedule.spaced("5 seconds")))))
    }
    const made = yield* makePostgresEventStore({
      ingest,
      read,
      ...(primaryRead !== undefined ? { primaryRead } : {}),
      admin,
      writeBatchSize: settings.writeBatchSize,
      writeBatchWaitMs: settings.writeBatchWaitMs,
      writers: settings.ingestPoolSize,
      queryTimeoutMs: settings.queryTimeoutMs,
      writeTimeoutMs: WRITE_TIMEOUT_MS,
      warmReadConnections: settings.readPoolSize
    })
    yield* probeForever({
      pools: [
        { name: "ingest", client: ingest },
        { name: "read", client: read }
      ],
      health,
      timeoutMs: Math.min(2000, settings.queryTimeoutMs),
      writeProbe: rolledBackWrite(ingest)
    })
    // Periodic partition maintenance; failures are logged and retried at the next tick.
    yield* Effect.forkScoped(
      onLiveClock(
        ensurePartitions(admin, settings.partitionMonths).pipe(
          Effect.catch((e) => Effect.logWarning(e.message)),
          Effect.repeat(Schedule.spaced("6 hours")),
          Effect.delay("6 hours")
        )
      )
    )
    return { ...made, store: gated(made.store, health), health }
  })

/** The replica answers (clear StoreError naming it otherwise); one that is not in recovery is used, with a warning. */
const checkReplica = (read: PgClient.PgClient, replicaUrl: string) =>
  read.unsafe<{ standby: boolean }>(`SELECT pg_is_in_recovery() AS standby`).pipe(
    Effect.mapError(
      (e) =>
        new StoreError({
          message: `cannot connect to the read replica (setting readDatabaseUrl) at ${redactUrl(replicaUrl)}: ${describeError(e)}`,
          cause: e
        })
    ),
    Effect.map((rows) => {
      if (rows[0]?.standby !== true) {
        console.warn(`parrhesia: readDatabaseUrl ${redactUrl(replicaUrl)} is not a standby (pg_is_in_recovery() is false); REQ and COUNT read from it anyway`)
      }
    })
  )

/** Replica lag in seconds: 0 once it has replayed all WAL it received, else the age of the last replayed commit. */
const sampleReplicaLag = (read: PgClient.PgClient) =>
  read
    .unsafe<{ lag: number | null }>(
      `SELECT (CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
               ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END)::float8 AS lag`
    )
    .pipe(
      Effect.flatMap((rows) => Metric.update(replicaLagSeconds, Math.max(0, Number(rows[0]?.lag ?? 0)))),
      Effect.ignore
    )

const redactUrl = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@")

/** EventStore + PostgresStore internals from RelayConfig. */
export const layerWithInternals: Layer.Layer<EventStore | PostgresStore, StoreError, RelayConfig> = Layer.effectContext(
  Effect.gen(function* () {
    const settings = yield* RelayConfig
    const { store, internals, health } = yield* makeFromSettings(settings)
    return Context.make(EventStore, store).pipe(Context.add(PostgresStore, internals), Context.add(StoreHealth, health))
  })
)

/** The production store: Postgres (embedded unless databaseUrl / DATABASE_URL is set). */
export const layerFromConfig: Layer.Layer<EventStore, StoreError, RelayConfig> = layerWithInternals
