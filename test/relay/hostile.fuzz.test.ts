/**
 * Hostile input, part 1: a property-based fuzz of 100,000 frames against a
 * real relay (memory store). Random bytes, random JSON, every message type
 * with wrong types in every position and broken arities, deep nesting, huge
 * numbers and long strings, NUL bytes, invalid UTF-8 (binary frames; in a
 * text frame it must close that socket with 1007).
 *
 * Asserted for every batch: each frame that needs an answer gets exactly one
 * terminal answer (OK / CLOSED / NEG-ERR with a NIP-01 prefix, or a NOTICE
 * with one; EOSE / COUNT / NEG-MSG when the fuzz happened to build a valid
 * request), no fuzz connection is closed, and a well-behaved publisher and
 * subscriber on other connections see each of their live events. Afterwards
 * the stored data is exactly what the well-behaved clients published, and
 * memory is back near where it started.
 *
 * PARRHESIA_SOAK=1 fuzzes 1,000,000 frames instead.
 */
import fc from "fast-check"
import WebSocket from "ws"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { describeMemory, memory, type MemorySnapshot } from "../support/hostile.ts"
import { answered, framesOf, PREFIXED, relayText, unitArb, type Pools } from "../support/hostileFrames.ts"
import { makeEvent, newKey, type Key } from "../support/nostr.ts"
import { startRelay, type TestRelay } from "../support/relay.ts"
import { connect, nextEvent, now, publishOk, req, within, type RawClient } from "../support/ws.ts"

const SOAK = process.env.PARRHESIA_SOAK === "1"
const TOTAL_FRAMES = SOAK ? 1_000_000 : 100_000
const BATCH = 1000
const FUZZ_CONNECTIONS = 4
// ---------------------------------------------------------------- a counting client

/** Terminal answers: one per answered frame. EVENT (results, live) and AUTH (challenges) come besides. */
const TERMINAL = new Set(["OK", "NOTICE", "CLOSED", "EOSE", "COUNT", "NEG-ERR", "NEG-MSG"])

interface FuzzClient {
  readonly ws: WebSocket
  expected: number
  answers: number
  readonly violations: Array<string>
  /** Answers by type (for the report). */
  readonly types: Map<string, number>
  readonly closed: Promise<number>
  /** Resolves once every frame sent so far has its answer. */
  readonly settled: (timeoutMs: number) => Promise<void>
}

/** A client that keeps no frames: it counts answers, checks their prefixes, and closes each subscription and negentropy session once answered. */
const fuzzClient = (url: string): Promise<FuzzClient> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    let wake: (() => void) | undefined
    const violations: Array<string> = []
    const violation = (text: string) => {
      if (violations.length < 20) violations.push(text.slice(0, 300))
    }
    const c: FuzzClient = {
      ws,
      expected: 0,
      answers: 0,
      violations,
      types: new Map(),
      closed: new Promise((r) => ws.once("close", (code) => r(code))),
      settled: (timeoutMs) =>
        c.answers >= c.expected
          ? Promise.resolve()
          : new Promise<void>((resolve, reject) => {
              const timer = setTimeout(() => {
                wake = undefined
                reject(new Error(`${c.answers} answers to ${c.expected} frames after ${timeoutMs} ms (socket ${ws.readyState === ws.OPEN ? "open" : "closed"})`))
              }, timeoutMs)
              wake = () => {
                clearTimeout(timer)
                resolve()
              }
            })
    }
    ws.on("message", (data) => {
      const text = data.toString()
      let f: Array<unknown>
      try {
        f = JSON.parse(text)
      } catch {
        return violation(`unparseable answer: ${text}`)
      }
      const type = f[0]
      if (type === "EVENT" || type === "AUTH") return
      if (typeof type !== "string" || !TERMINAL.has(type)) return violation(`unexpected frame: ${text}`)
      c.answers++
      c.types.set(type, (c.types.get(type) ?? 0) + 1)
      const message = type === "NOTICE" ? f[1] : type === "OK" ? f[3] : type === "CLOSED" || type === "NEG-ERR" ? f[2] : undefined
      if (type === "OK" && f[2] === true && !String(message).startsWith("duplicate: ")) violation(`accepted: ${text}`)
      if (message !== undefined && (typeof message !== "string" || !PREFIXED.test(message))) violation(`no NIP-01 prefix: ${text}`)
      // A tidy client (CLOSE and NEG-CLOSE get no answer): its subscriptions and negentropy sessions
      // do not pile up to the per-connection caps, so later valid ones still reach the query and the engine.
      if (type === "EOSE") ws.send(JSON.stringify(["CLOSE", f[1]]))
      if (type === "NEG-MSG") ws.send(JSON.stringify(["NEG-CLOSE", f[1]]))
      if (c.answers >= c.expected && wake) {
        wake()
        wake = undefined
      }
    })
    ws.on("error", () => {})
    ws.once("unexpected-response", (_q, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)))
    ws.once("open", () => resolve(c))
  })

/** Opens a socket, sends one text frame of invalid UTF-8, resolves with the close code the relay gives it. */
const invalidUtf8Text = async (url: string, junk: Buffer): Promise<number> => {
  const ws = new WebSocket(url, { perMessageDeflate: false })
  ws.on("error", () => {})
  const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)))
  await new Promise((r) => ws.once("open", r))
  ws.send(Buffer.concat([Buffer.from('["REQ","x",{"#t":["'), junk, Buffer.from('"]}]')]), { binary: false })
  return within(closed, 5000, "the relay to close a socket that sent invalid UTF-8 in a text frame")
}

// ---------------------------------------------------------------- the test

const OVERRIDES = {
  // This test measures robustness, not rate limiting: the buckets are raised far above what it sends.
  eventsPerSecondPerConnection: 1_000_000,
  eventsPerSecondPerIp: 10_000_000,
  eventsPerSecondPerPubkey: 1_000_000,
  readsPerSecondPerConnection: 1_000_000,
  readsPerSecondPerIp: 10_000_000,
  readsPerSecondPerPubkey: 1_000_000,
  // A session opened by the fuzz must not expire mid-run and add a NEG-ERR nobody asked for.
  negentropyIdleSeconds: 3600,
  pingIntervalSeconds: 0
}

let relay: TestRelay
let pools: Pools
let author: Key
const setup: Array<RawClient> = []

beforeAll(async () => {
  relay = await startRelay(OVERRIDES)
  const k = newKey()
  const t = now() - 1000
  const known = [
    ...Array.from({ length: 12 }, (_, i) => makeEvent({ created_at: t + i, tags: [["t", "fuzz"]], content: `known ${i}` }, k)),
    makeEvent({ kind: 0, created_at: t, content: '{"name":"fuzz"}' }, k),
    makeEvent({ kind: 30023, created_at: t, tags: [["d", "x"]], content: "article" }, k),
    makeEvent({ kind: 7, created_at: t, tags: [["e", "0".repeat(64)]], content: "+" }, k),
    makeEvent({ kind: 1, created_at: t, tags: [["t", "hostile"], ["t", "fuzz"]], content: "hostile fuzz words" })
  ]
  const c = await connect(relay.url)
  setup.push(c)
  for (const e of known) await publishOk(c, e)
  const future = makeEvent({ created_at: now() + 7200 }, k)
  const auth = makeEvent({ kind: 22242, created_at: now(), tags: [["relay", relay.url], ["challenge", "not-the-challenge"]], content: "" }, k)
  pools = {
    known,
    refused: [future, auth, { ...known[1]!, sig: known[0]!.sig }, makeEvent({ kind: 22242, created_at: now(), tags: [["relay", relay.url]] }, k)],
    badAuth: [auth, makeEvent({ kind: 22242, created_at: now() - 86_400, tags: [["relay", relay.url], ["challenge", "x"]] }, k), future]
  }
  author = newKey()
})

afterAll(async () => {
  await Promise.all(setup.map((c) => c.close()))
  await relay?.close()
})

describe("hostile input: fuzzing the protocol", () => {
  it(`answers ${TOTAL_FRAMES.toLocaleString("en")} hostile frames with prefixed refusals, keeps serving others, stores nothing`, async () => {
    const before: MemorySnapshot = await memory()
    const subscriber = await connect(relay.url)
    const publisher = await connect(relay.url)
    setup.push(subscriber, publisher)
    await req(subscriber, "live", { authors: [author.pk] })
    const fuzzers = await Promise.all(Array.from({ length: FUZZ_CONNECTIONS }, () => fuzzClient(relay.url)))

    const live: Array<NostrEvent> = []
    let frames = 0
    let answered_ = 0
    let maxLiveMs = 0
    let peakRss = 0
    let runs = 0
    /** The largest heap after a full collection, sampled between batches. */
    let peakHeap = before.heapUsed
    const started = Date.now()
    const details = await fc.check(
      fc.asyncProperty(fc.array(unitArb(pools), { minLength: BATCH, maxLength: BATCH }), fc.nat(), async (units, seed) => {
        // The well-behaved clients: one live event per batch, published while the batch is in flight.
        const e = makeEvent({ created_at: now(), content: `live ${live.length}` }, author)
        live.push(e)
        const sentAt = Date.now()
        const ok = publishOk(publisher, e)
        const delivered = nextEvent(subscriber, "live", 30_000).then((got) => {
          maxLiveMs = Math.max(maxLiveMs, Date.now() - sentAt)
          return got
        })
        // Invalid UTF-8 in a text frame is a protocol error (RFC 6455): that socket alone is closed with 1007.
        const kamikaze = invalidUtf8Text(relay.url, Buffer.from([0xc3, 0x28, 0xff, seed & 0xff]))

        const batch = units.flatMap(framesOf)
        for (let i = 0; i < batch.length; i++) {
          const f = batch[i]!
          const c = fuzzers[i % FUZZ_CONNECTIONS]!
          if (answered(relayText(f))) c.expected++
          c.ws.send(f.data, { binary: f.binary })
        }
        frames += batch.length
        await Promise.all(fuzzers.map((c) => c.settled(30_000)))
        answered_ = fuzzers.reduce((n, c) => n + c.answers, 0)
        for (const c of fuzzers) {
          if (c.violations.length > 0) throw new Error(`bad answers: ${JSON.stringify(c.violations)}`)
          if (c.ws.readyState !== WebSocket.OPEN) throw new Error(`the relay closed a fuzz connection (code ${await c.closed})`)
        }
        await within(ok, 30_000, "the live event's OK")
        expect((await delivered).id).toBe(e.id)
        expect(await kamikaze).toBe(1007)
        peakRss = Math.max(peakRss, process.memoryUsage().rss)
        if (++runs % 20 === 0) peakHeap = Math.max(peakHeap, (await memory()).heapUsed)
      }),
      { numRuns: TOTAL_FRAMES / BATCH, endOnFailure: true }
    )
    const seconds = (Date.now() - started) / 1000
    if (details.failed) {
      throw new Error(`fuzz failed (seed ${details.seed}, path ${details.counterexamplePath}) after ${frames} frames: ${String(details.errorInstance).slice(0, 3000)}`)
    }
    // One answer per answered frame, no more: nothing unsolicited arrived either (checked after the last batch settled).
    expect(answered_).toBe(fuzzers.reduce((n, c) => n + c.expected, 0))
    console.log(
      `[fuzz] ${frames} frames in ${seconds.toFixed(1)} s (${Math.round(frames / seconds)} frames/s, generation included), ` +
        `${answered_} answers, ${live.length} live events, slowest live delivery ${maxLiveMs} ms`
    )
    const types = new Map<string, number>()
    for (const c of fuzzers) for (const [t, n] of c.types) types.set(t, (types.get(t) ?? 0) + n)
    console.log(`[fuzz] answers by type: ${[...types].sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t} ${n}`).join(", ")}`)

    // The fuzz stored nothing and changed nothing: the store holds exactly what the well-behaved clients published.
    const check = await connect(relay.url)
    setup.push(check)
    const all = await req(check, "all", { limit: 5000 })
    const byId = (xs: ReadonlyArray<NostrEvent>) => Object.fromEntries(xs.map((x) => [x.id, x]))
    expect(byId(all.events)).toEqual(byId([...pools.known, ...live]))

    await Promise.all(fuzzers.map((c) => (c.ws.close(), c.closed)))
    const after = await memory()
    console.log(describeMemory("fuzz", before, after, { rss: peakRss, heapUsed: peakHeap, external: 0 }))
    // Bounded: what the relay keeps is the few events published, not anything per frame, and nothing
    // piled up between batches either (heap sampled after a full collection every 20 batches).
    expect(after.heapUsed - before.heapUsed).toBeLessThan(32 * 1024 * 1024)
    expect(peakHeap - before.heapUsed).toBeLessThan(64 * 1024 * 1024)
    // rss counts what V8 and the allocator keep mapped after the garbage of 100 MB of frames: a loose bound.
    expect(peakRss - before.rss).toBeLessThan(768 * 1024 * 1024)
  }, SOAK ? 1_800_000 : 120_000)
})
