/**
 * `parrhesia doctor <url> [--json] [--auth-key HEX|nsec] [--timeout MS] [--rounds N]`
 *
 * Checks a relay from the outside, as an operator would after a deployment:
 * DNS, TCP, TLS (wss://), the NIP-11 document and CORS, the WebSocket upgrade
 * (ping/pong, close code), a publish-and-read round trip with a throwaway key
 * (NIP-42 AUTH when the relay asks), AUTH, REQ latency, and whether what
 * NIP-11 claims (NIP-40, 45, 50, 77, max_limit) matches what the relay does.
 *
 * Every check ends pass, warn, fail or skip, with a short detail and its
 * duration. Exit codes: 0 nothing failed, 1 a check failed, 2 usage, 3 the
 * relay cannot be reached at all (DNS or TCP failed).
 *
 * This module is the entry (main.ts and the tests import it) and the command
 * line: arguments in, the report printed as it streams, the exit code out.
 * The checks are under ./doctor/: runner.ts orders them, one module per group
 * does them, session.ts is the raw WebSocket connection they drive, and
 * shared.ts holds the types and helpers they all use.
 */
import { AdminUsageError, parseSecretKey } from "./admin.ts"
import { scanArgs, wholeNumber } from "./args.ts"
import { CHECK_NAMES, runDoctor } from "./doctor/runner.ts"
import { elapsed, parseTarget, type CheckResult, type CheckStatus, type DoctorReport } from "./doctor/shared.ts"

export { CHECK_NAMES, runDoctor } from "./doctor/runner.ts"
export { parseTarget, type CheckResult, type CheckStatus, type DoctorOptions, type DoctorReport } from "./doctor/shared.ts"

export const DOCTOR_USAGE = "usage: parrhesia doctor <url> [--json] [--auth-key HEX|nsec] [--timeout MS] [--rounds N]"

// ---------------------------------------------------------------- CLI

export interface DoctorCliIo {
  readonly out: (s: string) => void
  readonly err: (s: string) => void
  /** Whether the output is a terminal (colours). */
  readonly tty: boolean
}

interface Parsed {
  readonly url: string
  readonly json: boolean
  readonly authKey: Uint8Array | undefined
  readonly timeoutMs: number
  readonly rounds: number
}

const usage = (message: string) => new AdminUsageError(message)

const parse = (argv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>): Parsed | "help" => {
  const positional: Array<string> = []
  let json = false
  let key = env["PARRHESIA_AUTH_KEY"]
  let timeoutMs = 10_000
  let rounds = 20
  let help = false
  scanArgs(argv, (name, value) => {
    switch (name) {
      case "--json":
        json = true
        break
      case "--auth-key":
        key = value()
        break
      case "--timeout":
        timeoutMs = wholeNumber(name, value(), 100, 600_000, usage, "a whole number of milliseconds")
        break
      case "--rounds":
        rounds = wholeNumber(name, value(), 1, 10_000, usage)
        break
      case "-h":
      case "--help":
        help = true
        return "stop"
      default:
        if (name.startsWith("-")) throw new AdminUsageError(`unknown option ${name}`)
        positional.push(name)
    }
  }, (name) => usage(`${name} needs a value`))
  if (help) return "help"
  if (positional.length !== 1) throw new AdminUsageError(DOCTOR_USAGE)
  parseTarget(positional[0]!)
  return { url: positional[0]!, json, authKey: key === undefined || key === "" ? undefined : parseSecretKey(key), timeoutMs, rounds }
}

const SYMBOLS: Readonly<Record<CheckStatus, string>> = { pass: "✓", warn: "!", fail: "✗", skip: "-" }
const COLOURS: Readonly<Record<CheckStatus, string>> = { pass: "\x1b[32m", warn: "\x1b[33m", fail: "\x1b[31m", skip: "\x1b[2m" }
const NAME_WIDTH = Math.max(...CHECK_NAMES.map((n) => n.length))

export const formatCheck = (c: CheckResult, colour = false): string => {
  const sym = colour ? `${COLOURS[c.status]}${SYMBOLS[c.status]}\x1b[0m` : SYMBOLS[c.status]
  return `${sym} ${c.name.padEnd(NAME_WIDTH)}  ${c.detail}  (${c.ms} ms)\n`
}

export const formatSummary = (r: DoctorReport, seconds: number): string => {
  const count = (s: CheckStatus) => r.checks.filter((c) => c.status === s).length
  const verdict = !r.reachable ? "UNREACHABLE" : r.ok ? (count("warn") > 0 ? "OK, with warnings" : "OK") : "FAILED"
  return `${r.url}: ${count("pass")} passed, ${count("warn")} warned, ${count("fail")} failed, ${count("skip")} skipped in ${seconds.toFixed(1)} s: ${verdict}\n`
}

export const runDoctorCli = async (argv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>, io: DoctorCliIo): Promise<number> => {
  let args: Parsed | "help"
  try {
    args = parse(argv, env)
  } catch (e) {
    io.err(`parrhesia doctor: ${(e as Error).message}\n`)
    return 2
  }
  if (args === "help") {
    io.out(`${DOCTOR_USAGE}\n`)
    return 0
  }
  const { json } = args
  const started = performance.now()
  if (!json) io.out(`parrhesia doctor ${args.url}\n`)
  const r = await runDoctor({
    url: args.url,
    timeoutMs: args.timeoutMs,
    rounds: args.rounds,
    ...(args.authKey ? { authKey: args.authKey } : {}),
    ...(json ? {} : { onCheck: (c: CheckResult) => io.out(formatCheck(c, io.tty)) })
  })
  if (json) io.out(JSON.stringify({ url: r.url, ok: r.ok, reachable: r.reachable, checks: r.checks }) + "\n")
  else io.out(formatSummary(r, elapsed(started) / 1000))
  if (!r.reachable) {
    const why = r.checks.find((c) => (c.name === "dns" || c.name === "tcp") && c.status === "fail")
    io.err(`parrhesia doctor: cannot reach ${parseTarget(r.url).hostPort}: ${why?.detail ?? "unreachable"}\n`)
    return 3
  }
  return r.ok ? 0 : 1
}
