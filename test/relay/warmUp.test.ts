/**
 * The JIT warm-up before the port opens (relay/warmUp.ts): REQs answered and badly signed EVENTs
 * refused in-process, nothing stored, no subscription left behind, and off at 0.
 */
import { describe, expect, it } from "vitest"
import { Effect, Layer } from "effect"
import { EventStore, type EventStoreShape } from "../../src/storage/EventStore.ts"
import { makeMemoryEventStore } from "../../src/storage/memory/MemoryEventStore.ts"
import { SignatureVerifier, verifyNoble } from "../../src/verify/SignatureVerifier.ts"
import { makeEvent, newKey } from "../support/nostr.ts"
import { startRelay } from "../support/relay.ts"
import { connect, req, storedIds } from "../support/ws.ts"

const instrumented = async () => {
  const memory = makeMemoryEventStore()
  const key = newKey()
  const now = Math.floor(Date.now() / 1000)
  const stored = Array.from({ length: 30 }, (_, i) => makeEvent({ created_at: now - i, tags: [["p", key.pk]], content: `stored ${i}` }, key))
  for (const e of stored) await Effect.runPromise(memory.put(e))
  const seen = { puts: 0, queries: 0, verified: 0 }
  const store: EventStoreShape = {
    ...memory,
    put: (e) => Effect.suspend(() => (seen.puts++, memory.put(e))),
    query: (f) => Effect.suspend(() => (seen.queries++, memory.query(f))),
    ...(memory.queryServed ? { queryServed: (f: Parameters<NonNullable<EventStoreShape["queryServed"]>>[0]) => Effect.suspend(() => (seen.queries++, memory.queryServed!(f))) } : {})
  }
  const verifier = SignatureVerifier.of({
    verify: (e) => Effect.sync(() => (seen.verified++, verifyNoble(e))),
    verifyBatch: (es) => Effect.sync(() => es.map((e) => (seen.verified++, verifyNoble(e))))
  })
  return { seen, stored, adapters: { store: Layer.succeed(EventStore, store), verifier: Layer.succeed(SignatureVerifier, verifier) } }
}

describe("JIT warm-up before the port opens", () => {
  it("answers REQs and refuses badly signed EVENTs in-process: nothing stored, no subscription left", async () => {
    const { seen, stored, adapters } = await instrumented()
    const relay = await startRelay({ warmUpMessages: 40, hotWindowBytes: 0 }, adapters)
    try {
      // Every REQ of the warm-up asked the store (the window is off), every EVENT reached the signature check.
      expect(seen.queries).toBeGreaterThanOrEqual(40)
      expect(seen.verified).toBe(40)
      expect(seen.puts).toBe(0)
      // The store holds what it held; a live subscription sees only what clients send.
      expect((await storedIds(relay.url, { kinds: [1] })).sort()).toEqual(stored.map((e) => e.id).sort())
      const c = await connect(relay.url)
      await req(c, "after", { kinds: [1], limit: 1 })
      c.close()
    } finally {
      await relay.close()
    }
  })

  it("is off at 0", async () => {
    const { seen, adapters } = await instrumented()
    const relay = await startRelay({ warmUpMessages: 0 }, adapters)
    try {
      expect(seen.queries).toBe(0)
      expect(seen.verified).toBe(0)
    } finally {
      await relay.close()
    }
  })
})
