/**
 * CLI entry: `parrhesia serve` (the default) and `parrhesia help|version`.
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Exit, Layer } from "effect"
import { coreLayer, loggingLayer, relayLayer } from "./app.ts"
import { runAdmin } from "./client/admin.ts"
import { scanArgs } from "./client/args.ts"
import { runBackupCli } from "./client/backupCli.ts"
import { runBenchCli } from "./client/bench.ts"
import { runDoctorCli } from "./client/doctor.ts"
import { runExportCli } from "./client/exportCli.ts"
import { runImportCli } from "./client/importCli.ts"
import type { StoreToolWiring } from "./client/storeTool.ts"
import { runSyncCli } from "./client/syncCli.ts"
import { isWorker, onPrimaryStoreReport, reportListening, superviseWorkers, tellWorkers, workerSlot } from "./cluster/workers.ts"
import { ConfigError, loadSettings, RelayConfig, workerCount } from "./config/RelayConfig.ts"
import { envName, SETTINGS, type Settings } from "./config/settings.ts"
import { VERSION } from "./version.ts"
import { layerFromConfig as verifierFromConfig, layerUnchecked } from "./verify/SignatureVerifier.ts"
import { RelayServer } from "./relay/server.ts"
import { layerToolStores, storeFromConfig } from "./storage/layer.ts"
import { embeddedFromSettings } from "./storage/postgres/layer.ts"
import { findRunningEmbedded } from "./storage/postgres/runningEmbedded.ts"
import { reportFromPrimary, type ServerReport } from "./storage/StoreHealth.ts"

const USAGE = `parrhesia ${VERSION}: a Nostr relay

Usage:
  parrhesia [serve] [--host HOST] [--port PORT] [--config FILE]
  parrhesia admin <method> [params...] [--url URL]
  parrhesia sync <from-url> <to-url> [--filter JSON] [--both] [--auth-key HEX|nsec] [--method auto|negentropy|req] [--json]
  parrhesia backup <npub | hex> [--bootstrap URL ...] [--to URL] [--mentions] [--auth-key HEX|nsec] [--json]
  parrhesia doctor <url> [--json] [--auth-key HEX|nsec] [--timeout MS] [--rounds N]
  parrhesia bench <url> [<url>...] [--scenarios ingest,query,fanout,connections|all] [--events N] [--pid PID]
  parrhesia export [--filter JSON] [--out FILE] [--include-private] [--config FILE]
  parrhesia import [FILE | -] [--no-verify] [--concurrency N] [--json] [--config FILE]
  parrhesia help | version

admin: one NIP-86 management call (e.g. "banpubkey <hex> spam", "listbannedpubkeys",
"allowkind 1", "blockip 203.0.113.0/24"), signed with NIP-98 by the key in
PARRHESIA_ADMIN_SECRET_KEY (hex or nsec); URL from --url, else PARRHESIA_URL, else
http://127.0.0.1:7777. "parrhesia admin supportedmethods" lists the methods.

sync: copies what <to-url> lacks from <from-url> (both ways with --both), for
the filter (default: everything). Uses NIP-77 when both relays speak it, else
compares REQ results over time windows. AUTH key from --auth-key or
PARRHESIA_AUTH_KEY. Exit 0 in sync, 1 some events refused or not fetched,
2 usage, 3 a relay unreachable or broke the protocol.

backup: copies into --to (default: this relay, from the settings' relayUrl,
else host and port) every event the user wrote, from each write relay of
their newest relay list (kind 10002, NIP-65), and with --mentions the events
tagging them from their read relays; NIP-77 where a relay speaks it, else REQ
windows. The relay list is looked for on the --bootstrap relays (repeat the
option or separate with commas); no public relay is built in: without
--bootstrap, the destination and mirrorUpstreams. Progress per relay on
stderr, a table (relay, reachable, found, new, refused) on stdout. Exit codes
as sync's (3: some relay could not be reached; the others were copied).

doctor: checks a relay from outside (DNS, TCP, TLS, NIP-11 and CORS, whether
it can store (/ready), the WebSocket upgrade, a publish-and-read round trip,
AUTH, latency, and what
NIP-11 claims against what the relay does). Exit 0 all passed (warnings
allowed), 1 a check failed, 2 usage, 3 unreachable.

export / import: the store's events as JSON lines, one event a line (the
format of strfry export), oldest first; gzip/zstd by the name of --out and by
the first bytes of an imported file. Both work on the relay's own database,
with the relay running (its embedded PostgreSQL found from <dataDir>/pg) or
stopped. export leaves out private kinds (restrictedReadKinds) unless
--include-private. import puts each event through the relay's write checks
(source: Import) and its storage rules, prints a summary; exit 0 all stored
or already there, 1 some refused or malformed, 2 usage, 3 file or store
unusable; run again after an interruption, it goes on (duplicates).

Every setting can be set in the JSON config file (--config) and overridden by
an environment variable PARRHESIA_<SETTING> (e.g. PARRHESIA_PORT=7777,
PARRHESIA_STORE=memory). Settings:
${Object.entries(SETTINGS).map(([k, s]) => `  ${envName(k).padEnd(34)} ${s.doc}`).join("\n")}
`

interface Cli {
  readonly command: "serve" | "help" | "version"
  readonly file?: string
  readonly host?: string
  readonly port?: string
}

export const parseArgs = (argv: ReadonlyArray<string>): Cli => {
  let command: Cli["command"] | undefined
  const flags: { file?: string; host?: string; port?: string } = {}
  scanArgs(argv, (name, value) => {
    switch (name) {
      case "--host":
        flags.host = value()
        break
      case "--port":
        flags.port = value()
        break
      case "--config":
      case "-c":
        flags.file = value()
        break
      case "-h":
      case "--help":
        command = "help"
        break
      case "--version":
        command = "version"
        break
      default:
        if (name.startsWith("-")) throw new ConfigError({ message: `unknown option ${name} (see "parrhesia help")` })
        if (command !== undefined) throw new ConfigError({ message: `unexpected argument ${name}` })
        if (name !== "serve" && name !== "help" && name !== "version") {
          throw new ConfigError({ message: `unknown command ${name} (see "parrhesia help")` })
        }
        command = name
    }
  }, (name) => new ConfigError({ message: `${name} needs a value` }))
  return { command: command ?? "serve", ...flags }
}

const serve = (cli: Cli) =>
  Effect.gen(function* () {
    const settings = yield* loadSettings({
      file: cli.file,
      env: process.env,
      overrides: { host: cli.host, port: cli.port }
    })
    const workers = workerCount(settings)
    if (workers > 1 && !isWorker()) return yield* servePrimary(settings, workers)
    // The primary supervises the embedded PostgreSQL: its reports drive this worker's store health.
    if (isWorker()) onPrimaryStoreReport(reportFromPrimary)
    // Jobs that run once per relay, not once per worker: mirroring and the NIP-66 self-description.
    const own = workerSlot() === 0 ? settings : { ...settings, mirrorUpstreams: [], publishSelfDescription: false }
    const app = relayLayer({ store: storeFromConfig, verifier: verifierFromConfig }).pipe(
      Layer.provide(Layer.succeed(RelayConfig, RelayConfig.of(own)))
    )
    yield* Effect.gen(function* () {
      const server = yield* RelayServer
      // This line is the contract scripts and tests wait for; with workers the primary prints it.
      if (isWorker()) reportListening(server.url)
      else console.log(`parrhesia ${VERSION} listening on ${server.url} (store: ${settings.store})`)
      return yield* Effect.never
    }).pipe(Effect.provide(app))
  })

/**
 * `workers` > 1: this process only supervises; the embedded PostgreSQL, when it is the store, lives
 * here, restarted when it dies, and every change of its state is sent to the workers.
 */
const servePrimary = (settings: Settings, count: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const env: Record<string, string> = {}
      let store: ServerReport | undefined
      if (settings.databaseUrl === "") {
        const report = (r: ServerReport) => {
          store = r
          tellWorkers(r)
        }
        env[envName("databaseUrl")] = (yield* embeddedFromSettings(settings, count, report)).url
      }
      const { url } = yield* superviseWorkers({
        count,
        env,
        stopTimeoutMs: settings.shutdownGraceMs + 10_000,
        log: (m) => console.error(`parrhesia: ${m}`),
        greeting: () => (store !== undefined ? { parrhesia: "store", ...store } : undefined)
      })
      console.log(`parrhesia ${VERSION} listening on ${url} (store: ${settings.store}, workers: ${count})`)
      return yield* Effect.never
    })
  )

/**
 * export and import on the relay's store: the database of `databaseUrl`, else the embedded PostgreSQL
 * of a relay running on `dataDir` (never a second server on its folder), else one started for the run.
 * Reads from the primary (an export wants the latest), logs on stderr (stdout carries the output);
 * what an import stores reaches the relays on that database through the cluster bus, with each commit.
 */
const storeTools: StoreToolWiring = {
  locate: async (settings) => {
    // Larger group commits than a relay's (an import has thousands of events in flight, no client waits for an OK).
    const tuned: Settings = { ...settings, readDatabaseUrl: "", readPoolSize: 2, ingestPoolSize: 2, writeBatchSize: 2000 }
    if (settings.databaseUrl !== "") return { settings: tuned, shared: true, where: "the database of setting databaseUrl" }
    const running = await findRunningEmbedded(settings.dataDir)
    if (running === undefined) {
      if (!existsSync(join(settings.dataDir, "pg", "PG_VERSION"))) {
        return { settings: tuned, shared: false, missing: true, where: `a new embedded PostgreSQL in ${settings.dataDir} (no store was there: created for this run)` }
      }
      return { settings: tuned, shared: false, where: `the embedded PostgreSQL in ${settings.dataDir} (no relay is running on it: started for this run)` }
    }
    return {
      settings: { ...tuned, databaseUrl: running.url },
      shared: true,
      where: `the embedded PostgreSQL of the relay running on ${settings.dataDir} (relay pid ${running.ownerPid}, port ${running.port})`
    }
  },
  store: (db) => layerToolStores(false).pipe(Layer.provideMerge(toolBase(db.settings))),
  pipeline: (db, verify) =>
    coreLayer.pipe(
      Layer.provideMerge(Layer.mergeAll(layerToolStores(db.shared), verify ? verifierFromConfig : layerUnchecked)),
      Layer.provideMerge(toolBase(db.settings))
    )
}

const toolBase = (settings: Settings) => Layer.mergeAll(Layer.succeed(RelayConfig, RelayConfig.of(settings)), loggingLayer(settings, true))

const main = Effect.gen(function* () {
  // The admin client has its own arguments: handled before the relay's flags are parsed.
  if (process.argv[2] === "admin") {
    const outcome = yield* Effect.promise(() => runAdmin(process.argv.slice(3), process.env))
    process.stdout.write(outcome.out)
    process.stderr.write(outcome.err)
    process.exitCode = outcome.code
    return
  }
  // The client tools have their own arguments and exit codes.
  const io = { out: (t: string) => void process.stdout.write(t), err: (t: string) => void process.stderr.write(t) }
  const tools: Readonly<Record<string, (argv: ReadonlyArray<string>) => Promise<number>>> = {
    bench: (argv) => runBenchCli(argv, process.env, io),
    // doctor colours its report on stdout; sync redraws its progress line on stderr.
    doctor: (argv) => runDoctorCli(argv, process.env, { ...io, tty: process.stdout.isTTY === true }),
    sync: (argv) => runSyncCli(argv, process.env, { ...io, tty: process.stderr.isTTY === true }),
    backup: (argv) => runBackupCli(argv, process.env, { ...io, tty: process.stderr.isTTY === true }),
    export: (argv) => runExportCli(argv, process.env, { ...io, tty: process.stderr.isTTY === true }, storeTools),
    import: (argv) => runImportCli(argv, process.env, { ...io, tty: process.stderr.isTTY === true }, storeTools)
  }
  const tool = Object.hasOwn(tools, process.argv[2] ?? "") ? tools[process.argv[2]!] : undefined
  if (tool !== undefined) {
    const run = Effect.flatMap(
      Effect.promise(() => tool(process.argv.slice(3))),
      (code) => Effect.sync(() => void (process.exitCode = code))
    )
    // export and import stop gently on Ctrl-C themselves (finish what is in flight, close the file, summary);
    // the exit code is set inside, before the pending interruption ends the fiber.
    yield* process.argv[2] === "export" || process.argv[2] === "import" ? Effect.uninterruptible(run) : run
    return
  }
  const cli = yield* Effect.try({
    try: () => parseArgs(process.argv.slice(2)),
    catch: (e) => (e instanceof ConfigError ? e : new ConfigError({ message: String(e) }))
  })
  switch (cli.command) {
    case "help":
      console.log(USAGE)
      return
    case "version":
      console.log(VERSION)
      return
    case "serve":
      return yield* serve(cli)
  }
})

NodeRuntime.runMain(
  main.pipe(
    Effect.catchTag("ConfigError", (e) =>
      Effect.sync(() => {
        console.error(`parrhesia: ${e.message}`)
        process.exitCode = 2
      })
    ),
    Effect.catchTag("WorkersError", (e) =>
      Effect.sync(() => {
        console.error(`parrhesia: workers: ${e.message}`)
        process.exitCode = 1
      })
    ),
    // Start-up failures of the store (database unreachable, embedded PostgreSQL
    // cannot start, a migration failed) end with their message, not a stack.
    Effect.catchTag("StoreError", (e) =>
      Effect.sync(() => {
        console.error(`parrhesia: storage: ${e.message}`)
        process.exitCode = 1
      })
    )
  ),
  {
    disableErrorReporting: false,
    teardown: (exit, onExit) => {
      // SIGINT/SIGTERM interrupt the main fiber: a clean shutdown, exit 0.
      if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) onExit(Number(process.exitCode ?? 0))
      else onExit(1)
    }
  }
)
