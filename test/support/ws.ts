/**
 * Raw-protocol WebSocket helpers for end-to-end tests: open a socket, send
 * frames, await the next frame matching a predicate, await the close code.
 * Every wait is on a signal (a frame, a close event); the timeouts only turn
 * a hang into a readable failure.
 */
import WebSocket from "ws"
import type { NostrEvent } from "../../src/nostr/index.ts"

export type Frame = ReadonlyArray<any>

export interface CloseInfo {
  readonly code: number
  readonly reason: string
}

export interface RawClient {
  readonly ws: WebSocket
  /** Every frame received so far, in order (consumed or not). */
  readonly log: ReadonlyArray<Frame>
  /** Sends a value as JSON, or a string as is. */
  readonly send: (frame: unknown) => void
  /** The next not yet consumed frame matching `pred` (frames received earlier count); consumes it. */
  readonly next: (pred?: (f: Frame) => boolean, timeoutMs?: number) => Promise<Frame>
  /** Resolves with the close code and reason once the socket is closed. */
  readonly closed: Promise<CloseInfo>
  readonly close: () => Promise<CloseInfo>
  /** How many pings the socket has received since it was created. */
  readonly pings: () => number
}

export const DEFAULT_TIMEOUT = 5000

export const connect = (url: string, options: WebSocket.ClientOptions = {}): Promise<RawClient> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...options })
    const log: Array<Frame> = []
    const unconsumed: Array<Frame> = []
    const waiters: Array<{ pred: (f: Frame) => boolean; resolve: (f: Frame) => void }> = []
    let closeInfo: CloseInfo | undefined
    const closeWaiters: Array<(c: CloseInfo) => void> = []

    ws.on("message", (data) => {
      const text = data.toString()
      let frame: Frame
      try {
        frame = JSON.parse(text)
      } catch {
        frame = ["<unparseable>", text]
      }
      log.push(frame)
      const i = waiters.findIndex((w) => w.pred(frame))
      if (i >= 0) {
        const [w] = waiters.splice(i, 1)
        w!.resolve(frame)
      } else unconsumed.push(frame)
    })
    ws.on("error", () => {})
    let pings = 0
    ws.on("ping", () => pings++)
    const closed = new Promise<CloseInfo>((res) => {
      ws.once("close", (code, reason) => {
        closeInfo = { code, reason: reason.toString() }
        res(closeInfo)
        for (const w of closeWaiters) w(closeInfo)
      })
    })
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)))
    ws.once("error", (e) => reject(e))

    const next = (pred: (f: Frame) => boolean = () => true, timeoutMs = DEFAULT_TIMEOUT) => {
      const i = unconsumed.findIndex(pred)
      if (i >= 0) return Promise.resolve(unconsumed.splice(i, 1)[0]!)
      return new Promise<Frame>((res, rej) => {
        const waiter = {
          pred,
          resolve: (f: Frame) => {
            clearTimeout(timer)
            res(f)
          }
        }
        const timer = setTimeout(() => {
          const j = waiters.indexOf(waiter)
          if (j >= 0) waiters.splice(j, 1)
          rej(new Error(`no matching frame within ${timeoutMs} ms${closeInfo ? ` (socket closed ${closeInfo.code})` : ""}; last frames: ${JSON.stringify(log.slice(-5)).slice(0, 600)}`))
        }, timeoutMs)
        waiters.push(waiter)
      })
    }

    ws.once("open", () =>
      resolve({
        ws,
        log,
        send: (frame) => ws.send(typeof frame === "string" ? frame : JSON.stringify(frame)),
        next,
        closed,
        close: () => {
          if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close()
          return closed
        },
        pings: () => pings
      })
    )
  })

/** Rejects if the promise does not settle in time (turns hangs into failures). */
export const within = <A>(p: Promise<A>, ms: number, what: string): Promise<A> =>
  new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
    p.then(
      (a) => {
        clearTimeout(t)
        resolve(a)
      },
      (e) => {
        clearTimeout(t)
        reject(e)
      }
    )
  })

// ---------------------------------------------------------------- protocol helpers

export const isOk = (id: string) => (f: Frame) => f[0] === "OK" && f[1] === id
export const isNotice = (f: Frame) => f[0] === "NOTICE"
export const forSub = (subId: string, ...types: ReadonlyArray<string>) => (f: Frame) =>
  f[1] === subId && (types.length === 0 || types.includes(f[0]))

/** Sends an EVENT and resolves with its OK frame: [accepted, message]. */
export const publish = async (c: RawClient, e: NostrEvent | Record<string, unknown>): Promise<{ accepted: boolean; message: string }> => {
  c.send(["EVENT", e])
  const f = await c.next(isOk(String((e as { id?: unknown }).id)))
  return { accepted: f[2], message: f[3] }
}

/** Publishes and expects OK true (with any message). */
export const publishOk = async (c: RawClient, e: NostrEvent) => {
  const r = await publish(c, e)
  if (!r.accepted) throw new Error(`expected OK true for ${e.id}, got ${JSON.stringify(r)}`)
  return r
}

/** Publishes each event over one connection to `url`, each acknowledged before the next. */
export const publishAll = async (url: string, events: ReadonlyArray<NostrEvent>): Promise<void> => {
  const c = await connect(url)
  for (const e of events) await publishOk(c, e)
  await c.close()
}

/** Every stored id for the filter at `url`, sorted, paging back with `until` (a relay may clamp `limit`). */
export const storedIds = async (url: string, filter: Record<string, unknown> = {}): Promise<Array<string>> => {
  const c = await connect(url)
  const ids = new Set<string>()
  let until: number | undefined
  for (let page = 0; ; page++) {
    const r = await req(c, `p${page}`, { ...filter, limit: 5000, ...(until === undefined ? {} : { until }) })
    const fresh = r.events.filter((e) => !ids.has(e.id))
    if (fresh.length === 0) break
    for (const e of fresh) ids.add(e.id)
    until = Math.min(...r.events.map((e) => e.created_at))
  }
  await c.close()
  return [...ids].sort()
}

export interface ReqResult {
  readonly events: Array<NostrEvent>
  /** "EOSE" or the CLOSED message. */
  readonly end: { readonly type: "EOSE" } | { readonly type: "CLOSED"; readonly message: string }
}

/** Collects the stored EVENTs of a subscription until its EOSE or CLOSED (already sent REQ). */
export const collect = async (c: RawClient, subId: string): Promise<ReqResult> => {
  const events: Array<NostrEvent> = []
  for (;;) {
    const f = await c.next(forSub(subId, "EVENT", "EOSE", "CLOSED"))
    if (f[0] === "EVENT") events.push(f[2])
    else if (f[0] === "EOSE") return { events, end: { type: "EOSE" } }
    else return { events, end: { type: "CLOSED", message: f[2] } }
  }
}

/** Sends a REQ and collects its stored events until EOSE/CLOSED. */
export const req = (c: RawClient, subId: string, ...filters: ReadonlyArray<unknown>): Promise<ReqResult> => {
  c.send(["REQ", subId, ...filters])
  return collect(c, subId)
}

/** Sends a REQ and expects it to be refused; resolves with the CLOSED message. */
export const reqClosed = async (c: RawClient, subId: string, ...filters: ReadonlyArray<unknown>): Promise<string> => {
  const r = await req(c, subId, ...filters)
  if (r.end.type !== "CLOSED") throw new Error(`expected CLOSED for ${subId}, got EOSE after ${r.events.length} events`)
  return r.end.message
}

/** The next live EVENT on a subscription. */
export const nextEvent = async (c: RawClient, subId: string, timeoutMs?: number): Promise<NostrEvent> =>
  (await c.next(forSub(subId, "EVENT"), timeoutMs))[2]

/** Frames of the log for one subscription and type (consumed or not). */
export const logged = (c: RawClient, type: string, subId?: string) =>
  c.log.filter((f) => f[0] === type && (subId === undefined || f[1] === subId))

export const now = () => Math.floor(Date.now() / 1000)
