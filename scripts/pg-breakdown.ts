/**
 * Where PostgreSQL's CPU goes when the relay stores events (issue 17, item 2), in µs per event:
 * the relay's own batch statement on one connection of a fresh embedded server (fsync on, as
 * production), with its parts taken away one at a time.
 *
 *   sh scripts/with-node.sh node scripts/pg-breakdown.ts [--batches 50,200] [--reps 3] [--variants abcdefg]
 *       [--dataset .bench/bench-events-20000.jsonl] [--plan-cache-mode force_custom_plan] [--explain]
 *
 * The statements and their parameters are the writer's own: the real group-commit writer
 * (src/storage/postgres/writer.ts, makeWriter) is run over the dataset against a recording
 * stand-in for its ingest pool, which keeps every (text, parameters) it sends; a batch notifier
 * built like the PostgreSQL cluster bus's gives the notifying form, and one answer "nobody else
 * listens" switches the writer to its quiet form. Batches are sorted by id as the writer sorts them.
 *
 * Variants (each on a fresh database cloned from one migrated, partitioned template):
 *   a  quiet statement (parrhesia_bus_alone + parrhesia_put_events): a relay alone on its database;
 *   b  notifying statement, with a connection named 'parrhesia-bus x' LISTENing and reading (in a
 *      worker thread of this script, as another process would), so the notifications are really
 *      delivered (its backend is counted apart: "listener");
 *   c  a, without the generated search_vector column and its GIN index (dropped in that database);
 *   d  a, with empty tag arrays (no event_tags rows);
 *   e  a, with SET synchronous_commit = off on the connection (no wait for the WAL flush);
 *   f  a plain INSERT ... SELECT FROM unnest(same arrays) into an unindexed, unpartitioned scratch
 *      table with the same columns (tags as jsonb): the floor;
 *   g  (extra) PUT_SQL alone, what the writer sends without a batch notifier (no cluster bus over
 *      PostgreSQL): a − g is the quiet statement's bus guard (parrhesia_bus_alone).
 * Rounds alternate (a b c d e f g for each batch size, then again), `--reps` rounds. With two
 * batch sizes, each variant's CPU is also split into a fixed cost per statement and a cost per
 * event (the line through the two medians).
 *
 * Measured: CPU of the writing backend (utime+stime from /proc/<pid>/stat, schedstat as a finer
 * cross-check), of the listener's backend, and of every other process of the server (postmaster,
 * walwriter, checkpointer, background writer, autovacuum, ..., exited children through the
 * postmaster's cutime), over the window from the first measured batch to the last one's answer
 * (+300 ms for the WAL writer's delay); wall time of the window; and, apart, the CPU of the
 * CHECKPOINT run after the window (the dirty pages the run left, written later in production).
 * The first ~1000 events of each run warm the connection up (plans, caches) and are not counted.
 *
 * Prints a table and writes .bench/pg-breakdown-<date>.json. Diagnostics: `--explain` prints the
 * plans of the quiet and notifying statements instead (EXPLAIN ANALYZE of one batch after a warm-up,
 * planned for its values, and the generic plan PostgreSQL caches for a prepared statement, which
 * knows no array sizes); `--plan-cache-mode force_custom_plan` (or force_generic_plan) sets
 * plan_cache_mode on the writing connection of every variant (the relay leaves it at auto). Each
 * run also reports how often PostgreSQL used a generic and a custom plan for the statement
 * (pg_prepared_statements: the client prepares it, PostgreSQL goes generic after 5 runs if that
 * looks no dearer).
 */
import { randomBytes } from "node:crypto"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { execSync } from "node:child_process"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads"
import { Effect, Queue, Redacted } from "effect"
import type { Scope } from "effect"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import { defaults } from "../src/config/RelayConfig.ts"
import type { NostrEvent } from "../src/nostr/index.ts"
import { startEmbedded, type EmbeddedServer } from "../src/storage/postgres/EmbeddedPostgres.ts"
import { runMigrations } from "../src/storage/postgres/Migrator.ts"
import { ensurePartitions } from "../src/storage/postgres/layer.ts"
import { batchNotifier, CHANNEL } from "../src/storage/postgres/PostgresClusterBus.ts"
import { int4Array, textArray } from "../src/storage/postgres/sql.ts"
import { makeWriter, PUT_SQL, putParams } from "../src/storage/postgres/writer.ts"

// ------------------------------------------------------------------ options

const argv = process.argv.slice(2)
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt
}
const root = join(import.meta.dirname, "..")
const datasetFile = opt("dataset", join(root, ".bench", "bench-events-20000.jsonl"))
const batchSizes = opt("batches", "50,200").split(",").map(Number)
const reps = Number(opt("reps", "3"))
const VARIANTS = ["a", "b", "c", "d", "e", "f", "g"] as const
type Variant = (typeof VARIANTS)[number]
const variants = VARIANTS.filter((v) => opt("variants", "abcdefg").includes(v))
const WARMUP_EVENTS = 1000
/** Diagnostic: plan_cache_mode of the writing connection (PostgreSQL's default: auto). */
const planCacheMode = opt("plan-cache-mode", "")
const ORIGIN = "bench"
const LISTENER_NAME = "parrhesia-bus x"
const DESCRIPTION: Record<Variant, string> = {
  a: "quiet statement (relay alone)",
  b: "notifying, 1 listener",
  c: "a without search_vector+GIN",
  d: "a without tag rows",
  e: "a, synchronous_commit off",
  f: "bare INSERT, scratch table",
  g: "PUT_SQL alone (no bus guard)"
}

// ------------------------------------------------------------------ dataset

const loadEvents = (file: string): ReadonlyArray<NostrEvent> => {
  if (!existsSync(file)) throw new Error(`${file} is missing: run the ingest benchmark once (it caches the signed dataset there)`)
  const out: Array<NostrEvent> = []
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line === "") continue
    const x = JSON.parse(line) as NostrEvent | { keys: unknown }
    if ("id" in x) out.push(x) // the first line holds the authors' keys
  }
  return out
}

// ------------------------------------------------------------------ the writer's statements

interface Call {
  readonly text: string
  readonly params: ReadonlyArray<unknown>
  readonly events: number
}

/** The notice the PostgreSQL cluster bus gives the writer (PostgresClusterBus.ts, setBatchNotifier). */
const notifier = batchNotifier(ORIGIN)

/**
 * Runs the real writer over `events` in batches of `size` against a recording stand-in for the
 * ingest pool: the (text, parameters) it sends, batch by batch. "quiet": the stand-in's first answer
 * says nobody else listens (that priming batch is dropped), so the writer sends its quiet form.
 * "plain": no batch notifier, PUT_SQL itself.
 */
const writerCalls = (events: ReadonlyArray<NostrEvent>, size: number, mode: "notify" | "quiet" | "plain") =>
  Effect.scoped(
    Effect.gen(function* () {
      const calls: Array<Call> = []
      let pending = 0
      const ingest = {
        unsafe: (text: string, params: ReadonlyArray<unknown>) =>
          Effect.sync(() => {
            calls.push({ text, params, events: pending })
            return Array.from({ length: pending }, (_, i) => ({ pos: i + 1, outcome: 0, others: mode === "notify" }))
          })
      } as unknown as PgClient.PgClient
      const writer = yield* makeWriter({ ingest, batchSize: size, waitMs: 2, writers: 1, writeTimeoutMs: 30_000 })
      if (mode !== "plain") writer.setBatchNotifier(notifier)
      const chunks: Array<ReadonlyArray<NostrEvent>> = []
      for (let i = 0; i < events.length; i += size) chunks.push(events.slice(i, i + size))
      if (mode === "quiet") {
        pending = chunks[0]!.length
        yield* Effect.forEach(chunks[0]!, writer.put, { concurrency: "unbounded", discard: true })
        calls.length = 0
      }
      for (const chunk of chunks) {
        pending = chunk.length
        const before = calls.length
        yield* Effect.forEach(chunk, writer.put, { concurrency: "unbounded", discard: true })
        if (calls.length !== before + 1) throw new Error(`the writer split a batch of ${chunk.length} into ${calls.length - before} statements`)
      }
      const kinds = new Set(calls.map((c) => c.text))
      if (kinds.size !== 1) throw new Error(`expected one statement text in ${mode} mode, saw ${kinds.size}`)
      const text = calls[0]!.text
      const expected = mode === "quiet" ? text.includes("parrhesia_bus_alone") : mode === "notify" ? text.includes("pg_notify") : text === PUT_SQL
      if (!expected) throw new Error(`not the ${mode} statement: ${text}`)
      // The parameters are putParams of the batch, sorted by id as the writer sorts it.
      const first = [...chunks[0]!].sort((x, y) => (x.id < y.id ? -1 : 1))
      const json = (x: unknown) => JSON.stringify(x, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v))
      if (json(calls[0]!.params.slice(0, 13)) !== json(putParams(first))) throw new Error("the writer's parameters are not putParams of the batch")
      return calls
    })
  )

/** Variant d: the same statement with no tag rows ($10..$12 empty). */
const withoutTags = (c: Call): Call => {
  const params = [...c.params]
  params[9] = int4Array([])
  params[10] = textArray([])
  params[11] = textArray([])
  return { ...c, params }
}

/** Variant f: the same arrays into a scratch table without indexes. */
const SCRATCH_DDL =
  "CREATE TABLE scratch (id bytea NOT NULL, pubkey bytea NOT NULL, created_at bigint NOT NULL, kind integer NOT NULL, tags jsonb NOT NULL, " +
  "content text NOT NULL, sig bytea NOT NULL, d_tag text, expires_at bigint, event_json text)"
const SCRATCH_SQL =
  "INSERT INTO scratch (id, pubkey, created_at, kind, tags, content, sig, d_tag, expires_at, event_json) " +
  "SELECT t.id, t.pubkey, t.created_at, t.kind, t.tags::jsonb, t.content, t.sig, t.d_tag, t.expires_at, t.j " +
  "FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::bigint[]::integer[], $5::text[], $6::text[], $7::bytea[], $8::text[], $9::bigint[], $10::text[]) " +
  "AS t(id, pubkey, created_at, kind, tags, content, sig, d_tag, expires_at, j)"
const scratchCall = (c: Call): Call => ({ text: SCRATCH_SQL, params: [...c.params.slice(0, 9), c.params[12]], events: c.events })

// ------------------------------------------------------------------ CPU from /proc

const TICK_US = 1e6 / Number(execSync("getconf CLK_TCK").toString().trim() || "100")

interface ProcCpu {
  /** utime+stime, µs (clock-tick resolution). */
  readonly ticksUs: number
  /** schedstat run time, µs (ns resolution). */
  readonly schedUs: number
  readonly role: string
}

const readCpu = (pid: number): (ProcCpu & { ppid: number; childrenUs: number }) | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const sched = readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim()
    const role = cmd.startsWith("postgres: ") ? cmd.slice(10).replace(/ \d+\.\d+\.\d+\.\d+\(\d+\).*$/, "").replace(/^postgres /, "backend ") : "postmaster"
    return {
      ppid: Number(f[1]),
      ticksUs: (Number(f[11]) + Number(f[12])) * TICK_US,
      childrenUs: (Number(f[13]) + Number(f[14])) * TICK_US,
      schedUs: Number(sched[0]) / 1000,
      role
    }
  } catch {
    return undefined
  }
}

interface ServerSnapshot {
  readonly procs: Map<number, ProcCpu>
  /** The postmaster's cutime+cstime: CPU of its children that exited and were reaped. */
  readonly reapedUs: number
}

const snapshot = (postmaster: number): ServerSnapshot => {
  const procs = new Map<number, ProcCpu>()
  let reapedUs = 0
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue
    const pid = Number(d)
    const c = readCpu(pid)
    if (c === undefined) continue
    if (pid === postmaster) {
      procs.set(pid, { ticksUs: c.ticksUs, schedUs: c.schedUs, role: "postmaster" })
      reapedUs = c.childrenUs
    } else if (c.ppid === postmaster) procs.set(pid, { ticksUs: c.ticksUs, schedUs: c.schedUs, role: c.role })
  }
  return { procs, reapedUs }
}

interface Delta {
  ticksUs: number
  schedUs: number
}

/** CPU between two snapshots: of `pid`, and of all the server's processes (exited ones included). */
const deltaOf = (a: ServerSnapshot, b: ServerSnapshot, pid: number): Delta => ({
  ticksUs: (b.procs.get(pid)?.ticksUs ?? 0) - (a.procs.get(pid)?.ticksUs ?? 0),
  schedUs: (b.procs.get(pid)?.schedUs ?? 0) - (a.procs.get(pid)?.schedUs ?? 0)
})
const serverDelta = (a: ServerSnapshot, b: ServerSnapshot): Delta & { byRole: Record<string, number> } => {
  let ticksUs = b.reapedUs - a.reapedUs
  let schedUs = ticksUs
  const byRole: Record<string, number> = {}
  const add = (role: string, us: number) => (byRole[role] = (byRole[role] ?? 0) + us)
  if (ticksUs > 0) add("exited children", ticksUs)
  for (const [pid, p] of b.procs) {
    const q = a.procs.get(pid)
    ticksUs += p.ticksUs - (q?.ticksUs ?? 0)
    schedUs += p.schedUs - (q?.schedUs ?? 0)
    add(p.role, p.ticksUs - (q?.ticksUs ?? 0))
  }
  // Exited since `a`: their whole lifetime is in the postmaster's cutime; what `a` saw was before the window.
  for (const [pid, q] of a.procs) {
    if (!b.procs.has(pid)) {
      ticksUs -= q.ticksUs
      schedUs -= q.ticksUs
    }
  }
  return { ticksUs, schedUs, byRole }
}

// ------------------------------------------------------------------ one run

interface RunResult {
  readonly variant: Variant
  readonly batch: number
  readonly rep: number
  readonly events: number
  /** µs per measured event. */
  readonly backend: number
  readonly listener: number
  readonly background: number
  readonly total: number
  readonly wall: number
  readonly checkpoint: number
  readonly backendSched: number
  readonly totalSched: number
  readonly backgroundByRole: Record<string, number>
  readonly notifications: number
  readonly load1: number
  /** The writing backend's pid (to match a profile). */
  readonly pid: number
  /** Runs of the statement (warm-up included) with a generic / a custom plan (pg_prepared_statements). */
  readonly genericPlans: number
  readonly customPlans: number
}

const sleep = (ms: number) => Effect.promise(() => new Promise<void>((r) => setTimeout(r, ms)))
const dbUrl = (server: EmbeddedServer, db: string) => {
  const u = new URL(server.url)
  u.pathname = `/${db}`
  return u.toString()
}
const connect = (url: string, applicationName: string): Effect.Effect<PgClient.PgClient, unknown, Scope.Scope> =>
  PgClient.makeClient({
    url: Redacted.make(url),
    applicationName,
    // The relay's ingest pool's session (layer.ts).
    startupParameters: { statement_timeout: "30000", timezone: "UTC" }
  }).pipe(Effect.provide(Reactivity.layer))

const TEMPLATE = "pgb_template"

/**
 * The listening process of variant b: a worker thread running this file, LISTENing on the bus
 * channel as 'parrhesia-bus x' and taking every notification off its queue; answers "count".
 */
const listenerThread = (url: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const client = yield* connect(url, LISTENER_NAME)
      const queue = yield* client.listen(CHANNEL)
      let n = 0
      parentPort!.on("message", (m) => (m === "count" ? parentPort!.postMessage({ count: n }) : undefined))
      parentPort!.postMessage({ ready: true })
      return yield* Effect.forever(Effect.map(Queue.take(queue), () => void n++))
    })
  )

const startListener = (url: string): Promise<Worker> =>
  new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { listen: url } })
    w.once("message", () => resolve(w))
    w.once("error", reject)
  })

const heard = (w: Worker): Promise<number> =>
  new Promise((resolve) => {
    w.once("message", (m: { count: number }) => resolve(m.count))
    w.postMessage("count")
  })

const oneRun = (
  server: EmbeddedServer,
  admin: PgClient.PgClient,
  variant: Variant,
  batch: number,
  rep: number,
  calls: ReadonlyArray<Call>
): Effect.Effect<RunResult, unknown> =>
  Effect.scoped(
    Effect.gen(function* () {
      const postmaster = server.pid()
      if (postmaster === undefined) throw new Error("the embedded server is not running")
      const db = `pgb_${variant}_${batch}_${rep}_${randomBytes(3).toString("hex")}`
      yield* admin.unsafe(`CREATE DATABASE "${db}" TEMPLATE ${TEMPLATE}`)
      yield* Effect.addFinalizer(() => Effect.ignore(admin.unsafe(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`)))
      const url = dbUrl(server, db)
      const sql = yield* connect(url, "parrhesia-ingest")
      const pid = (yield* sql.unsafe<{ pid: number }>("SELECT pg_backend_pid() AS pid"))[0]!.pid
      if (variant === "c") {
        yield* sql.unsafe("ALTER TABLE events DROP COLUMN search_vector")
        const left = yield* sql.unsafe<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_attribute WHERE attname = 'search_vector' AND NOT attisdropped"
        )
        if (left[0]!.n !== 0) throw new Error("search_vector is still there (partitions?)")
      }
      if (variant === "e") yield* sql.unsafe("SET synchronous_commit = off")
      if (planCacheMode !== "") yield* sql.unsafe(`SET plan_cache_mode = ${planCacheMode}`)
      if (variant === "f") yield* sql.unsafe(SCRATCH_DDL)
      let listenerPid = -1
      let listenerWorker: Worker | undefined
      if (variant === "b") {
        listenerWorker = yield* Effect.acquireRelease(
          Effect.promise(() => startListener(url)),
          (w) => Effect.promise(() => w.terminate())
        )
        const rows = yield* sql.unsafe<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()", [LISTENER_NAME])
        if (rows.length !== 1) throw new Error(`expected one listener, found ${rows.length}`)
        listenerPid = rows[0]!.pid
      }
      const send = (c: Call) => sql.unsafe(c.text, c.params as Array<unknown>)
      const warm = Math.ceil(WARMUP_EVENTS / batch)
      for (let i = 0; i < warm; i++) yield* send(calls[i]!)
      const measured = calls.slice(warm)
      const events = measured.reduce((n, c) => n + c.events, 0)
      // Start from a clean slate: the clone's and warm-up's dirty pages written, the background quiet.
      yield* admin.unsafe("CHECKPOINT")
      yield* sleep(300)
      const load1 = loadavg()[0]!
      const s0 = snapshot(postmaster)
      const t0 = performance.now()
      for (const c of measured) yield* send(c)
      const t1 = performance.now()
      const s1 = snapshot(postmaster)
      // The WAL writer's delay (200 ms): what it does for these commits (synchronous_commit off) lands in the window.
      yield* sleep(300)
      const s2 = snapshot(postmaster)

      yield* admin.unsafe("CHECKPOINT")
      const s3 = snapshot(postmaster)
      const backend = deltaOf(s0, s1, pid)
      const listener = listenerPid > 0 ? deltaOf(s0, s2, listenerPid) : { ticksUs: 0, schedUs: 0 }
      const all = serverDelta(s0, s2)
      // The writer's backend after the window (the sleep) is idle; count it to s1 only.
      const idleAfter = deltaOf(s1, s2, pid)
      const backgroundTicks = all.ticksUs - backend.ticksUs - idleAfter.ticksUs - listener.ticksUs
      const backgroundSched = all.schedUs - backend.schedUs - idleAfter.schedUs - listener.schedUs
      const byRole: Record<string, number> = {}
      for (const [role, us] of Object.entries(all.byRole)) {
        if (role.startsWith("backend ") && role.includes(db)) continue
        if (us > 0) byRole[role] = us / events
      }
      const notifications = listenerWorker === undefined ? 0 : yield* Effect.promise(() => heard(listenerWorker!))
      const plansUsed = (yield* sql.unsafe<{ generic: number; custom: number }>(
        "SELECT coalesce(sum(generic_plans), 0)::int AS generic, coalesce(sum(custom_plans), 0)::int AS custom FROM pg_prepared_statements " +
          "WHERE statement LIKE '%parrhesia_put_events%' OR statement LIKE '%INSERT INTO scratch%'"
      ))[0]!
      if (variant === "b" && notifications === 0) throw new Error("the listener heard nothing")
      const per = (us: number) => us / events
      return {
        variant,
        batch,
        rep,
        events,
        backend: per(backend.ticksUs),
        listener: per(listener.ticksUs),
        background: per(backgroundTicks),
        total: per(backend.ticksUs + listener.ticksUs + backgroundTicks),
        wall: ((t1 - t0) * 1000) / events,
        checkpoint: per(serverDelta(s2, s3).ticksUs),
        backendSched: per(backend.schedUs),
        totalSched: per(backend.schedUs + listener.schedUs + backgroundSched),
        backgroundByRole: byRole,
        notifications,
        load1,
        pid,
        genericPlans: plansUsed.generic,
        customPlans: plansUsed.custom
      }
    })
  )

// ------------------------------------------------------------------ statistics and output

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const stat = (xs: ReadonlyArray<number>) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), values: xs })
const f1 = (x: number) => x.toFixed(1)
const cell = (xs: ReadonlyArray<number>) => `${f1(median(xs))} [${f1(Math.min(...xs))}–${f1(Math.max(...xs))}]`

// ------------------------------------------------------------------ main

const main = Effect.gen(function* () {
  const started = Date.now()
  const uptimeStart = execSync("uptime").toString().trim()
  console.log(`uptime at start: ${uptimeStart}`)
  const events = loadEvents(datasetFile)
  console.log(
    `${events.length} events from ${datasetFile}; batches ${batchSizes.join(", ")}; variants ${variants.join(" ")}; ${reps} rounds` +
      (planCacheMode === "" ? "" : `; plan_cache_mode ${planCacheMode}`)
  )

  // The writer's statements for every batch size and form.
  const plans = new Map<number, Record<Variant, ReadonlyArray<Call>>>()
  for (const size of batchSizes) {
    const quiet = yield* writerCalls(events, size, "quiet")
    const notify = yield* writerCalls(events, size, "notify")
    const plain = yield* writerCalls(events, size, "plain")
    plans.set(size, { a: quiet, b: notify, c: quiet, d: quiet.map(withoutTags), e: quiet, f: quiet.map(scratchCall), g: plain })
  }
  const quietText = plans.get(batchSizes[0]!)!.a[0]!.text
  const notifyText = plans.get(batchSizes[0]!)!.b[0]!.text

  const dir = mkdtempSync(join(tmpdir(), "parrhesia-pg-breakdown-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const server = yield* Effect.acquireRelease(
    Effect.promise(() => startEmbedded({ dataDir: dir, port: 0, database: "postgres", warn: () => {} })),
    (s) => Effect.promise(() => s.stop().catch(() => undefined))
  )
  const admin = yield* connect(server.url, "pg-breakdown-admin")
  const settings = Object.fromEntries(
    (yield* admin.unsafe<{ name: string; setting: string }>(
      "SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers', 'wal_level', 'full_page_writes', 'max_wal_size', 'checkpoint_timeout', 'wal_writer_delay', 'jit', 'notify_buffers', 'gin_pending_list_limit', 'max_connections')"
    )).map((r) => [r.name, r.setting])
  )
  console.log(`PostgreSQL ${settings.server_version}: fsync ${settings.fsync}, synchronous_commit ${settings.synchronous_commit}, wal_sync_method ${settings.wal_sync_method}, jit ${settings.jit}`)

  // One migrated, partitioned database (what the relay makes at start), cloned for every run.
  yield* admin.unsafe(`CREATE DATABASE ${TEMPLATE}`)
  yield* Effect.scoped(
    Effect.gen(function* () {
      const t = yield* connect(dbUrl(server, TEMPLATE), "pg-breakdown-migrate")
      yield* runMigrations(t)
      yield* ensurePartitions(t, defaults().partitionMonths)
      const parts = yield* t.unsafe<{ n: number }>("SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'events'::regclass")
      console.log(`template: migrations applied, events has ${parts[0]!.n} partitions`)
    })
  )

  if (argv.includes("--explain")) {
    // The plans of the quiet and notifying statements, as run (EXPLAIN ANALYZE), after a warm-up, per batch size.
    for (const size of batchSizes) {
      for (const v of ["a", "b"] as const) {
        yield* Effect.scoped(
          Effect.gen(function* () {
            const db = `pgb_explain_${v}_${size}`
            yield* admin.unsafe(`CREATE DATABASE "${db}" TEMPLATE ${TEMPLATE}`)
            yield* Effect.addFinalizer(() => Effect.ignore(admin.unsafe(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`)))
            const sql = yield* connect(dbUrl(server, db), "parrhesia-ingest")
            if (v === "b") yield* Effect.acquireRelease(Effect.promise(() => startListener(dbUrl(server, db))), (w) => Effect.promise(() => w.terminate()))
            const calls = plans.get(size)![v]
            for (let i = 0; i < 20; i++) yield* sql.unsafe(calls[i]!.text, calls[i]!.params as Array<unknown>)
            // The writer's statement is a named prepared statement: after 5 runs PostgreSQL may plan it generically
            // (plan_cache_mode auto), without the arrays' sizes. Both: the plan for this batch's values, run
            // (EXPLAIN ANALYZE), and the generic plan (a PREPAREd copy, force_generic_plan, not run).
            const c = calls[20]!
            const custom = yield* sql.unsafe<{ "QUERY PLAN": string }>(`EXPLAIN (ANALYZE, BUFFERS OFF) ${c.text}`, c.params as Array<unknown>)
            // Each parameter's type: its first cast in the text.
            const types = c.params.map((_, i) => new RegExp(`\\$${i + 1}::([a-z0-9_]+(?:\\[\\])?)`).exec(c.text)![1]!)
            yield* sql.unsafe(`PREPARE pgb_stmt(${types.join(", ")}) AS ${c.text}`)
            yield* sql.unsafe("SET plan_cache_mode = force_generic_plan")
            const generic = yield* sql.unsafe<{ "QUERY PLAN": string }>(`EXPLAIN EXECUTE pgb_stmt(${types.map((t) => `NULL::${t}`).join(", ")})`)
            const lines = (rows: ReadonlyArray<{ "QUERY PLAN": string }>) => rows.map((r) => r["QUERY PLAN"]).filter((l) => !/^\s*Storage:/.test(l)).join("\n")
            console.log(`\nEXPLAIN ANALYZE, ${v} (${DESCRIPTION[v]}), batch of ${size}, planned for its values:\n${lines(custom)}`)
            console.log(`\nEXPLAIN, ${v}, generic plan (what a prepared statement may use after 5 runs):\n${lines(generic)}`)
          })
        )
      }
    }
    return
  }

  const results: Array<RunResult> = []
  for (let rep = 1; rep <= reps; rep++) {
    for (const size of batchSizes) {
      for (const v of variants) {
        const r = yield* oneRun(server, admin, v, size, rep, plans.get(size)![v])
        results.push(r)
        console.log(
          `round ${rep} batch ${String(size).padStart(3)} ${v}: backend ${f1(r.backend)} listener ${f1(r.listener)} background ${f1(r.background)} ` +
            `total ${f1(r.total)} µs/event; wall ${f1(r.wall)} µs/event; checkpoint after ${f1(r.checkpoint)}; load ${r.load1.toFixed(2)}; ` +
            `plans generic ${r.genericPlans} custom ${r.customPlans}; backend pid ${r.pid}` +
            (v === "b" ? `; ${r.notifications} notifications heard` : "")
        )
      }
    }
  }

  // ---------------------------------------------------------------- table
  const of = (size: number, v: Variant) => results.filter((r) => r.batch === size && r.variant === v).sort((x, y) => x.rep - y.rep)
  /** Per round differences x − y (rounds alternate, so each pair ran minutes apart at most). */
  const diff = (size: number, x: Variant, y: Variant, key: "backend" | "background" | "listener" | "total" | "wall") => {
    const xs = of(size, x)
    const ys = of(size, y)
    return xs.map((r, i) => r[key] - (ys[i]?.[key] ?? NaN)).filter((d) => !Number.isNaN(d))
  }
  const summary: Record<string, unknown> = {}
  for (const size of batchSizes) {
    console.log(`\nbatches of ${size}: µs per event, median [min–max] of ${reps} runs (${events.length - Math.ceil(WARMUP_EVENTS / size) * size} events each)`)
    console.log(
      `${"variant".padEnd(36)}${"backend".padEnd(19)}${"background".padEnd(19)}${"listener".padEnd(19)}${"total CPU".padEnd(19)}${"wall".padEnd(19)}checkpoint after`
    )
    const rows: Record<string, unknown> = {}
    for (const v of variants) {
      const rs = of(size, v)
      const col = (k: "backend" | "background" | "listener" | "total" | "wall" | "checkpoint") => rs.map((r) => r[k])
      console.log(
        `${`${v}  ${DESCRIPTION[v]}`.padEnd(36)}${cell(col("backend")).padEnd(19)}${cell(col("background")).padEnd(19)}${(v === "b" ? cell(col("listener")) : "–").padEnd(19)}` +
          `${cell(col("total")).padEnd(19)}${cell(col("wall")).padEnd(19)}${cell(col("checkpoint"))}`
      )
      rows[v] = {
        description: DESCRIPTION[v],
        backend: stat(col("backend")),
        background: stat(col("background")),
        listener: stat(col("listener")),
        total: stat(col("total")),
        wall: stat(col("wall")),
        checkpointAfter: stat(col("checkpoint")),
        backendSchedstat: stat(rs.map((r) => r.backendSched)),
        totalSchedstat: stat(rs.map((r) => r.totalSched)),
        backgroundByRole: rs.map((r) => r.backgroundByRole)
      }
    }
    const derived: Record<string, unknown> = {}
    const has = (...vs: ReadonlyArray<Variant>) => vs.every((v) => variants.includes(v))
    const show = (name: string, x: Variant, y: Variant | undefined, note: string) => {
      if (!has(x, ...(y === undefined ? [] : [y]))) return
      const pick = (k: "backend" | "background" | "listener" | "total" | "wall") => (y === undefined ? of(size, x).map((r) => r[k]) : diff(size, x, y, k))
      const d = { backend: pick("backend"), background: pick("background"), listener: pick("listener"), total: pick("total"), wall: pick("wall") }
      console.log(
        `${name.padEnd(36)}${cell(d.backend).padEnd(19)}${cell(d.background).padEnd(19)}${(x === "b" ? cell(d.listener) : "–").padEnd(19)}${cell(d.total).padEnd(19)}${cell(d.wall).padEnd(19)}${note}`
      )
      derived[name] = { backend: stat(d.backend), background: stat(d.background), listener: stat(d.listener), total: stat(d.total), wall: stat(d.wall), note }
    }
    console.log(`derived (per round differences)`)
    show("notify            = b − a", "b", "a", "")
    show("search col + GIN  = a − c", "a", "c", "")
    show("tag rows          = a − d", "a", "d", "")
    show("commit flush wait = a − e", "a", "e", "")
    show("bus guard         = a − g", "a", "g", "parrhesia_bus_alone: pg_stat_activity")
    if (has("a", "c", "d")) {
      const base = (k: "backend" | "background" | "total" | "wall") => of(size, "c").map((r, i) => r[k] + (of(size, "d")[i]?.[k] ?? NaN) - (of(size, "a")[i]?.[k] ?? NaN))
      const d = { backend: base("backend"), background: base("background"), total: base("total"), wall: base("wall") }
      console.log(`${"statement base    = c + d − a".padEnd(36)}${cell(d.backend).padEnd(19)}${cell(d.background).padEnd(19)}${"–".padEnd(19)}${cell(d.total).padEnd(19)}${cell(d.wall).padEnd(19)}without search column and tags`)
      derived["statement base = c + d − a"] = { backend: stat(d.backend), background: stat(d.background), total: stat(d.total), wall: stat(d.wall) }
      if (has("f")) {
        const over = (k: "backend" | "background" | "total" | "wall") => d[k].map((x, i) => x - (of(size, "f")[i]?.[k] ?? NaN))
        const o = { backend: over("backend"), background: over("background"), total: over("total"), wall: over("wall") }
        console.log(`${"  of which above bare insert (− f)".padEnd(36)}${cell(o.backend).padEnd(19)}${cell(o.background).padEnd(19)}${"–".padEnd(19)}${cell(o.total).padEnd(19)}${cell(o.wall).padEnd(19)}ids, checks, events indexes, partitions, plpgsql`)
        derived["statement base above bare insert = c + d − a − f"] = { backend: stat(o.backend), background: stat(o.background), total: stat(o.total), wall: stat(o.wall) }
      }
    }
    summary[String(size)] = { variants: rows, derived }
  }
  const sizes = [...batchSizes].sort((x, y) => x - y)
  if (sizes.length >= 2) {
    const lo = sizes[0]!
    const hi = sizes[sizes.length - 1]!
    console.log(`\ntotal CPU split into a fixed cost per statement and a cost per event (medians at batches of ${lo} and ${hi})`)
    console.log(`${"variant".padEnd(36)}${"µs per statement".padEnd(19)}µs per event`)
    const split: Record<string, unknown> = {}
    for (const v of variants) {
      const m = (size: number) => median(of(size, v).map((r) => r.total))
      const perStatement = (m(lo) - m(hi)) / (1 / lo - 1 / hi)
      const perEvent = m(hi) - perStatement / hi
      console.log(`${`${v}  ${DESCRIPTION[v]}`.padEnd(36)}${perStatement.toFixed(0).padEnd(19)}${perEvent.toFixed(1)}`)
      split[v] = { perStatementUs: perStatement, perEventUs: perEvent }
    }
    console.log("(a straight line: meaningless for a variant whose cost per event grows with the batch, as b's may)")
    summary["fixed and per event"] = { batches: [lo, hi], ...split }
  }
  const uptimeEnd = execSync("uptime").toString().trim()
  const loads = results.map((r) => r.load1)
  console.log(`\nuptime at end: ${uptimeEnd}`)
  console.log(`1-minute load average at the runs' starts: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} (2 cores; CPU times per process are what counts, wall times suffer from load)`)
  console.log(`took ${((Date.now() - started) / 1000).toFixed(0)} s`)

  const bench = join(root, ".bench")
  mkdirSync(bench, { recursive: true })
  const out = join(bench, `pg-breakdown-${new Date().toISOString().slice(0, 16).replace(":", "-")}.json`)
  writeFileSync(
    out,
    JSON.stringify(
      {
        when: new Date().toISOString(),
        dataset: datasetFile,
        events: events.length,
        warmupEvents: WARMUP_EVENTS,
        batchSizes,
        reps,
        planCacheMode: planCacheMode === "" ? "auto (default)" : planCacheMode,
        variants: Object.fromEntries(variants.map((v) => [v, DESCRIPTION[v]])),
        unit: "µs of CPU (utime+stime; *Schedstat: /proc schedstat) or wall per measured event",
        postgres: settings,
        statements: { quiet: quietText, notify: notifyText, putSql: PUT_SQL, scratch: SCRATCH_SQL },
        uptime: { start: uptimeStart, end: uptimeEnd },
        summary,
        runs: results
      },
      null,
      2
    ) + "\n"
  )
  console.log(`wrote ${out}`)
})

const listenTo = (workerData as { listen?: string } | null)?.listen
if (isMainThread) await Effect.runPromise(Effect.orDie(Effect.scoped(main)))
else if (listenTo !== undefined) await Effect.runPromise(Effect.orDie(listenerThread(listenTo)))
