import { Effect, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import { makeOutbound } from "../../src/relay/Outbound.ts"
import type { Transport } from "../../src/relay/Transport.ts"

/** A socket whose unsent byte count and flush callbacks the test controls. */
const fakeTransport = () => {
  const sent: Array<string> = []
  const flushCallbacks: Array<() => void> = []
  let buffered = 0
  const transport: Transport = {
    send: (frame, onFlushed) => {
      sent.push(frame)
      buffered += frame.length
      if (onFlushed) flushCallbacks.push(onFlushed)
    },
    bufferedAmount: () => buffered,
    close: () => {},
    terminate: () => {},
    ping: () => {},
    pause: () => {},
    resume: () => {},
    listen: () => {}
  }
  return {
    transport,
    sent,
    /** The kernel takes everything: unsent bytes drop to zero and flush callbacks run. */
    flush: () => {
      buffered = 0
      for (const cb of flushCallbacks.splice(0)) cb()
    }
  }
}

describe("Outbound", () => {
  it("writes straight to the socket while it keeps up", () => {
    const t = fakeTransport()
    const out = makeOutbound(t.transport, { capacity: 4, highWater: 100, onOverflow: () => expect.unreachable() })
    out.offerLive("a")
    Effect.runSync(out.offer("b"))
    expect(t.sent).toEqual(["a", "b"])
    expect(out.size()).toBe(0)
  })

  it("queues past the high-water mark and sends in order once the socket flushes", () => {
    const t = fakeTransport()
    const out = makeOutbound(t.transport, { capacity: 10, highWater: 5, onOverflow: () => expect.unreachable() })
    out.offerLive("123456") // buffered 6 > 5 only after this one
    out.offerLive("x") // socket over high water: sent with a flush callback, then blocked
    out.offerLive("y")
    out.offerLive("z")
    expect(t.sent).toEqual(["123456", "x"])
    expect(out.size()).toBe(2)
    t.flush()
    expect(t.sent).toEqual(["123456", "x", "y", "z"])
    expect(out.size()).toBe(0)
  })

  it("calls onOverflow for a live frame when the queue is full, and drops it", () => {
    const t = fakeTransport()
    let overflows = 0
    const out = makeOutbound(t.transport, { capacity: 2, highWater: 0, onOverflow: () => void overflows++ })
    out.offerLive("a") // buffered 1 > 0: blocked from here on
    out.offerLive("b") // sent with flush callback
    out.offerLive("c")
    out.offerLive("d")
    expect(overflows).toBe(0)
    out.offerLive("e")
    expect(overflows).toBe(1)
    t.flush()
    expect(t.sent).not.toContain("e")
  })

  it("makes answers wait for room instead of dropping them", async () => {
    const t = fakeTransport()
    const out = makeOutbound(t.transport, { capacity: 1, highWater: 0, onOverflow: () => expect.unreachable() })
    out.offerLive("a")
    out.offerLive("b")
    out.offerLive("c") // queue now full (capacity 1)
    const fiber = Effect.runFork(out.offer("answer"))
    await Effect.runPromise(Effect.yieldNow)
    expect(fiber.pollUnsafe()).toBeUndefined()
    t.flush() // socket drains: "c" goes out, the waiting answer gets room
    await Effect.runPromise(Fiber.join(fiber))
    t.flush()
    expect(t.sent).toEqual(["a", "b", "c", "answer"])
  })

  it("runs queued callbacks in order with the frames", () => {
    const t = fakeTransport()
    const out = makeOutbound(t.transport, { capacity: 10, highWater: 0, onOverflow: () => expect.unreachable() })
    const order: Array<string> = []
    out.offerLive("a")
    out.offerLive("b")
    Effect.runSync(out.offer(() => order.push(`closed after ${t.sent.length} frames`)))
    expect(order).toEqual([])
    t.flush()
    expect(order).toEqual(["closed after 2 frames"])
  })

  it("clear drops the queue and releases waiting answers", async () => {
    const t = fakeTransport()
    const out = makeOutbound(t.transport, { capacity: 1, highWater: 0, onOverflow: () => {} })
    out.offerLive("a")
    out.offerLive("b")
    out.offerLive("c")
    const fiber = Effect.runFork(out.offer("waiting"))
    out.clear()
    await Effect.runPromise(Fiber.join(fiber))
    t.flush()
    expect(t.sent).toEqual(["a", "b"])
    expect(out.size()).toBe(0)
  })

  it("offerAll sends what fits at once and the rest, in order, as room frees up", async () => {
    const t = fakeTransport()
    const out = makeOutbound(t.transport, { capacity: 4, highWater: 0, onOverflow: () => expect.unreachable() })
    out.offerLive("a") // buffered > 0 from here: everything else queues until a flush
    const frames = ["1", "2", "3", "4", "5", "6"]
    const fiber = Effect.runFork(out.offerAll([...frames])) // offerAll takes its array
    await Effect.runPromise(Effect.yieldNow)
    expect(fiber.pollUnsafe()).toBeUndefined() // waiting for room: answers may use only part of the queue
    for (let i = 0; i < 10 && fiber.pollUnsafe() === undefined; i++) {
      t.flush()
      await Effect.runPromise(Effect.yieldNow)
    }
    await Effect.runPromise(Fiber.join(fiber))
    t.flush()
    t.flush()
    expect(t.sent).toEqual(["a", ...frames])
  })
})
