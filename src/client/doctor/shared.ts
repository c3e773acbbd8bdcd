/**
 * What every group of doctor checks shares: the report's types, the target
 * parsed from the URL, the small helpers for timeouts, errors and text, and
 * the CheckContext through which a group runs and records its checks. Kept
 * apart so the groups depend on this and not on each other or the runner.
 */
import { randomBytes } from "node:crypto"
import type { IncomingMessage } from "node:http"
import { isIP } from "node:net"
import type { NostrEvent } from "../../nostr/index.ts"
import { AdminUsageError } from "../admin.ts"

export type CheckStatus = "pass" | "warn" | "fail" | "skip"

export interface CheckResult {
  readonly name: string
  readonly status: CheckStatus
  readonly detail: string
  readonly ms: number
  /** Figures behind the detail (addresses, certificate, latency percentiles...). */
  readonly data?: Readonly<Record<string, unknown>>
}

export interface DoctorReport {
  readonly url: string
  /** No check failed. */
  readonly ok: boolean
  /** False when DNS or TCP failed: nothing else could be checked. */
  readonly reachable: boolean
  readonly checks: ReadonlyArray<CheckResult>
}

export interface DoctorOptions {
  /** ws:// or wss:// (http(s):// is taken as the same relay). */
  readonly url: string
  /** Key for NIP-42 AUTH; without it the throwaway key of the probe does AUTH. */
  readonly authKey?: Uint8Array
  /** How long each network step may take (default 10,000 ms). */
  readonly timeoutMs?: number
  /** REQ round trips for the latency figures (default 20). */
  readonly rounds?: number
  /** CA certificates (PEM) to trust instead of the system's, for a relay behind a private CA. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>
  /** Called as each check ends (the report streams). */
  readonly onCheck?: (check: CheckResult) => void
}

// ---------------------------------------------------------------- helpers

export const errorText = (e: unknown): string => {
  if (e instanceof AggregateError && e.errors.length > 0) return [...new Set(e.errors.map(errorText))].join("; ")
  if (e instanceof Error) return e.message || (e as { code?: string }).code || e.name
  return String(e)
}

export class Timeout extends Error {}

/** `p`, or a Timeout after `ms`. */
export const within = <A>(p: Promise<A>, ms: number, what: string): Promise<A> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Timeout(`no answer to ${what} within ${ms} ms`)), ms)
    p.then(
      (a) => {
        clearTimeout(timer)
        resolve(a)
      },
      (e) => {
        clearTimeout(timer)
        reject(e)
      }
    )
  })

export const now = () => Math.floor(Date.now() / 1000)
export const randomHex = (bytes: number) => randomBytes(bytes).toString("hex")
export const quote = (s: string, max = 160) => JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s)
export const fmtMs = (ms: number) => (ms < 10 ? ms.toFixed(1) : String(Math.round(ms)))
export const elapsed = (t0: number) => performance.now() - t0

export interface Target {
  /** As given (http(s):// turned into ws(s)://): the URL NIP-42 AUTH names. */
  readonly url: string
  readonly httpUrl: string
  readonly secure: boolean
  /** Without IPv6 brackets. */
  readonly host: string
  readonly port: number
  readonly hostIsIp: boolean
  /** host:port, IPv6 in brackets. */
  readonly hostPort: string
}

export const parseTarget = (text: string): Target => {
  let url = text.trim()
  if (/^https?:\/\//i.test(url)) url = url.replace(/^http/i, "ws")
  if (!/^wss?:\/\/[^\s]+$/i.test(url)) throw new AdminUsageError(`${text} is not a ws:// or wss:// URL`)
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new AdminUsageError(`${text} is not a valid URL`)
  }
  const secure = u.protocol === "wss:"
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1")
  if (host === "") throw new AdminUsageError(`${text} has no host`)
  const port = u.port === "" ? (secure ? 443 : 80) : Number(u.port)
  return {
    url,
    httpUrl: url.replace(/^ws/i, "http"),
    secure,
    host,
    port,
    hostIsIp: isIP(host) !== 0,
    hostPort: host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`
  }
}

export type Ca = DoctorOptions["ca"]
export const caOption = (ca: Ca): { ca?: string | Buffer | Array<string | Buffer> } =>
  ca === undefined ? {} : { ca: typeof ca === "string" || Buffer.isBuffer(ca) ? ca : [...ca] }

export const readBody = (res: IncomingMessage, max: number): Promise<string> =>
  new Promise((resolve) => {
    const chunks: Array<Buffer> = []
    let size = 0
    res.on("data", (c: Buffer) => {
      if (size < max) chunks.push(c)
      size += c.length
    })
    res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8").slice(0, max)))
    res.on("error", () => resolve(Buffer.concat(chunks).toString("utf8").slice(0, max)))
  })

// ---------------------------------------------------------------- what the checks share

export interface Outcome {
  readonly status: CheckStatus
  readonly detail: string
  readonly data?: Readonly<Record<string, unknown>>
}

export interface RelayFacts {
  readonly nips: ReadonlyArray<number>
  readonly maxLimit: number | undefined
}

/** The probe event the publish check sent, and what became of it. */
export interface Probe {
  readonly event: NostrEvent
  readonly accepted: boolean
  readonly readBack: boolean
}

/** What the runner hands each group: the target and limits, and the way to record checks. */
export interface CheckContext {
  readonly t: Target
  /** How long each network step may take. */
  readonly ms: number
  readonly ca: Ca
  /** Runs a check and records its outcome and duration (a throw is recorded as fail with its text). */
  readonly run: (name: string, f: () => Promise<Outcome>) => Promise<CheckResult>
  /** Records a check that was not run. */
  readonly skip: (name: string, detail: string) => CheckResult
}
