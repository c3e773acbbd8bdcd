/**
 * `parrhesia export [--filter JSON] [--out FILE] [--include-private] [--config FILE]`
 *
 * Every stored event matching the filter (default: all, deletion requests
 * and requests to vanish included, since they are stored events), one
 * minified JSON object per line (each event's stored text, as REQ answers
 * send it), oldest first — the format `strfry export` writes and `parrhesia
 * import` reads. Streamed: keyset pages of the store (EventStore.scan), the
 * next page read while the last is written, so memory stays flat whatever
 * the store's size. Private kinds (`restrictedReadKinds`: DMs, gift wraps)
 * only with --include-private. `.gz` / `.zst` output by the file's name.
 * Works with the relay running (on its database) or stopped.
 *
 * Exit codes: 0 exported, 1 the store or the output failed (the message
 * says which), 2 usage or configuration, 130 stopped by a signal (the output
 * holds the events up to then, closed properly).
 */
import { Effect, Fiber } from "effect"
import type { Filter, ServedEvent } from "../nostr/index.ts"
import { EventStore, type ScanCursor } from "../storage/EventStore.ts"
import { filterArg } from "./args.ts"
import { JsonLinesError, writeLines } from "./jsonLines.ts"
import { n, onStopSignal, progressLine, rateMeter, scanToolArgs, toolSettings, ToolUsageError, type StoreToolWiring, type ToolIo } from "./storeTool.ts"

export const EXPORT_USAGE = "usage: parrhesia export [--filter JSON] [--out FILE] [--include-private] [--config FILE]"

/** Events per store page. */
const PAGE = 2000

interface Parsed {
  readonly filter: Filter
  readonly out: string | undefined
  readonly includePrivate: boolean
  readonly config: string | undefined
}

const parse = (argv: ReadonlyArray<string>): Parsed | "help" => {
  let filter: Filter = {}
  let out: string | undefined
  let includePrivate = false
  const common = scanToolArgs(argv, (name, value) => {
    switch (name) {
      case "--filter": {
        const parsed = filterArg(name, value(), { maxFilterValues: 100_000, allowSearch: false }, (m) => new ToolUsageError(m), ', e.g. {"kinds":[0,3]}')
        if (parsed.filter.limit !== undefined) throw new ToolUsageError('--filter: export writes every matching event; "limit" is not allowed (use since/until)')
        filter = parsed.filter
        break
      }
      case "--out":
      case "-o":
        out = value()
        break
      case "--include-private":
        includePrivate = true
        break
      default:
        throw new ToolUsageError(name.startsWith("-") ? `unknown option ${name}` : `unexpected argument ${name} (the output file goes after --out)`)
    }
  })
  if (common === "help") return "help"
  return { filter, out: out === "-" ? undefined : out, includePrivate, config: common.config }
}

export interface ExportReport {
  readonly events: number
  readonly seconds: number
  readonly stopped: boolean
}

/**
 * Writes every event of `filter` through `write`, oldest first, a page at a time (the next page is
 * read while one is written); `progress` sees the count; stops after the page in hand once `stop()`.
 */
export const exportEvents = (
  filter: Filter,
  write: (text: string) => Promise<void>,
  progress: { count: number },
  stop: () => boolean = () => false
): Effect.Effect<boolean, unknown, EventStore> =>
  Effect.gen(function* () {
    const store = yield* EventStore
    const page = (after: ScanCursor | undefined) => store.scan(filter, after, PAGE)
    const lines = (events: ReadonlyArray<ServedEvent>) => {
      let text = ""
      for (const e of events) text += e.json + "\n"
      return text
    }
    let current = yield* page(undefined)
    for (;;) {
      const last = current[current.length - 1]
      const more = current.length === PAGE && last !== undefined
      // Read ahead: the next page comes from the database while this one is written.
      const next = more ? yield* Effect.forkChild(page(last)) : undefined
      yield* Effect.promise(() => write(lines(current)))
      progress.count += current.length
      if (next === undefined) return false
      if (stop()) return true
      current = yield* Fiber.join(next)
    }
  })

export const runExportCli = async (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>,
  io: ToolIo,
  wiring: StoreToolWiring
): Promise<number> => {
  let args: Parsed
  let sink: Awaited<ReturnType<typeof writeLines>>
  let located: Awaited<ReturnType<StoreToolWiring["locate"]>>
  try {
    const parsed = parse(argv)
    if (parsed === "help") {
      io.out(`${EXPORT_USAGE}\n`)
      return 0
    }
    args = parsed
    const settings = await toolSettings(args.config, env)
    located = await wiring.locate(settings)
    if (located.missing === true) {
      throw new Error(`there is no store in ${settings.dataDir} (setting dataDir; PARRHESIA_DATA_DIR): nothing to export`)
    }
    sink = await writeLines(args.out)
  } catch (e) {
    io.err(`parrhesia export: ${(e as Error).message}\n`)
    return e instanceof ToolUsageError ? 2 : 1
  }
  io.err(`export: ${located.where}\n`)
  const privateKinds = located.settings.restrictedReadKinds
  const filter: Filter =
    args.includePrivate || privateKinds.length === 0 ? args.filter : { ...args.filter, excludeKinds: [...privateKinds] }

  const progress = { count: 0 }
  const started = performance.now()
  const rate = rateMeter()
  const bar = progressLine(io, (final) => `export: ${n(progress.count)} events, ${n(rate(progress.count, final))}/s`)
  let stopRequested = false
  const removeSignals = onStopSignal(() => (stopRequested = true), io)
  const result = await Effect.runPromise(
    exportEvents(filter, sink.write, progress, () => stopRequested || sink.closedByReader()).pipe(
      Effect.provide(wiring.store(located)),
      Effect.scoped,
      Effect.result
    )
  )
  removeSignals()
  bar.finish()
  let closeError: unknown
  try {
    await sink.close()
  } catch (e) {
    closeError = e
  }
  const seconds = (performance.now() - started) / 1000
  if (result._tag === "Failure" || closeError !== undefined) {
    const e = result._tag === "Failure" ? result.failure : closeError
    const message = e instanceof JsonLinesError || e instanceof Error ? e.message : String((e as { message?: unknown })?.message ?? e)
    io.err(`parrhesia export: ${message} (${n(progress.count)} events written before)\n`)
    return 1
  }
  const stopped = result.success
  io.err(
    `export: ${n(progress.count)} events in ${seconds.toFixed(1)} s (${n(progress.count / Math.max(seconds, 0.001))}/s) to ${args.out ?? "stdout"}` +
      `${stopped && !sink.closedByReader() ? ", stopped before the end" : ""}\n`
  )
  return stopped && !sink.closedByReader() ? 130 : 0
}
