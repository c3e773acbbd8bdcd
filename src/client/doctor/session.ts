/**
 * One raw WebSocket connection to the relay, as the doctor drives it: frames
 * kept in order and awaited by predicate, NIP-42 AUTH done when the relay
 * answers auth-required:, REQ until EOSE or CLOSED, ping and a clean close.
 * Raw, so that frames that are not JSON, close codes and refused upgrades
 * can be reported as they came. Also the context that the checks run on the
 * publish check's connection share.
 */
import type { IncomingHttpHeaders } from "node:http"
import WebSocket from "ws"
import { signEvent, type Filter, type NostrEvent } from "../../nostr/index.ts"
import { caOption, elapsed, errorText, now, quote, randomHex, readBody, Timeout, type Ca, type CheckContext, type Probe, type RelayFacts, type Target } from "./shared.ts"

export type Frame = ReadonlyArray<any>

export interface CloseInfo {
  readonly code: number
  readonly reason: string
}

export interface AuthOutcome {
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

export interface QueryResult {
  readonly events: ReadonlyArray<NostrEvent>
  readonly end: { readonly type: "EOSE" } | { readonly type: "CLOSED"; readonly message: string }
  readonly ms: number
}

let subCounter = 0
export const newSubId = (what: string) => `doctor-${what}-${(++subCounter).toString(36)}${randomHex(3)}`

/** One raw connection: frames in order, waits on predicates, AUTH when asked. */
export class Session {
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

/** What the checks after publish share: its open connection, the keys, and what the earlier checks found. */
export interface SessionContext extends CheckContext {
  readonly s: Session
  /** The throwaway identity of the probe. */
  readonly probeKey: Uint8Array
  /** The key for NIP-42 AUTH: --auth-key, or the probe's. */
  readonly authKey: Uint8Array
  /** Whether --auth-key was given. */
  readonly authKeyGiven: boolean
  /** Random text in the probe's events, for the search check to find. */
  readonly token: string
  /** REQ round trips for the latency figures. */
  readonly rounds: number
  /** How long the WebSocket check's upgrade took. */
  readonly connectMs: number | undefined
  /** What NIP-11 said, if it answered. */
  readonly facts: RelayFacts | undefined
  /** Whether NIP-11 lists `nip` in supported_nips. */
  readonly claims: (nip: number) => boolean
  /** The publish check's event, if it got that far. */
  readonly probe: Probe | undefined
}
