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
 */
import { randomBytes } from "node:crypto"
import { lookup } from "node:dns/promises"
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type RequestOptions } from "node:http"
import { request as httpsRequest } from "node:https"
import { connect as netConnect, isIP } from "node:net"
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate } from "node:tls"
import { schnorr } from "@noble/curves/secp256k1.js"
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js"
import WebSocket from "ws"
import { Negentropy, Storage } from "../negentropy/engine.ts"
import { signEvent, type Filter, type NostrEvent } from "../nostr/index.ts"
import { AdminUsageError, parseSecretKey } from "./admin.ts"
import { scanArgs, wholeNumber } from "./args.ts"

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

export const DOCTOR_USAGE = "usage: parrhesia doctor <url> [--json] [--auth-key HEX|nsec] [--timeout MS] [--rounds N]"

// ---------------------------------------------------------------- helpers

const errorText = (e: unknown): string => {
  if (e instanceof AggregateError && e.errors.length > 0) return [...new Set(e.errors.map(errorText))].join("; ")
  if (e instanceof Error) return e.message || (e as { code?: string }).code || e.name
  return String(e)
}

class Timeout extends Error {}

/** `p`, or a Timeout after `ms`. */
const within = <A>(p: Promise<A>, ms: number, what: string): Promise<A> =>
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

const now = () => Math.floor(Date.now() / 1000)
const randomHex = (bytes: number) => randomBytes(bytes).toString("hex")
const quote = (s: string, max = 160) => JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s)
const fmtMs = (ms: number) => (ms < 10 ? ms.toFixed(1) : String(Math.round(ms)))
const elapsed = (t0: number) => performance.now() - t0

interface Target {
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

type Ca = DoctorOptions["ca"]
const caOption = (ca: Ca): { ca?: string | Buffer | Array<string | Buffer> } =>
  ca === undefined ? {} : { ca: typeof ca === "string" || Buffer.isBuffer(ca) ? ca : [...ca] }

// ---------------------------------------------------------------- TCP, TLS, HTTP

const tcpConnect = (t: Target, ms: number): Promise<{ readonly address: string; readonly ms: number }> =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    const socket = netConnect({ host: t.host, port: t.port })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no TCP connection to ${t.hostPort} within ${ms} ms (a firewall dropping packets?)`))
    }, ms)
    socket.once("connect", () => {
      clearTimeout(timer)
      const address = socket.remoteAddress ?? t.host
      socket.destroy()
      resolve({ address, ms: elapsed(t0) })
    })
    socket.once("error", (e) => {
      clearTimeout(timer)
      socket.destroy()
      reject(new Error(`cannot connect to ${t.hostPort}: ${errorText(e)}`))
    })
  })

interface TlsFacts {
  readonly authorized: boolean
  readonly authorizationError: string | undefined
  readonly protocol: string | null
  readonly cert: PeerCertificate
  readonly identityError: Error | undefined
}

const tlsHandshake = (t: Target, ms: number, ca: Ca): Promise<TlsFacts> =>
  new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: t.host,
      port: t.port,
      ...(t.hostIsIp ? {} : { servername: t.host }),
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
      ...caOption(ca)
    })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no TLS handshake with ${t.hostPort} within ${ms} ms`))
    }, ms)
    socket.once("secureConnect", () => {
      clearTimeout(timer)
      const cert = socket.getPeerCertificate()
      const authError = socket.authorizationError as unknown
      resolve({
        authorized: socket.authorized,
        authorizationError: authError === null || authError === undefined ? undefined : authError instanceof Error ? ((authError as { code?: string }).code ?? authError.message) : String(authError),
        protocol: socket.getProtocol(),
        cert,
        identityError: cert && Object.keys(cert).length > 0 ? checkServerIdentity(t.host, cert) : new Error("the server sent no certificate")
      })
      socket.destroy()
    })
    socket.once("error", (e) => {
      clearTimeout(timer)
      socket.destroy()
      const text = errorText(e)
      reject(new Error(`TLS handshake with ${t.hostPort} failed: ${text}${/wrong version number|packet length too long|http request/i.test(text) ? " (the port seems to speak plain HTTP: use ws://, or put TLS in front)" : ""}`))
    })
  })

/** Why a certificate is not trusted, in an operator's words. */
const TLS_REASONS: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "the certificate is self-signed: clients will not trust it",
  SELF_SIGNED_CERT_IN_CHAIN: "the chain ends in a self-signed certificate no client trusts",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the chain cannot be verified: the server does not send the intermediate certificate(s), or the issuer is not trusted",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the issuer is not trusted: an unknown CA, or the intermediate certificate(s) are missing",
  UNABLE_TO_GET_ISSUER_CERT: "the issuer is not trusted: an unknown CA, or the intermediate certificate(s) are missing",
  CERT_HAS_EXPIRED: "the certificate has expired",
  CERT_NOT_YET_VALID: "the certificate is not valid yet",
  CERT_REVOKED: "the certificate has been revoked",
  CERT_SIGNATURE_FAILURE: "the certificate signature is invalid",
  ERR_TLS_CERT_ALTNAME_INVALID: "the certificate does not name this host"
}

const cn = (x: unknown): string | undefined => {
  if (typeof x !== "object" || x === null) return undefined
  const o = x as Record<string, unknown>
  const pick = (v: unknown) => (Array.isArray(v) ? v.join(", ") : typeof v === "string" ? v : undefined)
  return pick(o["CN"]) ?? pick(o["O"])
}

const tlsOutcome = (t: Target, f: TlsFacts): Outcome => {
  const cert = f.cert
  const notBefore = new Date(cert.valid_from)
  const notAfter = new Date(cert.valid_to)
  const days = Math.floor((notAfter.getTime() - Date.now()) / 86_400_000)
  const sans = cert.subjectaltname ?? ""
  const summary = `${f.protocol ?? "TLS"}, subject ${cn(cert.subject) ?? "?"}, issuer ${cn(cert.issuer) ?? "?"}${sans ? `, SANs ${sans}` : ""}, expires ${Number.isNaN(notAfter.getTime()) ? "?" : notAfter.toISOString().slice(0, 10)}`
  const data = {
    protocol: f.protocol,
    subject: cn(cert.subject),
    issuer: cn(cert.issuer),
    subjectAltNames: sans,
    validFrom: cert.valid_from,
    validTo: cert.valid_to,
    daysLeft: days,
    authorized: f.authorized,
    authorizationError: f.authorizationError,
    fingerprint256: cert.fingerprint256
  }
  const fail = (why: string): Outcome => ({ status: "fail", detail: `${why} (${summary})`, data })
  if (notBefore.getTime() > Date.now()) return fail(`the certificate is not valid before ${notBefore.toISOString()}`)
  if (notAfter.getTime() < Date.now()) return fail(`the certificate expired on ${notAfter.toISOString()}`)
  if (f.identityError) return fail(`the certificate is for ${sans || `CN=${cn(cert.subject) ?? "?"}`}, not ${t.host}`)
  if (!f.authorized) {
    const code = f.authorizationError ?? "unknown"
    return fail(`${TLS_REASONS[code] ?? "the certificate is not trusted"} (${code})`)
  }
  if (f.protocol === "TLSv1" || f.protocol === "TLSv1.1") return { status: "warn", detail: `outdated protocol ${f.protocol}: ${summary}`, data }
  if (days < 14) return { status: "warn", detail: `the certificate expires in ${days} day${days === 1 ? "" : "s"} (${summary}): renew it`, data }
  return { status: "pass", detail: `${summary} (${days} days left)`, data }
}

interface HttpAnswer {
  readonly status: number
  readonly statusText: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

const MAX_BODY = 1024 * 1024

const readBody = (res: IncomingMessage, max: number): Promise<string> =>
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

const httpAsk = (t: Target, method: string, headers: Record<string, string>, ms: number, ca: Ca): Promise<HttpAnswer> =>
  new Promise((resolve, reject) => {
    const options: RequestOptions = { method, headers, agent: false, ...(t.secure ? caOption(ca) : {}) }
    const req = (t.secure ? httpsRequest : httpRequest)(t.httpUrl, options, (res) => {
      void readBody(res, MAX_BODY).then((body) => {
        clearTimeout(timer)
        resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? "", headers: res.headers, body })
      })
    })
    const timer = setTimeout(() => req.destroy(new Timeout(`no answer to ${method} ${t.httpUrl} within ${ms} ms`)), ms)
    req.once("error", (e) => {
      clearTimeout(timer)
      reject(e instanceof Timeout ? e : new Error(`${method} ${t.httpUrl} failed: ${errorText(e)}`))
    })
    req.end()
  })

// ---------------------------------------------------------------- WebSocket session

type Frame = ReadonlyArray<any>

interface CloseInfo {
  readonly code: number
  readonly reason: string
}

interface AuthOutcome {
  readonly accepted: boolean
  readonly message: string
  readonly pubkey: string
  /** What made us AUTH: the relay's `auth-required:` answer to something, or the doctor itself. */
  readonly trigger: string
}

const upgradeRefusal = (status: number, statusText: string, headers: IncomingHttpHeaders, body: string): string => {
  const hint =
    status === 400 || status === 426
      ? "a proxy in front of the relay is probably not passing the WebSocket upgrade on (it must forward the Upgrade and Connection headers)"
      : status === 502 || status === 503 || status === 504
        ? "the proxy in front of the relay could not reach it, or does not proxy WebSocket upgrades"
        : status === 404
          ? "nothing serves WebSockets at this path"
          : status === 401 || status === 403
            ? "the upgrade was refused (an IP block or an access rule?)"
            : status >= 300 && status < 400
              ? `redirected to ${headers.location ?? "?"} (clients do not follow redirects on WebSocket upgrades)`
              : status >= 200 && status < 300
                ? "the server answered like a web page: a proxy or host is not forwarding WebSocket upgrades"
                : "the upgrade did not reach the relay, or the relay refused it"
  const text = body.replace(/\s+/g, " ").trim()
  return `WebSocket upgrade refused with HTTP ${status}${statusText ? ` ${statusText}` : ""}${text ? ` ${quote(text, 120)}` : ""}: ${hint}`
}

const isAuthRequired = (f: Frame): boolean => {
  const message = f[0] === "OK" ? (f[2] === false ? f[3] : undefined) : f[0] === "CLOSED" || f[0] === "NEG-ERR" ? f[2] : undefined
  return typeof message === "string" && message.startsWith("auth-required:")
}

interface QueryResult {
  readonly events: ReadonlyArray<NostrEvent>
  readonly end: { readonly type: "EOSE" } | { readonly type: "CLOSED"; readonly message: string }
  readonly ms: number
}

let subCounter = 0
const newSubId = (what: string) => `doctor-${what}-${(++subCounter).toString(36)}${randomHex(3)}`

/** One raw connection: frames in order, waits on predicates, AUTH when asked. */
class Session {
  private readonly queue: Array<Frame> = []
  private waiters: Array<{ readonly pred: (f: Frame) => boolean; readonly resolve: (f: Frame) => void; readonly reject: (e: Error) => void }> = []
  private closeInfo: CloseInfo | undefined
  private closeWaiters: Array<(c: CloseInfo) => void> = []
  private sentAny = false
  challenge: string | undefined
  /** Whether the challenge came before we sent anything. */
  challengeOnConnect = false
  auth: AuthOutcome | undefined
  notJson = 0

  readonly ws: WebSocket
  readonly url: string
  readonly connectMs: number
  readonly timeoutMs: number

  constructor(ws: WebSocket, url: string, connectMs: number, timeoutMs: number) {
    this.ws = ws
    this.url = url
    this.connectMs = connectMs
    this.timeoutMs = timeoutMs
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      let frame: Frame
      try {
        const v: unknown = JSON.parse(isBinary ? "" : data.toString("utf8"))
        frame = Array.isArray(v) ? v : ["<not an array>", v]
      } catch {
        this.notJson++
        frame = ["<not JSON>", data.toString("utf8").slice(0, 200)]
      }
      if (frame[0] === "AUTH" && typeof frame[1] === "string") {
        this.challenge = frame[1]
        if (!this.sentAny) this.challengeOnConnect = true
      }
      const i = this.waiters.findIndex((w) => w.pred(frame))
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(frame)
      else this.queue.push(frame)
    })
    ws.on("close", (code: number, reason: Buffer) => {
      this.closeInfo = { code, reason: reason.toString() }
      const err = new Error(`the relay closed the connection (code ${code}${this.closeInfo.reason ? ` ${quote(this.closeInfo.reason)}` : ""})`)
      for (const w of this.waiters) w.reject(err)
      this.waiters = []
      for (const w of this.closeWaiters) w(this.closeInfo)
      this.closeWaiters = []
    })
  }

  static open(t: Target, timeoutMs: number, ca: Ca): Promise<Session> {
    return new Promise((resolve, reject) => {
      const t0 = performance.now()
      let settled = false
      const fail = (e: Error) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        ws.terminate()
        reject(e)
      }
      const ws = new WebSocket(t.url, { handshakeTimeout: timeoutMs, maxPayload: 64 * 1024 * 1024, ...caOption(ca) })
      const timer = setTimeout(() => fail(new Timeout(`no WebSocket connection to ${t.url} within ${timeoutMs} ms`)), timeoutMs)
      ws.on("error", (e) => fail(new Error(`cannot open a WebSocket to ${t.url}: ${errorText(e)}`)))
      ws.once("unexpected-response", (req, res) => {
        void readBody(res, 2000).then((body) => {
          req.destroy()
          fail(new Error(upgradeRefusal(res.statusCode ?? 0, res.statusMessage ?? "", res.headers, body)))
        })
      })
      ws.once("open", () => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(new Session(ws, t.url, elapsed(t0), timeoutMs))
      })
    })
  }

  send(frame: unknown) {
    this.sentAny = true
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame))
  }

  /** The next frame matching `pred` (earlier unconsumed frames count). */
  next(pred: (f: Frame) => boolean, what: string, ms = this.timeoutMs): Promise<Frame> {
    const i = this.queue.findIndex(pred)
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]!)
    if (this.closeInfo) return Promise.reject(new Error(`the relay closed the connection (code ${this.closeInfo.code})`))
    return new Promise<Frame>((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (f: Frame) => {
          clearTimeout(timer)
          resolve(f)
        },
        reject: (e: Error) => {
          clearTimeout(timer)
          reject(e)
        }
      }
      this.waiters.push(waiter)
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        reject(new Timeout(`no answer to ${what} within ${ms} ms${this.notJson > 0 ? ` (the relay sent ${this.notJson} frame(s) that are not JSON)` : ""}`))
      }, ms)
    })
  }

  /** NIP-42 AUTH with `key` (once per session; later calls return the first outcome). */
  async authenticate(key: Uint8Array, trigger: string): Promise<AuthOutcome> {
    if (this.auth) return this.auth
    const challenge = this.challenge ?? (await this.next((f) => f[0] === "AUTH" && typeof f[1] === "string", "a NIP-42 AUTH challenge (expected after auth-required:)"))[1]
    const event = signEvent(key, { kind: 22242, created_at: now(), tags: [["relay", this.url], ["challenge", challenge]], content: "" })
    this.send(["AUTH", event])
    const ok = await this.next((f) => f[0] === "OK" && f[1] === event.id, "our AUTH")
    this.auth = { accepted: ok[2] === true, message: typeof ok[3] === "string" ? ok[3] : "", pubkey: event.pubkey, trigger }
    return this.auth
  }

  /** Sends `frame`, awaits the answer matching `match`; on `auth-required:` does AUTH with `key` and asks once more. */
  async ask(frame: ReadonlyArray<unknown>, match: (f: Frame) => boolean, what: string, key: Uint8Array): Promise<Frame> {
    this.send(frame)
    const first = await this.next(match, what)
    if (!isAuthRequired(first) || this.auth) return first
    const auth = await this.authenticate(key, what)
    if (!auth.accepted) return first
    this.send(frame)
    return this.next(match, what)
  }

  /** REQ until EOSE or CLOSED (AUTH and once more on `auth-required:`). */
  async query(filters: ReadonlyArray<Filter>, what: string, key: Uint8Array): Promise<QueryResult> {
    const t0 = performance.now()
    const sub = newSubId("q")
    const events: Array<NostrEvent> = []
    const collect = async (): Promise<QueryResult> => {
      for (;;) {
        const f = await this.next((x) => x[1] === sub && (x[0] === "EVENT" || x[0] === "EOSE" || x[0] === "CLOSED"), what)
        if (f[0] === "EVENT") events.push(f[2] as NostrEvent)
        else if (f[0] === "EOSE") {
          this.send(["CLOSE", sub])
          return { events, end: { type: "EOSE" }, ms: elapsed(t0) }
        } else return { events, end: { type: "CLOSED", message: typeof f[2] === "string" ? f[2] : "" }, ms: elapsed(t0) }
      }
    }
    this.send(["REQ", sub, ...filters])
    const r = await collect()
    if (r.end.type === "CLOSED" && r.end.message.startsWith("auth-required:") && !this.auth) {
      const auth = await this.authenticate(key, what)
      if (auth.accepted) {
        events.length = 0
        this.send(["REQ", sub, ...filters])
        return collect()
      }
    }
    return r
  }

  /** Pings; resolves with the round trip, or undefined when no pong came in time. */
  ping(ms = this.timeoutMs): Promise<number | undefined> {
    return new Promise((resolve) => {
      const t0 = performance.now()
      const onPong = () => {
        clearTimeout(timer)
        resolve(elapsed(t0))
      }
      const timer = setTimeout(() => {
        this.ws.off("pong", onPong)
        resolve(undefined)
      }, ms)
      this.ws.once("pong", onPong)
      this.ws.ping()
    })
  }

  /** A clean close: resolves with the code the relay answered, or undefined (cut off) when it did not answer in time. */
  close(ms = this.timeoutMs): Promise<CloseInfo | undefined> {
    if (this.closeInfo) return Promise.resolve(this.closeInfo)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.closeWaiters = this.closeWaiters.filter((w) => w !== done)
        this.ws.terminate()
        resolve(undefined)
      }, ms)
      const done = (c: CloseInfo) => {
        clearTimeout(timer)
        resolve(c)
      }
      this.closeWaiters.push(done)
      this.ws.close(1000, "parrhesia doctor done")
    })
  }
}

// ---------------------------------------------------------------- the checks

interface Outcome {
  readonly status: CheckStatus
  readonly detail: string
  readonly data?: Readonly<Record<string, unknown>>
}

interface RelayFacts {
  readonly nips: ReadonlyArray<number>
  readonly maxLimit: number | undefined
}

const POLICY_PREFIXES = ["restricted:", "blocked:", "auth-required:", "pow:", "payment-required:", "rate-limited:"]

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!

export const runDoctor = async (options: DoctorOptions): Promise<DoctorReport> => {
  const t = parseTarget(options.url)
  const ms = options.timeoutMs ?? 10_000
  const rounds = options.rounds ?? 20
  const ca = options.ca
  const checks: Array<CheckResult> = []
  const record = (name: string, o: Outcome, took: number) => {
    const c: CheckResult = { name, status: o.status, detail: o.detail, ms: Math.round(took), ...(o.data ? { data: o.data } : {}) }
    checks.push(c)
    options.onCheck?.(c)
    return c
  }
  const run = async (name: string, f: () => Promise<Outcome>): Promise<CheckResult> => {
    const t0 = performance.now()
    let o: Outcome
    try {
      o = await f()
    } catch (e) {
      o = { status: "fail", detail: errorText(e) }
    }
    return record(name, o, elapsed(t0))
  }
  const skip = (name: string, detail: string) => record(name, { status: "skip", detail }, 0)
  const report = (reachable: boolean): DoctorReport => ({ url: t.url, ok: checks.every((c) => c.status !== "fail"), reachable, checks })

  // The throwaway identity of the probe, and the AUTH key.
  const probeKey = schnorr.utils.randomSecretKey()
  const authKey = options.authKey ?? probeKey
  const token = randomHex(8)

  // 1. DNS
  if (t.hostIsIp) skip("dns", `${t.host} is an IP address`)
  else {
    const dns = await run("dns", async () => {
      try {
        const addrs = await within(lookup(t.host, { all: true }), ms, `the DNS lookup of ${t.host}`)
        if (addrs.length === 0) return { status: "fail", detail: `${t.host} resolves to no address` }
        return { status: "pass", detail: `${t.host} -> ${addrs.map((a) => a.address).join(", ")}`, data: { addresses: addrs.map((a) => a.address) } }
      } catch (e) {
        return { status: "fail", detail: `cannot resolve ${t.host}: ${errorText(e)}` }
      }
    })
    if (dns.status === "fail") {
      for (const n of AFTER_DNS) skip(n, "the host does not resolve")
      return report(false)
    }
  }

  // 2. TCP
  const tcp = await run("tcp", async () => {
    const c = await tcpConnect(t, ms)
    return { status: "pass", detail: `connected to ${c.address} port ${t.port} in ${fmtMs(c.ms)} ms`, data: { address: c.address, port: t.port, connectMs: c.ms } }
  })
  if (tcp.status === "fail") {
    for (const n of AFTER_TCP) skip(n, `${t.hostPort} is unreachable`)
    return report(false)
  }

  // 3. TLS
  if (!t.secure) skip("tls", "ws:// (no TLS)")
  else {
    const tls = await run("tls", async () => tlsOutcome(t, await tlsHandshake(t, ms, ca)))
    if (tls.status === "fail") {
      for (const n of AFTER_TLS) skip(n, "the TLS check failed: clients cannot connect")
      return report(true)
    }
  }

  // 4. NIP-11 and CORS
  let facts: RelayFacts | undefined
  let nip11Answer: HttpAnswer | undefined
  await run("nip11", async () => {
    const a = await httpAsk(t, "GET", { accept: "application/nostr+json", origin: "https://example.com" }, ms, ca)
    nip11Answer = a
    if (a.status !== 200) {
      return { status: "fail", detail: `GET with Accept: application/nostr+json answered HTTP ${a.status} ${a.statusText}${a.status === 404 ? " (no NIP-11 document at this path)" : ""}` }
    }
    let doc: unknown
    try {
      doc = JSON.parse(a.body)
    } catch {
      return { status: "fail", detail: `the answer is not JSON (a proxy dropping the Accept header, or a web page?): ${quote(a.body.trim(), 80)}` }
    }
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return { status: "fail", detail: `the answer is not a JSON object: ${quote(a.body.trim(), 80)}` }
    const d = doc as Record<string, unknown>
    const warnings: Array<string> = []
    const contentType = String(a.headers["content-type"] ?? "")
    if (!/application\/nostr\+json/i.test(contentType)) warnings.push(`content-type is ${quote(contentType || "(none)")}, not application/nostr+json`)
    const name = typeof d["name"] === "string" ? d["name"] : undefined
    if (name === undefined) warnings.push("no name")
    const rawNips = d["supported_nips"]
    const nips = Array.isArray(rawNips) ? rawNips.filter((n): n is number => Number.isInteger(n)) : []
    if (!Array.isArray(rawNips)) warnings.push("no supported_nips list")
    else if (nips.length !== rawNips.length) warnings.push("supported_nips holds values that are not integers")
    const limitation = d["limitation"]
    const lim = typeof limitation === "object" && limitation !== null && !Array.isArray(limitation) ? (limitation as Record<string, unknown>) : undefined
    if (limitation !== undefined && lim === undefined) warnings.push("limitation is not an object")
    const maxLimit = typeof lim?.["max_limit"] === "number" && Number.isInteger(lim["max_limit"]) && lim["max_limit"] > 0 ? lim["max_limit"] : undefined
    facts = { nips, maxLimit }
    const software = [d["software"], d["version"]].filter((x) => typeof x === "string" && x !== "").join(" ")
    const limits = lim
      ? ["max_limit", "max_message_length", "max_subscriptions", "auth_required", "restricted_writes", "payment_required"]
          .filter((k) => lim[k] !== undefined)
          .map((k) => `${k} ${JSON.stringify(lim[k])}`)
          .join(", ")
      : "no limitation"
    const summary = `${name !== undefined ? quote(name, 60) : "(unnamed)"}${software ? ` (${software})` : ""}, NIPs ${nips.join(" ") || "none"}; ${limits || "limitation {}"}`
    const data = { name, software: d["software"], version: d["version"], supportedNips: nips, limitation: lim, contentType }
    return warnings.length > 0 ? { status: "warn", detail: `${warnings.join("; ")}: ${summary}`, data } : { status: "pass", detail: summary, data }
  })
  if (nip11Answer === undefined) skip("cors", "no answer to the NIP-11 request")
  else {
    const got = nip11Answer
    await run("cors", async () => {
      const problems: Array<string> = []
      const allowOrigin = got.headers["access-control-allow-origin"]
      if (allowOrigin === undefined) problems.push("the NIP-11 answer has no Access-Control-Allow-Origin header: web clients cannot read it")
      const pre = await httpAsk(t, "OPTIONS", { origin: "https://example.com", "access-control-request-method": "GET", "access-control-request-headers": "accept" }, ms, ca)
      const preOrigin = pre.headers["access-control-allow-origin"]
      if (pre.status < 200 || pre.status >= 300) problems.push(`the OPTIONS preflight answered HTTP ${pre.status} ${pre.statusText}`)
      else if (preOrigin === undefined) problems.push("the OPTIONS preflight has no Access-Control-Allow-Origin header")
      const data = { allowOrigin, preflightStatus: pre.status, preflightAllowOrigin: preOrigin, preflightAllowMethods: pre.headers["access-control-allow-methods"], preflightAllowHeaders: pre.headers["access-control-allow-headers"] }
      if (problems.length > 0) return { status: "warn", detail: problems.join("; "), data }
      return { status: "pass", detail: `Access-Control-Allow-Origin ${quote(String(allowOrigin))}; preflight HTTP ${pre.status}${pre.headers["access-control-allow-methods"] ? `, methods ${quote(String(pre.headers["access-control-allow-methods"]))}` : ""}`, data }
    })
  }
  const claims = (nip: number) => facts?.nips.includes(nip) === true

  // 5. WebSocket upgrade, ping/pong, close
  let connectMs: number | undefined
  const wsCheck = await run("websocket", async () => {
    const s = await Session.open(t, ms, ca)
    connectMs = s.connectMs
    const pong = await s.ping()
    const closed = await s.close()
    const problems: Array<string> = []
    let status: CheckStatus = "pass"
    if (pong === undefined) {
      status = "fail"
      problems.push(`no pong to our ping within ${ms} ms`)
    }
    if (closed === undefined) {
      if (status === "pass") status = "warn"
      problems.push(`no answer to our close frame within ${ms} ms`)
    } else if (closed.code !== 1000) {
      if (status === "pass") status = "warn"
      problems.push(`our close (1000) was answered with code ${closed.code}${closed.code === 1005 ? " (no status)" : closed.code === 1006 ? " (no close frame: the connection was cut)" : ""}`)
    }
    const facts = `101 in ${fmtMs(s.connectMs)} ms, subprotocol ${s.ws.protocol ? quote(s.ws.protocol) : "none"}, extensions ${s.ws.extensions ? quote(s.ws.extensions) : "none"}, pong ${pong === undefined ? "none" : `${fmtMs(pong)} ms`}, close code ${closed?.code ?? "none"}`
    return {
      status,
      detail: problems.length > 0 ? `${problems.join("; ")} (${facts})` : facts,
      data: { connectMs: s.connectMs, protocol: s.ws.protocol, extensions: s.ws.extensions, pongMs: pong, closeCode: closed?.code }
    }
  })
  if (wsCheck.status === "fail" && connectMs === undefined) {
    for (const n of AFTER_WS) skip(n, "no WebSocket connection")
    return report(true)
  }

  // 6. publish and read back
  let session: Session | undefined
  let probe: { readonly event: NostrEvent; readonly accepted: boolean; readonly readBack: boolean } | undefined
  await run("publish", async () => {
    session = await Session.open(t, ms, ca)
    const s = session
    const created = now()
    const event = signEvent(probeKey, {
      kind: 1,
      created_at: created,
      tags: [["expiration", String(created + 600)]],
      content: `parrhesia doctor probe ${token}: a test note, expires in 10 minutes`
    })
    const t0 = performance.now()
    const ok = await s.ask(["EVENT", event], (f) => f[0] === "OK" && f[1] === event.id, "our EVENT", authKey)
    const accepted = ok[2] === true
    const message = typeof ok[3] === "string" ? ok[3] : ""
    const afterAuth = s.auth?.trigger === "our EVENT" ? (s.auth.accepted ? " after NIP-42 AUTH" : ` (our AUTH was refused: ${quote(s.auth.message)})`) : ""
    const data = { id: event.id, pubkey: event.pubkey, accepted, message }
    if (!accepted) {
      probe = { event, accepted: false, readBack: false }
      const policy = POLICY_PREFIXES.some((p) => message.startsWith(p))
      return { status: policy ? "warn" : "fail", detail: `kind 1 refused${afterAuth}: OK false ${quote(message)}`, data }
    }
    const r = await s.query([{ ids: [event.id] }], "the REQ for our event", authKey)
    const took = elapsed(t0)
    const found = r.events.find((e) => e.id === event.id)
    probe = { event, accepted: true, readBack: found !== undefined }
    if (r.end.type === "CLOSED") return { status: "fail", detail: `OK true ${quote(message)}${afterAuth}, but the REQ by id was refused: CLOSED ${quote(r.end.message)}`, data }
    if (found === undefined) return { status: "fail", detail: `OK true ${quote(message)}${afterAuth}, but a REQ by id did not return the event`, data }
    if (found.content !== event.content || found.sig !== event.sig) return { status: "fail", detail: `OK true ${quote(message)}${afterAuth}, but the event read back differs from the one published`, data }
    return { status: "pass", detail: `OK true ${quote(message)}${afterAuth}; read back by id, round trip ${fmtMs(took)} ms`, data: { ...data, roundTripMs: took } }
  })
  const s = session
  if (s === undefined) {
    for (const n of AFTER_PUBLISH) skip(n, "no WebSocket connection")
    return report(true)
  }
  try {
    // 7. AUTH
    await run("auth", async () => {
      const given = options.authKey !== undefined
      let auth = s.auth
      if (auth === undefined && s.challenge !== undefined) auth = await s.authenticate(authKey, "the doctor")
      if (auth === undefined) {
        return { status: "skip", detail: `the relay sent no AUTH challenge${claims(42) ? " (NIP-11 lists 42: it asks when something needs it)" : ""}${given ? "; --auth-key unused" : ""}` }
      }
      const when = s.challengeOnConnect ? "challenge sent on connect" : "challenge sent when needed"
      const who = `${given ? "--auth-key" : "the throwaway key"} ${auth.pubkey.slice(0, 16)}…`
      const why = auth.trigger === "the doctor" ? "" : ` (asked for by the relay on ${auth.trigger})`
      const data = { challengeOnConnect: s.challengeOnConnect, pubkey: auth.pubkey, accepted: auth.accepted, message: auth.message, trigger: auth.trigger }
      if (auth.accepted) return { status: "pass", detail: `${when}; AUTH as ${who} accepted${why}`, data }
      return { status: given ? "fail" : "warn", detail: `${when}; AUTH as ${who} refused${why}: OK false ${quote(auth.message)}`, data }
    })

    // 8. latency
    await run("latency", async () => {
      const times: Array<number> = []
      for (let i = 0; i < rounds; i++) {
        const r = await s.query([{ ids: [randomHex(32)], limit: 1 }], `REQ ${i + 1} of ${rounds}`, authKey)
        if (r.end.type === "CLOSED") return { status: "fail", detail: `REQ ${i + 1} of ${rounds} was refused: CLOSED ${quote(r.end.message)}` }
        times.push(r.ms)
      }
      const sorted = [...times].sort((a, b) => a - b)
      const p50 = percentile(sorted, 0.5)
      const p95 = percentile(sorted, 0.95)
      const max = sorted[sorted.length - 1]!
      const detail = `${rounds} REQs: p50 ${fmtMs(p50)} ms, p95 ${fmtMs(p95)} ms, max ${fmtMs(max)} ms; connect ${connectMs === undefined ? "?" : fmtMs(connectMs)} ms`
      const data = { rounds, p50, p95, max, connectMs }
      return p95 > 1000 ? { status: "warn", detail: `slow: ${detail}`, data } : { status: "pass", detail, data }
    })

    // 9. claims against behaviour
    const notListed = (nip: number) => (facts === undefined ? "no NIP-11 document" : `NIP-11 does not list ${nip}`)
    const claimed = (nip: number, name: string, what: string, f: () => Promise<Outcome>): Promise<unknown> =>
      claims(nip)
        ? run(name, async () => {
            try {
              return await f()
            } catch (e) {
              return { status: "fail", detail: `claims NIP-${nip} but ${e instanceof Timeout ? `did not answer ${what} within ${ms} ms` : `${what} failed: ${errorText(e)}`}` }
            }
          })
        : Promise.resolve(skip(name, notListed(nip)))

    await claimed(45, "nip45-count", "COUNT", async () => {
      const sub = newSubId("count")
      const f = await s.ask(["COUNT", sub, { ids: [probe?.event.id ?? randomHex(32)] }], (x) => (x[1] === sub && (x[0] === "COUNT" || x[0] === "CLOSED")) || x[0] === "NOTICE", "COUNT", authKey)
      if (f[0] === "CLOSED") return { status: "fail", detail: `claims NIP-45 but answered COUNT with CLOSED: ${quote(String(f[2] ?? ""))}` }
      if (f[0] === "NOTICE") return { status: "fail", detail: `claims NIP-45 but answered COUNT with NOTICE: ${quote(String(f[1] ?? ""))}` }
      const count = (f[2] as { count?: unknown } | undefined)?.count
      if (typeof count !== "number") return { status: "fail", detail: `claims NIP-45 but its COUNT answer has no count: ${quote(JSON.stringify(f[2]))}` }
      if (probe?.readBack === true && count !== 1) return { status: "fail", detail: `COUNT of our event's id answered ${count}, expected 1` }
      return { status: "pass", detail: `COUNT answered ${JSON.stringify(f[2]).slice(0, 80)}`, data: { count } }
    })

    await claimed(50, "nip50-search", "a search REQ", async () => {
      const r = await s.query([{ search: token, kinds: [1], limit: 10 }], "a search REQ", authKey)
      if (r.end.type === "CLOSED") return { status: "fail", detail: `claims NIP-50 but answered a search REQ with CLOSED: ${quote(r.end.message)}` }
      const found = probe !== undefined && r.events.some((e) => e.id === probe!.event.id)
      return {
        status: "pass",
        detail: `a search REQ got EOSE${found ? ", with our event" : probe?.readBack === true ? " (our event not found: the index may lag)" : ""}, ${fmtMs(r.ms)} ms`,
        data: { found, results: r.events.length }
      }
    })

    await claimed(77, "nip77-negentropy", "NEG-OPEN", async () => {
      const sub = newSubId("neg")
      const mine = new Negentropy(new Storage([]))
      const f = await s.ask(
        ["NEG-OPEN", sub, { ids: [probe?.event.id ?? randomHex(32)] }, bytesToHex(mine.initiate())],
        (x) => (x[1] === sub && (x[0] === "NEG-MSG" || x[0] === "NEG-ERR" || x[0] === "CLOSED")) || x[0] === "NOTICE",
        "NEG-OPEN",
        authKey
      )
      if (f[0] === "NOTICE") return { status: "fail", detail: `claims NIP-77 but answered NEG-OPEN with NOTICE: ${quote(String(f[1] ?? ""))}` }
      if (f[0] !== "NEG-MSG") return { status: "fail", detail: `claims NIP-77 but answered NEG-OPEN with ${f[0]}: ${quote(String(f[2] ?? ""))}` }
      s.send(["NEG-CLOSE", sub])
      const hex = f[2]
      if (typeof hex !== "string" || !/^(?:[0-9a-f]{2})+$/i.test(hex)) return { status: "fail", detail: `claims NIP-77 but its NEG-MSG is not hex: ${quote(String(hex))}` }
      let need: ReadonlyArray<string>
      try {
        need = mine.reconcile(hexToBytes(hex.toLowerCase())).need
      } catch (e) {
        return { status: "fail", detail: `claims NIP-77 but sent an invalid negentropy message: ${errorText(e)}` }
      }
      const has = probe !== undefined && need.includes(probe.event.id)
      return { status: "pass", detail: `NEG-OPEN answered with a valid NEG-MSG${has ? " (it holds our event)" : ""}`, data: { need: need.length } }
    })

    if (!claims(40)) skip("nip40-expiration", notListed(40))
    else if (probe?.accepted !== true) skip("nip40-expiration", "our event was refused: cannot tell")
    else
      await claimed(40, "nip40-expiration", "an expired EVENT", async () => {
        const created = now()
        const expired = signEvent(probeKey, {
          kind: 1,
          created_at: created - 120,
          tags: [["expiration", String(created - 60)]],
          content: `parrhesia doctor probe ${token}: expired a minute ago`
        })
        const ok = await s.ask(["EVENT", expired], (x) => x[0] === "OK" && x[1] === expired.id, "an expired EVENT", authKey)
        const message = typeof ok[3] === "string" ? ok[3] : ""
        if (ok[2] !== true) return { status: "pass", detail: `an already expired event was refused: OK false ${quote(message)}` }
        const r = await s.query([{ ids: [expired.id] }], "the REQ for the expired event", authKey)
        if (r.events.some((e) => e.id === expired.id)) return { status: "fail", detail: `claims NIP-40 but accepted an already expired event (OK true ${quote(message)}) and serves it` }
        return { status: "pass", detail: `an already expired event was accepted (OK true ${quote(message)}) but is not served` }
      })

    const maxLimit = facts?.maxLimit
    if (maxLimit === undefined) skip("max-limit", facts === undefined ? "no NIP-11 document" : "NIP-11 sets no limitation.max_limit")
    else if (maxLimit > 10_000) skip("max-limit", `max_limit ${maxLimit} is too large to probe`)
    else
      await run("max-limit", async () => {
        const r = await s.query([{ limit: maxLimit + 1 }], `a REQ with limit ${maxLimit + 1}`, authKey)
        const n = r.events.length
        if (r.end.type === "CLOSED") return { status: "warn", detail: `a REQ with limit ${maxLimit + 1} (max_limit + 1) was refused, not clamped: CLOSED ${quote(r.end.message)}` }
        if (n > maxLimit) return { status: "fail", detail: `claims max_limit ${maxLimit} but returned ${n} events for limit ${maxLimit + 1}` }
        if (n === maxLimit) return { status: "pass", detail: `returned ${n} events (max_limit) for limit ${maxLimit + 1}` }
        return { status: "skip", detail: `only ${n} event${n === 1 ? "" : "s"} returned, fewer than max_limit ${maxLimit}: cannot tell` }
      })
  } finally {
    await s.close()
  }
  return report(true)
}

const AFTER_WS = ["publish", "auth", "latency", "nip45-count", "nip50-search", "nip77-negentropy", "nip40-expiration", "max-limit"]
const AFTER_PUBLISH = AFTER_WS.slice(1)
const AFTER_TLS = ["nip11", "cors", "websocket", ...AFTER_WS]
const AFTER_TCP = ["tls", ...AFTER_TLS]
const AFTER_DNS = ["tcp", ...AFTER_TCP]

/** Every check, in order. */
export const CHECK_NAMES: ReadonlyArray<string> = ["dns", ...AFTER_DNS]

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
const NAME_WIDTH = Math.max(...["dns", ...AFTER_DNS].map((n) => n.length))

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
