/**
 * What `parrhesia export` and `import` share: they work on the relay's store
 * itself, not over a WebSocket, so they need its settings (`--config` and the
 * PARRHESIA_* variables, as `serve`), its database (the running relay's when
 * there is one) and the store and pipeline layers. The layers come from the
 * entry (main.ts), which alone picks adapters; this module only says what it
 * needs (StoreToolWiring). Also the progress and number formatting both print.
 */
import type { Layer } from "effect"
import { Effect } from "effect"
import { ConfigError, loadSettings } from "../config/RelayConfig.ts"
import type { Settings } from "../config/settings.ts"
import type { Ingest } from "../ingest/Ingest.ts"
import type { EventStore } from "../storage/EventStore.ts"
import { scanArgs } from "./args.ts"

export interface ToolDatabase {
  /** The settings to build the layers from (databaseUrl set to a running relay's embedded server when there is one). */
  readonly settings: Settings
  /** Which database, for a line on stderr. */
  readonly where: string
  /** Whether a relay may be listening on it (then what a tool stores is announced on the cluster bus). */
  readonly shared: boolean
  /** Whether the embedded store does not exist yet (this run would create it: a wrong dataDir?). */
  readonly missing?: boolean
}

/** What the entry provides to the store tools. */
export interface StoreToolWiring {
  /** Finds the database of these settings; rejects with a message when there is none to use. */
  readonly locate: (settings: Settings) => Promise<ToolDatabase>
  /** The event store alone (export). */
  readonly store: (database: ToolDatabase) => Layer.Layer<EventStore, unknown>
  /** The relay's write pipeline over its store (import); `verify` false: signatures are taken as valid. */
  readonly pipeline: (database: ToolDatabase, verify: boolean) => Layer.Layer<Ingest | EventStore, unknown>
}

export interface ToolIo {
  readonly out: (s: string) => void
  readonly err: (s: string) => void
  /** Whether stderr is a terminal (progress redrawn in place). */
  readonly tty: boolean
}

/** A usage or configuration problem: exit 2 with its message. */
export class ToolUsageError extends Error {}

/**
 * Walks a tool's arguments (scanArgs) taking the options every tool has, `--config FILE` (`-c`)
 * and `--help` (`-h`, which ends the walk); `visit` sees the others. A missing value is a usage error.
 */
export const scanToolArgs = (
  argv: ReadonlyArray<string>,
  visit: (name: string, value: () => string) => void
): { readonly config: string | undefined } | "help" => {
  let config: string | undefined
  let help = false
  scanArgs(
    argv,
    (name, value) => {
      switch (name) {
        case "--config":
        case "-c":
          config = value()
          return
        case "-h":
        case "--help":
          help = true
          return "stop"
        default:
          return visit(name, value)
      }
    },
    (name) => new ToolUsageError(`${name} needs a value`)
  )
  return help ? "help" : { config }
}

/** The settings as `serve` reads them (file, then environment), for a tool. */
export const toolSettings = async (file: string | undefined, env: Readonly<Record<string, string | undefined>>): Promise<Settings> => {
  const r = await Effect.runPromise(Effect.result(loadSettings({ file, env })))
  if (r._tag === "Failure") throw new ToolUsageError(r.failure instanceof ConfigError ? r.failure.message : String(r.failure))
  const settings = r.success
  if (settings.store === "memory") {
    throw new ToolUsageError('the store setting is "memory", which keeps nothing between runs: export and import work on the postgres store')
  }
  return settings
}

const numbers = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 })
/** A whole number with thousands separators (one formatter: toLocaleString builds one per call). */
export const n = (x: number): string => numbers.format(Math.round(x))

/** Seconds as m:ss or h:mm:ss. */
export const clock = (seconds: number): string => {
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const ss = String(s % 60).padStart(2, "0")
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`
}

/**
 * A progress line on stderr, made every second (`line(false)`), redrawn in place on a terminal,
 * else printed every `plainEverySeconds`; `finish` prints the last one (`line(true)`) and stops.
 */
export const progressLine = (io: ToolIo, line: (final: boolean) => string, plainEverySeconds = 10) => {
  let ticks = 0
  const timer = setInterval(() => {
    ticks++
    const text = line(false)
    if (io.tty) io.err(`\r${text}\x1b[K`)
    else if (ticks % plainEverySeconds === 0) io.err(`${text}\n`)
  }, 1000)
  return {
    finish: () => {
      clearInterval(timer)
      const text = line(true)
      io.err(io.tty ? `\r${text}\x1b[K\n` : `${text}\n`)
    }
  }
}

/**
 * Events per second: over the last few seconds while running (sampled each time it is asked),
 * over the whole run for the final figure.
 */
export const rateMeter = (windowMs = 5000) => {
  const started = performance.now()
  const samples: Array<{ readonly at: number; readonly count: number }> = []
  return (count: number, final = false): number => {
    const now = performance.now()
    if (final) return count / Math.max(0.001, (now - started) / 1000)
    samples.push({ at: now, count })
    while (samples.length > 2 && now - samples[0]!.at > windowMs) samples.shift()
    const first = samples[0]!
    const dt = (now - first.at) / 1000
    return dt > 0 ? (count - first.count) / dt : 0
  }
}

/**
 * Ctrl-C (SIGINT) and SIGTERM stop the tool gently (`onStop`: finish what is in flight, print
 * the summary); a second one ends the process at once. Returns the removal of the handlers.
 */
export const onStopSignal = (onStop: () => void, io: ToolIo): (() => void) => {
  let stopping = false
  const handler = () => {
    if (stopping) {
      io.err("\nstopped at once: what was in flight may not be counted\n")
      process.exit(130)
    }
    stopping = true
    io.err("\nstopping: finishing what is in flight (again to stop at once)\n")
    onStop()
  }
  process.on("SIGINT", handler)
  process.on("SIGTERM", handler)
  return () => {
    process.off("SIGINT", handler)
    process.off("SIGTERM", handler)
  }
}
