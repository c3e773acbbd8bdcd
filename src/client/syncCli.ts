/**
 * `parrhesia sync <from-url> <to-url> [--filter JSON] [--both] [--auth-key KEY]
 *  [--method auto|negentropy|req] [--concurrency N] [--json]`
 *
 * Exit codes: 0 the relays hold the same events (for the filter), 1 the sync
 * ran but some events were refused or could not be fetched, 2 usage,
 * 3 a relay could not be reached, dropped the connection, or broke the
 * protocol (the message names it).
 */
import { Effect, Layer } from "effect"
import type { Filter } from "../nostr/index.ts"
import { AdminUsageError, parseSecretKey } from "./admin.ts"
import { filterArg, scanArgs, wholeNumber } from "./args.ts"
import { RelayPool } from "./RelayPool.ts"
import { newProgress, syncRelays, type SyncOptions, type SyncReport } from "./sync.ts"

export interface SyncCliIo {
  readonly out: (s: string) => void
  readonly err: (s: string) => void
  /** Whether stderr is a terminal (progress redrawn in place). */
  readonly tty: boolean
}

interface Parsed {
  readonly from: string
  readonly to: string
  readonly filter: Filter
  readonly both: boolean
  readonly authKey: Uint8Array | undefined
  readonly method: NonNullable<SyncOptions["method"]>
  readonly concurrency: number
  readonly json: boolean
}

export const SYNC_USAGE = "usage: parrhesia sync <from-url> <to-url> [--filter JSON] [--both] [--auth-key HEX|nsec] [--method auto|negentropy|req] [--concurrency N] [--json]"

const usage = (message: string) => new AdminUsageError(message)

const parse = (argv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>): Parsed => {
  const positional: Array<string> = []
  let filter: Filter = {}
  let both = false
  let key = env["PARRHESIA_AUTH_KEY"]
  let method: Parsed["method"] = "auto"
  let concurrency = 32
  let json = false
  scanArgs(argv, (name, value) => {
    switch (name) {
      case "--filter":
        filter = filterArg(name, value(), { maxFilterValues: 10_000, allowSearch: true }, usage).raw as Filter
        break
      case "--both":
        both = true
        break
      case "--auth-key":
        key = value()
        break
      case "--method": {
        const m = value()
        if (m !== "auto" && m !== "negentropy" && m !== "req") throw new AdminUsageError("--method is auto, negentropy or req")
        method = m
        break
      }
      case "--concurrency":
        concurrency = wholeNumber(name, value(), 1, 1000, usage)
        break
      case "--json":
        json = true
        break
      default:
        if (name.startsWith("-")) throw new AdminUsageError(`unknown option ${name}`)
        positional.push(name)
    }
  }, (name) => usage(`${name} needs a value`))
  if (positional.length !== 2) throw new AdminUsageError(SYNC_USAGE)
  for (const u of positional) if (!/^wss?:\/\/[^\s]+$/i.test(u)) throw new AdminUsageError(`${u} is not a ws:// or wss:// URL`)
  return {
    from: positional[0]!,
    to: positional[1]!,
    filter,
    both,
    authKey: key === undefined || key === "" ? undefined : parseSecretKey(key),
    method,
    concurrency,
    json
  }
}

const n = (x: number) => x.toLocaleString("en-US")

export const formatReport = (r: SyncReport): string => {
  const lines = [
    `${r.method}${r.fallbackReason ? ` (${r.fallbackReason})` : ""}: ${n(r.rounds)} ${r.method === "negentropy" ? "rounds" : "windows"}, ${n(r.compared)} ${r.method === "negentropy" ? "ids" : "events"} compared, ${r.seconds.toFixed(1)} s`
  ]
  for (const d of r.directions) {
    const refused = Object.values(d.refused).reduce((a, b) => a + b, 0)
    lines.push(
      `${d.from} -> ${d.to}: ${n(d.missing)} missing, ${n(d.fetched)} fetched${d.notFetched ? ` (${n(d.notFetched)} not returned by the source)` : ""}, ${n(d.accepted)} accepted${d.duplicates ? ` (${n(d.duplicates)} as duplicates)` : ""}, ${n(refused)} refused${d.rateLimited ? ` (${n(d.rateLimited)} rate-limited answers waited out)` : ""}`
    )
    for (const [why, count] of Object.entries(d.refused).sort((a, b) => b[1] - a[1])) lines.push(`  ${n(count)} x ${why}`)
  }
  if (r.incompleteWindows > 0) lines.push(`${n(r.incompleteWindows)} one-second windows held more events than the relays return at once: compared in part`)
  lines.push(r.converged ? "in sync" : "NOT in sync: see the refusals above")
  return lines.join("\n") + "\n"
}

export const runSyncCli = async (argv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>, io: SyncCliIo): Promise<number> => {
  let args: Parsed
  try {
    args = parse(argv, env)
  } catch (e) {
    io.err(`parrhesia sync: ${(e as Error).message}\n`)
    return 2
  }
  const progress = newProgress()
  const started = Date.now()
  const line = () => {
    const s = Math.max(0.001, (Date.now() - started) / 1000)
    return `sync: ${progress.phase}, ${n(progress.rounds)} rounds, ${n(progress.compared)} compared, ${n(progress.fetched)} fetched, ${n(progress.sent)} sent (${n(progress.accepted)} ok, ${n(progress.refused)} refused), ${n(Math.round(progress.sent / s))}/s`
  }
  const ticker = setInterval(() => io.err(io.tty ? `\r${line()}\x1b[K` : `${line()}\n`), 1000)
  const program = Effect.gen(function* () {
    const pool = yield* RelayPool
    const options = { reconnect: false, ...(args.authKey ? { authKey: args.authKey } : {}) }
    return yield* syncRelays({
      from: pool.relay(args.from, options),
      to: pool.relay(args.to, options),
      filter: args.filter,
      both: args.both,
      method: args.method,
      concurrency: args.concurrency,
      progress
    })
  }).pipe(Effect.provide(Layer.fresh(RelayPool.layer())), Effect.result)
  const result = await Effect.runPromise(program)
  clearInterval(ticker)
  // The last progress line, always: the figures at the end.
  io.err(io.tty ? `\r${line()}\x1b[K\n` : `${line()}\n`)
  if (result._tag === "Failure") {
    io.err(`parrhesia sync: ${result.failure.message}\n`)
    return 3
  }
  io.out(args.json ? JSON.stringify(result.success) + "\n" : formatReport(result.success))
  return result.success.converged ? 0 : 1
}
