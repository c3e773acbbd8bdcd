/**
 * JIT warm-up before the port opens: the REQ and EVENT paths run a few thousand times in-process,
 * so the first clients after a start (a restarted relay meets its reconnecting clients) are served
 * by optimized code rather than V8's interpreter and baseline tiers. Measured on the 2-core
 * development machine: 20 REQs at once on connections idle 10 s, right after start, p50 7.5 ms
 * cold against 2.6-3.6 ms once warm.
 *
 * What runs: client frames decoded as from the socket; REQs of the benchmark's four shapes
 * (newest by kind, one author, one `#p`, 20 ids, built from what is stored so they are answered
 * the way real ones are: from the hot window when it holds them) through Query, their answers
 * framed; EVENTs with a well-formed id and a wrong signature through Ingest (limits, id hash, the
 * verifier thread's round trip, the refusal), their OK framed. Nothing is stored, sent or
 * subscribed, and no connection, rate-limit bucket or message counter is touched (the hot
 * window's answer counters do count the REQs). `warmUpMessages` (0: off) sets how many of each;
 * it stops after 1.5 s whatever is left.
 */
import { randomBytes } from "node:crypto"
import { Effect } from "effect"
import { computeEventId, decodeClientMessage, encodeEose, encodeOk, eventFramePrefix } from "../nostr/index.ts"
import type { RequestContext } from "../policy/Policy.ts"
import type { RelayServices } from "./handlers/Conn.ts"

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

export const warmUp = (services: RelayServices, messages: number): Effect.Effect<{ readonly reqs: number; readonly events: number; readonly ms: number }> =>
  Effect.gen(function* () {
    if (messages <= 0) return { reqs: 0, events: 0, ms: 0 }
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
    let reqs = 0
    yield* Effect.forEach(
      Array.from({ length: messages }, (_, i) => i),
      (i) => {
        if (performance.now() > deadline) return Effect.void
        const subId = `warm-up-${i}`
        const decoded = decodeClientMessage(JSON.stringify(["REQ", subId, reqFilter(i, samples, random)]))
        if (!("message" in decoded) || decoded.message.type !== "REQ") return Effect.void
        const raw = decoded.message.filters
        return services.query.prepare(raw, ctx).pipe(
          Effect.flatMap((filters) => services.query.run(ctx, filters)),
          Effect.map((served) => {
            const prefix = eventFramePrefix(subId)
            let bytes = 0
            for (const s of served) bytes += (prefix + s.json + "]").length
            reqs++
            return bytes + encodeEose(subId).length
          }),
          Effect.ignore
        )
      },
      { concurrency: 4, discard: true }
    )
    let events = 0
    yield* Effect.forEach(
      Array.from({ length: messages }, (_, i) => i),
      (i) => {
        if (performance.now() > deadline) return Effect.void
        const decoded = decodeClientMessage(badlySignedEvent(i, random))
        if (!("message" in decoded) || decoded.message.type !== "EVENT") return Effect.void
        return Effect.map(services.ingest.handle(decoded.message.event, ctx), (answer) => {
          events++
          return encodeOk(answer.id, answer.accepted, answer.message).length
        })
      },
      { concurrency: 64, discard: true }
    )
    return { reqs, events, ms: Math.round(performance.now() - started) }
  })
