/**
 * Graceful shutdown: in-flight EVENTs are answered, then every client gets a
 * NOTICE and a close with code 1001, promptly.
 */
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { SignatureVerifier, verifyNoble } from "../../src/verify/SignatureVerifier.ts"
import { EventStore } from "../../src/storage/EventStore.ts"
import { makeMemoryEventStore } from "../../src/storage/memory/MemoryEventStore.ts"
import { makeEvent, newKey } from "../support/nostr.ts"
import { startRelay } from "../support/relay.ts"
import { connect, isOk, now, publishOk, req, within } from "../support/ws.ts"

/** A verifier that holds every check until `release()`, and signals when `n` checks are waiting. */
const gatedVerifier = (n: number) => {
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  let started = 0
  let reached!: () => void
  const waiting = new Promise<void>((r) => (reached = r))
  const layer = Layer.succeed(
    SignatureVerifier,
    SignatureVerifier.of({
      verify: (e) =>
        Effect.promise(() => {
          if (++started === n) reached()
          return gate
        }).pipe(Effect.map(() => verifyNoble(e))),
      verifyBatch: (es) => Effect.sync(() => es.map(verifyNoble))
    })
  )
  return { layer, release: () => release(), waiting }
}

describe("graceful shutdown", () => {
  it("answers EVENTs already received, then sends a NOTICE and closes with 1001", async () => {
    const n = 5
    const gated = gatedVerifier(n)
    const relay = await startRelay({ shutdownGraceMs: 5000 }, { verifier: gated.layer })
    const writer = await connect(relay.url)
    const idle = await connect(relay.url)
    const k = newKey()
    const events = Array.from({ length: n }, () => makeEvent({ created_at: now() }, k))
    for (const e of events) writer.send(["EVENT", e])
    await within(gated.waiting, 5000, "all EVENTs to reach the verifier")

    const started = Date.now()
    const closing = relay.close()
    gated.release()
    const [wClose, iClose] = await Promise.all([writer.closed, idle.closed])
    await closing
    // Promptly: not held up by waiting for the clients' close frames.
    expect(Date.now() - started).toBeLessThan(1900) // the old hang ended on a 2 s timeout

    expect(wClose.code).toBe(1001)
    expect(iClose.code).toBe(1001)
    const types = writer.log.map((f) => f[0])
    expect(types).toEqual(["AUTH", ...events.map(() => "OK"), "NOTICE"])
    for (const e of events) expect(writer.log.find(isOk(e.id))?.[2]).toBe(true)
    expect(writer.log.at(-1)![1]).toMatch(/shutting down/)
    expect(idle.log.map((f) => f[0])).toEqual(["AUTH", "NOTICE"])
  })

  it("finishes even when a client that stopped reading has a full outbound queue", async () => {
    let queries = 0
    let answered!: () => void
    const allAnswered = new Promise<void>((r) => (answered = r))
    const REQS = 6
    const store = Layer.sync(EventStore, () => {
      const s = makeMemoryEventStore()
      return EventStore.of({ ...s, query: (f) => Effect.tap(s.query(f), () => Effect.sync(() => void (++queries === REQS && answered()))) })
    })
    const relay = await startRelay({ outboundQueueSize: 16, shutdownGraceMs: 200 }, { store })
    const pub = await connect(relay.url)
    const k = newKey()
    const content = "x".repeat(200_000)
    for (let i = 0; i < 12; i++) await publishOk(pub, makeEvent({ content: `${content}${i}`, created_at: now() - i }, k))
    const stuck = await connect(relay.url)
    stuck.ws.pause() // never reads again: 6 x 12 x 200 kB of results fill its socket and queue
    for (let i = 0; i < REQS; i++) stuck.send(["REQ", `r${i}`, { authors: [k.pk] }])
    await within(allAnswered, 10_000, "the store to answer every REQ")
    await new Promise((r) => setImmediate(r))

    await within(relay.close(), 8000, "shutdown")
    expect((await pub.closed).code).toBe(1001)
    stuck.ws.terminate()
  })

  it("closes subscribers with 1001 and refuses new connections after close", async () => {
    const relay = await startRelay()
    const c = await connect(relay.url)
    await req(c, "s", { kinds: [1] })
    await publishOk(c, makeEvent({ created_at: now() }))
    await relay.close()
    expect((await c.closed).code).toBe(1001)
    await expect(connect(relay.url)).rejects.toThrow()
  })
})
