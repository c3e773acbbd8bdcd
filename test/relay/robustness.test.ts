/**
 * Robustness: garbage input, slow consumers, idle connections and ping
 * keepalive, over real sockets.
 */
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { EventStore } from "../../src/storage/EventStore.ts"
import { makeMemoryEventStore } from "../../src/storage/memory/MemoryEventStore.ts"
import { makeEvent, newKey } from "../support/nostr.ts"
import { startRelay } from "../support/relay.ts"
import { connect, forSub, isNotice, logged, nextEvent, now, publish, publishOk, req, within } from "../support/ws.ts"

describe("malformed input flood", () => {
  it("1,000 malformed frames on one connection leave it and every other connection working", async () => {
    const relay = await startRelay()
    try {
      const k = newKey()
      const bystander = await connect(relay.url)
      await req(bystander, "live", { authors: [k.pk] })
      const attacker = await connect(relay.url)
      const template = makeEvent({ created_at: now() })
      const garbage: ReadonlyArray<(i: number) => string> = [
        (i) => `not json ${i}`,
        (i) => `[${i}`,
        () => "{}",
        () => "[]",
        (i) => JSON.stringify(["NOPE", i]),
        (i) => JSON.stringify(["REQ", i, {}]),
        () => JSON.stringify(["CLOSE"]),
        () => JSON.stringify(["EVENT"]),
        (i) => JSON.stringify(["EVENT", { ...template, content: `tampered ${i}` }]), // wrong id: OK false
        (i) => JSON.stringify(["EVENT", { id: template.id, kind: i }]) // malformed shape: OK false
      ]
      const N = 1000
      for (let i = 0; i < N; i++) attacker.send(garbage[i % garbage.length]!(i))
      // Meanwhile another connection publishes and the bystander still receives.
      const other = await connect(relay.url)
      const e = makeEvent({ created_at: now() }, k)
      expect(await publish(other, e)).toEqual({ accepted: true, message: "" })
      expect((await nextEvent(bystander, "live")).id).toBe(e.id)
      // Every malformed frame got its answer (NOTICE or OK false), and the attacker still works.
      for (let i = 0; i < N; i++) {
        const f = await attacker.next((f) => f[0] === "NOTICE" || f[0] === "OK")
        if (f[0] === "OK") {
          expect(f[2]).toBe(false)
          expect(f[3]).toMatch(/^invalid: /)
        } else expect(f[1]).toMatch(/^invalid: /)
      }
      const mine = makeEvent({ created_at: now() }, k)
      expect(await publish(attacker, mine)).toEqual({ accepted: true, message: "" })
      expect((await nextEvent(bystander, "live")).id).toBe(mine.id)
      expect((await req(attacker, "after", { ids: [mine.id] })).events.map((x) => x.id)).toEqual([mine.id])
      for (const c of [bystander, attacker, other]) await c.close()
    } finally {
      await relay.close()
    }
  })
})

describe("slow consumer", () => {
  it("disconnects a subscriber that stops reading, with bounded buffering, while others keep receiving", async () => {
    const relay = await startRelay({ outboundQueueSize: 16 })
    try {
      const k = newKey()
      const slow = await connect(relay.url)
      const fast = await connect(relay.url)
      // Each event goes to every one of the slow client's subscriptions: 40 x 200 kB = 8 MB per event.
      const SUBS = 40
      for (let i = 0; i < SUBS; i++) await req(slow, `s${i}`, { authors: [k.pk] })
      await req(fast, "s", { authors: [k.pk] })
      slow.ws.pause() // stop reading: the kernel buffers fill, then the relay's socket buffer, then its queue

      const pub = await connect(relay.url)
      const N = 8 // 64 MB for the slow client in all, far beyond any socket buffer
      const content = "x".repeat(200_000)
      for (let i = 0; i < N; i++) {
        const e = makeEvent({ content: `${content}${i}`, created_at: now() }, k)
        await publishOk(pub, e)
        // The reading subscriber gets every event, in order, while the other one is stuck.
        expect((await nextEvent(fast, "s")).id).toBe(e.id)
      }
      // Every fanout happened before its OK; now let the slow client read what it was sent.
      slow.ws.resume()
      const closed = await within(slow.closed, 10_000, "the slow consumer to be disconnected")
      expect(closed.code).toBe(1008)
      const notice = logged(slow, "NOTICE")
      expect(notice).toHaveLength(1)
      expect(notice[0]![1]).toMatch(/^error: /)
      // The relay stopped queuing for it: it got far fewer frames than it was owed.
      const received = logged(slow, "EVENT").length
      expect(received).toBeLessThan((N * SUBS) / 2)

      // Other subscribers are unaffected afterwards too.
      const later = makeEvent({ created_at: now() }, k)
      await publishOk(pub, later)
      expect((await nextEvent(fast, "s")).id).toBe(later.id)
      await fast.close()
      await pub.close()
    } finally {
      await relay.close()
    }
  })
})

/** The relay's open-connection gauge (process-wide: compare against a baseline). */
const openConnections = async (httpUrl: string) => {
  const text = await (await fetch(`${httpUrl}/metrics`)).text()
  return Number(/^parrhesia_connections (\d+)$/m.exec(text)?.[1] ?? 0)
}

describe("slow consumer that never reads again", () => {
  it("is dropped within seconds, not left holding its buffers and subscriptions", async () => {
    const relay = await startRelay({ outboundQueueSize: 16 })
    try {
      const baseline = await openConnections(relay.httpUrl)
      const k = newKey()
      const slow = await connect(relay.url)
      for (let i = 0; i < 40; i++) await req(slow, `s${i}`, { authors: [k.pk] })
      slow.ws.pause()
      const pub = await connect(relay.url)
      const content = "x".repeat(200_000)
      for (let i = 0; i < 8; i++) await publishOk(pub, makeEvent({ content: `${content}${i}`, created_at: now() }, k))
      // The overflow happened during those fanouts; the client never reads its close frame.
      expect(await openConnections(relay.httpUrl)).toBeLessThanOrEqual(baseline + 2)
      const deadline = Date.now() + 10_000
      while ((await openConnections(relay.httpUrl)) > baseline + 1) {
        if (Date.now() > deadline) throw new Error("the slow consumer's connection was still open after 10 s")
        await new Promise((r) => setTimeout(r, 100))
      }
      slow.ws.terminate()
      await pub.close()
    } finally {
      await relay.close()
    }
  })
})

describe("big query results and live events", () => {
  it("a client still busy receiving stored results is not cut off by a live event", async () => {
    // Signals when the store has answered every REQ: from then on the relay's only
    // work for the client is writing, which fills its socket and queue synchronously.
    const REQS = 8
    let queries = 0
    let answered!: () => void
    const allAnswered = new Promise<void>((r) => (answered = r))
    const store = Layer.sync(EventStore, () => {
      const s = makeMemoryEventStore()
      return EventStore.of({
        ...s,
        query: (filters) => Effect.tap(s.query(filters), () => Effect.sync(() => void (++queries === REQS && answered())))
      })
    })
    const relay = await startRelay({ outboundQueueSize: 16 }, { store })
    try {
      const k = newKey()
      const other = newKey()
      const pub = await connect(relay.url)
      const content = "x".repeat(200_000)
      const STORED = 12
      for (let i = 0; i < STORED; i++) await publishOk(pub, makeEvent({ content: `${content}${i}`, created_at: now() - i }, k))

      const c = await connect(relay.url)
      await req(c, "live", { authors: [other.pk] }) // query 1 of REQS
      c.ws.pause() // the client reads nothing until all results are queued: 7 x 12 x 200 kB = 17 MB
      for (let i = 1; i < REQS; i++) c.send(["REQ", `r${i}`, { authors: [k.pk] }])
      await within(allAnswered, 10_000, "the store to answer every REQ")
      await new Promise((r) => setImmediate(r))

      const e = makeEvent({ created_at: now() }, other)
      await publishOk(pub, e)
      c.ws.resume()
      expect((await nextEvent(c, "live")).id).toBe(e.id)
      for (let i = 1; i < REQS; i++) await c.next(forSub(`r${i}`, "EOSE"))
      for (let i = 1; i < REQS; i++) expect(logged(c, "EVENT", `r${i}`)).toHaveLength(STORED)
      expect(logged(c, "NOTICE")).toEqual([])
      expect(c.ws.readyState).toBe(c.ws.OPEN)
      await c.close()
      await pub.close()
    } finally {
      await relay.close()
    }
  })
})

describe("idle timeout", () => {
  it("closes a connection without subscriptions, but not one with an open subscription", async () => {
    const relay = await startRelay({ idleTimeoutSeconds: 1, pingIntervalSeconds: 0 })
    try {
      const k = newKey()
      const subscribed = await connect(relay.url)
      await req(subscribed, "keep", { authors: [k.pk] })
      const idle = await connect(relay.url)
      const first = await within(idle.closed, 5000, "the idle connection to close")
      expect(first.code).toBe(1000)
      expect(logged(idle, "NOTICE")).toHaveLength(1)
      // A second idle period, to be sure the subscribed one has been quiet well past the timeout.
      const idle2 = await connect(relay.url)
      await within(idle2.closed, 5000, "the second idle connection to close")
      expect(subscribed.ws.readyState).toBe(subscribed.ws.OPEN)
      const pub = await connect(relay.url)
      const e = makeEvent({ created_at: now() }, k)
      await publishOk(pub, e)
      expect((await nextEvent(subscribed, "keep")).id).toBe(e.id)
      await subscribed.close()
      await pub.close()
    } finally {
      await relay.close()
    }
  })

  it("closes a connection again idle after its subscription is CLOSEd", async () => {
    const relay = await startRelay({ idleTimeoutSeconds: 1, pingIntervalSeconds: 0 })
    try {
      const c = await connect(relay.url)
      await req(c, "s", { kinds: [1], limit: 0 })
      c.send(["CLOSE", "s"])
      expect((await within(c.closed, 5000, "close")).code).toBe(1000)
    } finally {
      await relay.close()
    }
  })
})

describe("ping keepalive", () => {
  it("pings clients; one that answers stays, one that does not is terminated", async () => {
    const relay = await startRelay({ pingIntervalSeconds: 1, idleTimeoutSeconds: 0 })
    try {
      const answering = await connect(relay.url)
      const silent = await connect(relay.url, { autoPong: false })
      // Counted from the socket's creation; the relay pings once a tick and terminates
      // instead of pinging when two pings went unanswered, so a 3rd ping means "not terminated".
      const nthPing = (n: number) =>
        new Promise<void>((resolve) => {
          if (answering.pings() >= n) return resolve()
          answering.ws.on("ping", () => {
            if (answering.pings() >= n) resolve()
          })
        })
      const threePings = within(nthPing(3), 10_000, "three pings")
      const dropped = await within(silent.closed, 10_000, "the silent client to be terminated")
      expect(dropped.code).toBe(1006) // terminated: no close frame
      expect(silent.pings()).toBeGreaterThanOrEqual(2)
      await threePings
      expect(answering.ws.readyState).toBe(answering.ws.OPEN)
      answering.send(["REQ", "x", { limit: 0, kinds: [1] }])
      expect((await answering.next(forSub("x")))[0]).toBe("EOSE")
      expect(logged(answering, "NOTICE").filter(isNotice)).toHaveLength(0)
      await answering.close()
    } finally {
      await relay.close()
    }
  })
})
