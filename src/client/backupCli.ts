/**
 * `parrhesia backup <npub | hex> [--bootstrap URL ...] [--to URL] [--mentions]
 *  [--auth-key KEY] [--concurrency N] [--config FILE] [--json]`
 *
 * Copies a user's events from their write relays (NIP-65) into one relay
 * (backup.ts). The destination defaults to this relay as its settings name it
 * (`relayUrl`, else ws://host:port); the bootstrap relays, where the relay
 * list is looked for, to the destination and the settings' `mirrorUpstreams`:
 * no well-known indexer is built in (a closed network reaches none, and
 * which to trust is the operator's call).
 *
 * Exit codes, as `sync`: 0 every relay reached and every event copied, 1 some
 * events refused or not returned (or no relay list found), 2 usage, 3 a relay
 * could not be reached or broke the protocol (the others were still copied
 * from; the table says which), or the destination or every bootstrap relay
 * could not be reached (nothing was copied).
 */
import { Effect, Layer } from "effect"
import { loadSettings } from "../config/RelayConfig.ts"
import type { Settings } from "../config/settings.ts"
import { parsePubkey } from "../nostr/bech32.ts"
import { AdminUsageError, parseSecretKey } from "./admin.ts"
import { scanArgs, wholeNumber } from "./args.ts"
import { newBackupProgress, runBackup, type BackupReport, type BackupRow } from "./backup.ts"
import { RelayPool } from "./RelayPool.ts"

export interface BackupCliIo {
  readonly out: (s: string) => void
  readonly err: (s: string) => void
  /** Whether stderr is a terminal (progress redrawn in place). */
  readonly tty: boolean
}

export const BACKUP_USAGE =
  "usage: parrhesia backup <npub | hex> [--bootstrap URL ...] [--to URL] [--mentions] [--auth-key HEX|nsec] [--concurrency N] [--config FILE] [--json]"

interface Parsed {
  readonly pubkey: string
  readonly bootstrap: ReadonlyArray<string>
  readonly to: string | undefined
  readonly mentions: boolean
  readonly authKey: Uint8Array | undefined
  readonly concurrency: number
  readonly config: string | undefined
  readonly json: boolean
}

const usage = (message: string) => new AdminUsageError(message)
const isWsUrl = (u: string) => /^wss?:\/\/[^\s/?#]+[^\s]*$/i.test(u)

const parse = (argv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>): Parsed => {
  const positional: Array<string> = []
  const bootstrap: Array<string> = []
  let to: string | undefined
  let mentions = false
  let key = env["PARRHESIA_AUTH_KEY"]
  let concurrency = 32
  let config: string | undefined
  let json = false
  scanArgs(
    argv,
    (name, value) => {
      switch (name) {
        case "--bootstrap":
          // Repeated, or several at once separated by commas.
          for (const u of value().split(",").map((s) => s.trim()).filter((s) => s !== "")) bootstrap.push(u)
          break
        case "--to":
          to = value()
          break
        case "--mentions":
          mentions = true
          break
        case "--auth-key":
          key = value()
          break
        case "--concurrency":
          concurrency = wholeNumber(name, value(), 1, 1000, usage)
          break
        case "--config":
        case "-c":
          config = value()
          break
        case "--json":
          json = true
          break
        default:
          if (name.startsWith("-")) throw usage(`unknown option ${name}`)
          positional.push(name)
      }
    },
    (name) => usage(`${name} needs a value`)
  )
  if (positional.length !== 1) throw usage(BACKUP_USAGE)
  const pk = parsePubkey(positional[0]!)
  if ("error" in pk) throw usage(`the user: ${pk.error}`)
  for (const u of [...bootstrap, ...(to === undefined ? [] : [to])]) if (!isWsUrl(u)) throw usage(`${u} is not a ws:// or wss:// URL`)
  return {
    pubkey: pk.pubkey,
    bootstrap,
    to,
    mentions,
    authKey: key === undefined || key === "" ? undefined : parseSecretKey(key),
    concurrency,
    config,
    json
  }
}

/** This relay's URL as its settings name it: `relayUrl`, else ws(s)://host:port (a wildcard host as loopback). */
export const ownRelayUrl = (settings: Settings): string => {
  if (settings.relayUrl !== "") return settings.relayUrl
  if (settings.port === 0) throw usage("the settings' port is 0 (picked when the relay starts): give --to")
  const host = settings.host === "" || settings.host === "0.0.0.0" ? "127.0.0.1" : settings.host === "::" ? "[::1]" : settings.host.includes(":") ? `[${settings.host}]` : settings.host
  return `${settings.tlsCert !== "" ? "wss" : "ws"}://${host}:${settings.port}`
}

const n = (x: number) => x.toLocaleString("en-US")
const when = (unix: number) => new Date(unix * 1000).toISOString().replace("T", " ").replace(/\.000Z$/, " UTC")
const via = (r: BackupRow) => (r.skipped ? "-" : r.method === "negentropy" ? "negentropy" : r.method === "req-windows" ? "req" : "-")

const rowLine = (r: BackupRow) =>
  r.skipped
    ? `${r.relay} (${r.for}): skipped, ${r.skipped}`
    : r.error !== undefined
      ? `${r.relay} (${r.for}): ${r.reachable ? "failed" : "unreachable"}: ${r.error}`
      : `${r.relay} (${r.for}): ${via(r)}, ${r.found === undefined ? "?" : n(r.found)} found, ${n(r.new)} new, ${n(r.refused)} refused, ${r.seconds.toFixed(1)} s`

export const formatBackup = (r: BackupReport, mentions: boolean): string => {
  const l = r.relayList
  const unreachable = r.bootstrap.filter((b) => b.error !== undefined)
  const lines = [
    `backup of ${r.pubkey} into ${r.destination}`,
    `relay list: kind 10002 of ${when(l.createdAt)} (${l.id.slice(0, 12)}…) from ${l.from.join(", ")}; ${l.write.length} write relays, ${l.read.length} read relays` +
      (unreachable.length > 0 ? `; bootstrap unreachable: ${unreachable.map((b) => b.url).join(", ")}` : ""),
    `relay list copied to the destination: ${l.published.accepted ? (l.published.message.startsWith("duplicate:") ? "already there" : "new") : `refused (${l.published.message})`}`
  ]
  if (l.ignored.length > 0) lines.push(`ignored in the relay list (not ws:// or wss://): ${l.ignored.join(", ")}`)
  const header = ["relay", ...(mentions ? ["for"] : []), "reachable", "via", "found", "new", "refused"]
  const cells = r.rows.map((row) => [
    row.relay,
    ...(mentions ? [row.for] : []),
    row.reachable ? "yes" : "no",
    via(row),
    row.error !== undefined || row.skipped ? "-" : row.found === undefined ? "?" : n(row.found),
    row.error !== undefined || row.skipped ? "-" : n(row.new),
    row.error !== undefined || row.skipped ? "-" : n(row.refused)
  ])
  const sum = (f: (row: BackupRow) => number | undefined) => n(r.rows.reduce((a, row) => a + (f(row) ?? 0), 0))
  const total = ["total", ...(mentions ? [""] : []), "", "", sum((row) => row.found), sum((row) => row.new), sum((row) => row.refused)]
  const table = [header, ...cells, total]
  const numeric = header.length - 3
  const widths = header.map((_, i) => Math.max(...table.map((c) => c[i]!.length)))
  for (const c of table) lines.push(c.map((v, i) => (i >= numeric ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join("  ").trimEnd())
  for (const row of r.rows) {
    if (row.error !== undefined) lines.push(`${row.relay}: ${row.error}`)
    for (const [why, count] of Object.entries(row.refusals).sort((a, b) => b[1] - a[1])) lines.push(`${row.relay}: ${n(count)} refused: ${why}`)
    if (row.notFetched > 0) lines.push(`${row.relay}: ${n(row.notFetched)} listed but not returned`)
    if (row.incompleteWindows > 0) lines.push(`${row.relay}: ${n(row.incompleteWindows)} one-second windows compared in part`)
  }
  const failed = r.rows.filter((row) => row.error !== undefined).length
  lines.push(r.complete ? "complete" : failed > 0 ? `NOT complete: ${failed} of ${r.rows.length} relays could not be copied from` : "NOT complete: see the refusals above")
  return lines.join("\n") + "\n"
}

export const runBackupCli = async (argv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>, io: BackupCliIo): Promise<number> => {
  let args: Parsed
  let destination: string
  let bootstrap: ReadonlyArray<string>
  try {
    args = parse(argv, env)
    let settings: Settings | undefined
    if (args.to === undefined || args.bootstrap.length === 0 || args.config !== undefined) {
      const loaded = await Effect.runPromise(Effect.result(loadSettings({ file: args.config, env })))
      if (loaded._tag === "Failure") throw usage(loaded.failure.message)
      settings = loaded.success
    }
    destination = args.to ?? ownRelayUrl(settings!)
    bootstrap = args.bootstrap.length > 0 ? args.bootstrap : [...new Set([destination, ...settings!.mirrorUpstreams])]
  } catch (e) {
    io.err(`parrhesia backup: ${(e as Error).message}\n`)
    return 2
  }
  const progress = newBackupProgress((row) => io.err(`${io.tty ? "\r\x1b[K" : ""}backup: ${rowLine(row)}\n`))
  const line = () => {
    const c = progress.current
    const s = progress.sync
    if (c === undefined) return `backup: ${progress.phase === "relay-list" ? `looking for the relay list on ${bootstrap.length} relays` : progress.phase}`
    return `backup: [${c.index + 1}/${c.total}] ${c.relay} (${c.for}): ${s.phase}, ${n(s.compared)} compared, ${n(s.fetched)} fetched, ${n(s.sent)} sent (${n(s.accepted)} ok, ${n(s.refused)} refused)`
  }
  const ticker = setInterval(() => io.err(io.tty ? `\r${line()}\x1b[K` : `${line()}\n`), 1000)
  const program = Effect.gen(function* () {
    const pool = yield* RelayPool
    return yield* runBackup({
      pool,
      pubkey: args.pubkey,
      bootstrap,
      destination,
      mentions: args.mentions,
      clientOptions: { reconnect: false, ...(args.authKey ? { authKey: args.authKey } : {}) },
      concurrency: args.concurrency,
      progress
    })
  }).pipe(Effect.provide(Layer.fresh(RelayPool.layer())), Effect.result)
  const result = await Effect.runPromise(program)
  clearInterval(ticker)
  if (io.tty) io.err("\r\x1b[K")
  if (result._tag === "Failure") {
    const e = result.failure
    io.err(`parrhesia backup: ${e.message}\n`)
    if (args.json) io.out(JSON.stringify({ error: e.message, ...(e._tag === "NoRelayList" ? { bootstrap: e.bootstrap } : {}) }) + "\n")
    return e._tag === "NoRelayList" ? 1 : 3
  }
  const report = result.success
  io.out(args.json ? JSON.stringify(report) + "\n" : formatBackup(report, args.mentions))
  if (report.rows.some((r) => r.error !== undefined)) return 3
  return report.complete ? 0 : 1
}
