/**
 * JIT warm-up before the port opens: the REQ and EVENT paths run a few thousand times in-process,
 * so the first clients after a start (a restarted relay meets its reconnecting clients) are served
 * by optimized code rather than V8's interpreter and baseline tiers. Measured on the 2-core
 * development machine: 20 REQs at once on connections idle 10 s, right after start, p50 7.5 ms
 * cold against 2.6-3.6 ms once warm.
 *
 * What runs: a few connections over a transport that is no socket (frames are dropped), each
 * sent what a client sends: REQs of the benchmark's four shapes (newest by kind,
 * one author, one `#p`, 20 ids, built from what is stored so they are answered the way real ones
 * are: from the hot window when it holds them) each followed by its CLOSE, and EVENTs with a
 * well-formed id and a wrong signature (limits, id hash, the verifier thread's round trip, the
 * refusal). So the connection, the handlers, the outbound queue, Query and Ingest all run; and as
 * many round trips over a loopback WebSocket pair of its own (ws's frame code, Node's streams),
 * on a port of its own, closed before the relay's opens. Nothing
 * is stored or sent; the connections' subscriptions end with them; their rate limits are a limiter
 * that allows everything, their metrics go to a registry of their own, nothing is traced, and the recent OK/EOSE
 * latencies they recorded are cleared (the hot window's answer counters do count the REQs).
 * `warmUpMessages` (0: off) sets how many of each; it stops after 1.5 s whatever is left.
 */
import { randomBytes } from "node:crypto"
import WebSocket, { WebSocketServer } from "ws"
import { Context, Effect, Metric } from "effect"
import { computeEventId } from "../nostr/index.ts"
import * as M from "../observability/metrics.ts"
import type { RequestContext } from "../policy/Policy.ts"
import type { RateLimiterShape } from "../policy/RateLimiter.ts"
import { Connection, type ConnectionHost } from "./Connection.ts"
import type { RelayServices } from "./handlers/Conn.ts"
import type { Transport, TransportListener } from "./Transport.ts"

const MAX_MS = 1500

/** Distinct pubkeys, `p` values and ids picked from the newest stored events. */
interface Samples {
  readonly authors: Array<string>
  readonly ps: Array<string>
  readonly ids: Array<string>
}

const pick = <A>(xs: ReadonlyArray<A>, i: number, fallback: A): A => (xs.length === 0 ? fallback : xs[i % xs.length]!)

/** A REQ filter as a client writes it (tags as "#p"). */
const reqFilter = (i: number, s: Samples, random: string): Record<string, unknown> => {
  switch (i % 4) {
    case 0:
      return { kinds: [1], limit: 100 }
    case 1:
      return { authors: [pick(s.authors, i, random)], limit: 50 }
    case 2:
      return { "#p": [pick(s.ps, i, random)], limit: 50 }
    default:
      return { ids: Array.from({ length: 20 }, (_, k) => pick(s.ids, i * 20 + k, random)) }
  }
}

/** An EVENT frame whose id is right and whose signature is not (refused after the verifier's check). */
const badlySignedEvent = (i: number, pubkey: string): string => {
  const e = {
    pubkey,
    created_at: Math.floor(Date.now() / 1000) - (i % 600),
    kind: 1,
    tags: [["p", pubkey], ["t", "warm-up"]],
    content: `warm-up ${i} ${"x".repeat(i % 200)}`
  }
  return JSON.stringify(["EVENT", { id: computeEventId(e), ...e, sig: "0".repeat(128) }])
}

/** A socket that is not there: frames are dropped (flushed at once); closing ends the connection. */
class NullTransport implements Transport {
  private listener: TransportListener | undefined
  private waiting: { readonly ends: (frame: string) => boolean; readonly resume: () => void } | undefined
  /** Calls `resume` when a frame `ends` says answers the message about to be sent. */
  awaitAnswer(ends: (frame: string) => boolean, resume: () => void): void {
    this.waiting = { ends, resume }
  }
  send = (frame: string, onFlushed?: () => void): void => {
    onFlushed?.()
    const w = this.waiting
    if (w !== undefined && w.ends(frame)) {
      this.waiting = undefined
      w.resume()
    }
  }
  bufferedAmount = (): number => 0
  close = (_code: number, _reason: string): void => this.listener?.onClose(1000)
  terminate = (): void => this.listener?.onClose(1006)
  ping = (): void => {}
  pause = (): void => {}
  resume = (): void => {}
  listen = (listener: TransportListener): void => {
    this.listener = listener
  }
}

const allowAll: RateLimiterShape = {
  tryEvent: () => Effect.succeed(true),
  tryRead: () => Effect.succeed(true),
  connectionOpened: () => true,
  connectionClosed: () => {},
  sweep: Effect.succeed(0)
}

const CONNECTIONS = 4
const endsReq = (frame: string) => frame.startsWith('["EOSE"') || frame.startsWith('["CLOSED"')
const endsEvent = (frame: string) => frame.startsWith('["OK"') || frame.startsWith('["NOTICE"')

/**
 * The socket layer (ws's frame reader and writer, Node's stream code) over a loopback pair of its
 * own, on a port of its own that closes again: client-sized frames one way, answer-sized the other.
 */
const warmSockets = (rounds: number, deadline: number): Promise<number> =>
  new Promise((resolve) => {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false, clientTracking: false })
    let done = 0
    const finish = (client?: WebSocket) => {
      client?.terminate()
      wss.close()
      resolve(done)
    }
    wss.on("error", () => finish())
    wss.on("connection", (server) => {
      const answer = `["EVENT","w",${JSON.stringify({ content: "x".repeat(400) })}]`
      server.on("message", (data) => {
        server.send(answer)
        server.send(`["EOSE",${JSON.stringify(String(data).slice(8, 16))}]`)
      })
    })
    wss.on("listening", () => {
      const { port } = wss.address() as { port: number }
      const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false })
      client.on("error", () => finish(client))
      let got = 0
      const next = () => {
        if (done >= rounds || performance.now() > deadline) return finish(client)
        client.send(`["REQ","w${done}",{"kinds":[1],"limit":100}]`)
      }
      client.on("message", () => {
        if (++got % 2 === 0) {
          done++
          next()
        }
      })
      client.on("open", next)
    })
  })

export const warmUp = (
  services: RelayServices,
  context: Context.Context<never>,
  messages: number
): Effect.Effect<{ readonly reqs: number; readonly events: number; readonly frames: number; readonly ms: number }> =>
  Effect.gen(function* () {
    if (messages <= 0) return { reqs: 0, events: 0, frames: 0, ms: 0 }
    const started = performance.now()
    // At most this long in all (a relay without the native verifier checks signatures at ~700/s).
    const deadline = started + MAX_MS
    const ctx: RequestContext = { connectionId: -1, ip: "127.0.0.1", authenticated: new Set() }
    const newest = yield* services.query.run(ctx, [{ kinds: [1], limit: 100 }]).pipe(Effect.orElseSucceed(() => []))
    const samples: Samples = { authors: [], ps: [], ids: [] }
    for (const s of newest) {
      const e = s.event()
      samples.ids.push(e.id)
      samples.authors.push(e.pubkey)
      for (const t of e.tags) if (t[0] === "p" && t[1] !== undefined) samples.ps.push(t[1])
    }
    const random = randomBytes(32).toString("hex")

    // Their metrics go to a registry of their own, and no span is traced.
    const fork = Effect.runForkWith(Context.add(context, Metric.MetricRegistry, new Map()))
    const host: ConnectionHost = {
      services: { ...services, limiter: allowAll },
      runFork: (effect) => fork(Effect.withTracerEnabled(effect, false)),
      ended: () => {}
    }
    const transports = Array.from({ length: CONNECTIONS }, () => new NullTransport())
    const connections = transports.map((t, k) => new Connection(t, { id: -1 - k, ip: "warm-up" }, host))
    for (const c of connections) c.start()

    // Each connection sends one message at a time and waits for the frame that ends its answer.
    let reqs = 0
    let events = 0
    const exchange = (k: number, text: string, ends: (frame: string) => boolean) =>
      Effect.callback<void>((resume) => {
        transports[k]!.awaitAnswer(ends, () => resume(Effect.void))
        connections[k]!.onMessage(text)
      })
    yield* Effect.forEach(
      connections.map((_, k) => k),
      (k) =>
        Effect.gen(function* () {
          for (let i = k; i < messages; i += CONNECTIONS) {
            if (performance.now() > deadline) break
            const subId = `w${i}`
            yield* exchange(k, JSON.stringify(["REQ", subId, reqFilter(i, samples, random)]), endsReq)
            connections[k]!.onMessage(JSON.stringify(["CLOSE", subId]))
            reqs++
          }
          for (let i = k; i < messages; i += CONNECTIONS) {
            if (performance.now() > deadline) break
            yield* exchange(k, badlySignedEvent(i, random), endsEvent)
            events++
          }
        }),
      { concurrency: "unbounded", discard: true }
    ).pipe(
      // An answer that never ends (it should not happen) must not hold the port closed.
      Effect.timeoutOrElse({ duration: MAX_MS * 2, orElse: () => Effect.void })
    )
    for (const t of transports) t.close(1000, "")
    const frames = yield* Effect.promise(() => warmSockets(messages, deadline))
    // Their fibers end with them; recent latencies are the clients' only.
    yield* Effect.yieldNow
    M.okLatency.clear()
    M.eoseLatency.clear()
    return { reqs, events, frames, ms: Math.round(performance.now() - started) }
  })
