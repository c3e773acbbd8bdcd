/**
 * `parrhesia import [FILE | -] [--no-verify] [--concurrency N] [--json] [--config FILE]`
 *
 * Reads JSON lines (one event a line: what `parrhesia export` and `strfry
 * export` write; gzip or zstd recognised by their first bytes) from FILE or
 * stdin and puts each event through the relay's write pipeline with the
 * source marked as an import (importer.ts), on the relay's own database: a
 * running relay's embedded PostgreSQL when there is one (its subscribers get
 * what is stored, through the cluster bus), else the configured one.
 * --no-verify takes signatures as valid (ids are still checked): only for
 * files you trust, e.g. your own export.
 *
 * Progress on stderr (a bar with events/s and ETA when the size is known),
 * the summary on stdout (--json: one JSON object). Ctrl-C stops reading,
 * finishes what is in flight and prints the summary; running it again goes
 * on (what was stored comes back as duplicates).
 *
 * Exit codes: 0 every event stored or already there (superseded versions
 * and skipped ephemeral events included), 1 some lines malformed or events
 * refused, 2 usage or configuration, 3 the file or the store could not be
 * used, 130 stopped by a signal.
 */
import { Effect } from "effect"
import { wholeNumber } from "./args.ts"
import { importLines, MALFORMED_LISTED, newTally, type ImportTally } from "./importer.ts"
import { readLines, type LineSource } from "./jsonLines.ts"
import { clock, n, onStopSignal, progressLine, rateMeter, scanToolArgs, toolSettings, ToolUsageError, type StoreToolWiring, type ToolIo } from "./storeTool.ts"

export const IMPORT_USAGE = "usage: parrhesia import [FILE | -] [--no-verify] [--concurrency N] [--json] [--config FILE]"

interface Parsed {
  readonly file: string
  readonly verify: boolean
  readonly concurrency: number
  readonly json: boolean
  readonly config: string | undefined
}

const parse = (argv: ReadonlyArray<string>, stdinIsTty: boolean): Parsed | "help" => {
  const files: Array<string> = []
  let verify = true
  let concurrency = 4096
  let json = false
  const common = scanToolArgs(argv, (name, value) => {
    switch (name) {
      case "--no-verify":
        verify = false
        break
      case "--concurrency":
        concurrency = wholeNumber(name, value(), 1, 1_000_000, (m) => new ToolUsageError(m))
        break
      case "--json":
        json = true
        break
      default:
        if (name.startsWith("-") && name !== "-") throw new ToolUsageError(`unknown option ${name}`)
        files.push(name)
    }
  })
  if (common === "help") return "help"
  if (files.length > 1) throw new ToolUsageError(`one file at a time (got ${files.join(", ")})`)
  const file = files[0] ?? "-"
  if (file === "-" && stdinIsTty) throw new ToolUsageError(`no FILE given and stdin is a terminal: name a file, or pipe the events in (${IMPORT_USAGE})`)
  return { file, verify, concurrency, json, config: common.config }
}

const pad = (s: string, width: number) => s.padStart(width)

/** The summary as text: the figures, refusals by reason, malformed lines by number. */
export const formatTally = (t: ImportTally, name: string, seconds: number): string => {
  const w = Math.max(6, n(Math.max(t.stored, t.duplicate, t.superseded, t.refusedTotal, t.malformed, t.ephemeral)).length)
  const lines = [
    `import: ${name}: ${n(t.lines)} lines, ${n(t.events)} events in ${seconds.toFixed(1)} s (${n(t.events / Math.max(seconds, 0.001))} events/s)${t.stopped ? ", stopped before the end" : ""}`,
    `  stored      ${pad(n(t.stored), w)}`,
    `  duplicate   ${pad(n(t.duplicate), w)}  (already stored)`,
    `  superseded  ${pad(n(t.superseded), w)}  (a newer version of the replaceable/addressable event is stored)`
  ]
  if (t.ephemeral > 0) lines.push(`  ephemeral   ${pad(n(t.ephemeral), w)}  (never stored: skipped)`)
  lines.push(`  refused     ${pad(n(t.refusedTotal), w)}`)
  for (const [why, count] of [...t.refused].sort((a, b) => b[1] - a[1])) lines.push(`    ${pad(n(count), w)} x ${why}`)
  lines.push(`  malformed   ${pad(n(t.malformed), w)}${t.malformed > 0 ? "  (lines that are not JSON or not an event)" : ""}`)
  for (const m of t.malformedLines) lines.push(`    line ${n(m.line)}: ${m.reason}`)
  if (t.malformed > t.malformedLines.length) lines.push(`    (the first ${MALFORMED_LISTED} listed)`)
  return lines.join("\n") + "\n"
}

const tallyJson = (t: ImportTally, name: string, seconds: number) =>
  JSON.stringify({
    source: name,
    seconds: Number(seconds.toFixed(3)),
    lines: t.lines,
    events: t.events,
    stored: t.stored,
    duplicate: t.duplicate,
    superseded: t.superseded,
    ephemeral: t.ephemeral,
    refused: Object.fromEntries(t.refused),
    refusedTotal: t.refusedTotal,
    malformed: t.malformed,
    malformedLines: t.malformedLines,
    stopped: t.stopped
  }) + "\n"

/** The progress line: a bar, percentage and ETA when the input's size is known. */
const progressText = (t: ImportTally, source: LineSource, rate: number, started: number) => {
  const head = `import: ${n(t.events)} events, ${n(rate)}/s`
  if (source.size === undefined || source.size === 0) return head
  const done = Math.min(1, source.bytesRead() / source.size)
  const width = 24
  const filled = Math.round(done * width)
  const elapsed = (performance.now() - started) / 1000
  const eta = done > 0.001 ? (elapsed / done) * (1 - done) : NaN
  return `import [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${pad(String(Math.floor(done * 100)), 3)}%  ${n(t.events)} events  ${n(rate)}/s  ETA ${Number.isNaN(eta) ? "?" : clock(eta)}`
}

export const runImportCli = async (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>,
  io: ToolIo,
  wiring: StoreToolWiring,
  stdinIsTty = process.stdin.isTTY === true
): Promise<number> => {
  let args: Parsed
  let source: LineSource
  let located: Awaited<ReturnType<StoreToolWiring["locate"]>>
  try {
    const parsed = parse(argv, stdinIsTty)
    if (parsed === "help") {
      io.out(`${IMPORT_USAGE}\n`)
      return 0
    }
    args = parsed
    const settings = await toolSettings(args.config, env)
    source = await readLines(args.file)
    located = await wiring.locate(settings)
  } catch (e) {
    io.err(`parrhesia import: ${(e as Error).message}\n`)
    return e instanceof ToolUsageError ? 2 : 3
  }
  io.err(`import: ${located.where}${args.verify ? "" : "; signatures NOT verified (--no-verify)"}\n`)

  const tally = newTally()
  const controller = new AbortController()
  const started = performance.now()
  const rate = rateMeter()
  const bar = progressLine(io, (final) => progressText(tally, source, rate(tally.events, final), started))
  const removeSignals = onStopSignal(() => controller.abort(), io)
  const result = await Effect.runPromise(
    importLines(source, {
      info: args.file === "-" ? "" : args.file,
      maxInFlight: args.concurrency,
      tally,
      signal: controller.signal
    }).pipe(Effect.provide(wiring.pipeline(located, args.verify)), Effect.scoped, Effect.result)
  )
  removeSignals()
  bar.finish()
  const seconds = (performance.now() - started) / 1000
  if (result._tag === "Failure") {
    const e = result.failure as { readonly message?: unknown }
    io.err(`parrhesia import: ${typeof e?.message === "string" ? e.message : String(e)}\n`)
    io.out(args.json ? tallyJson(tally, source.name, seconds) : formatTally(tally, source.name, seconds))
    return 3
  }
  io.out(args.json ? tallyJson(tally, source.name, seconds) : formatTally(tally, source.name, seconds))
  if (tally.stopped) return 130
  return tally.refusedTotal > 0 || tally.malformed > 0 ? 1 : 0
}
