/**
 * A REQ's live subscription starts before its stored query runs, so nothing
 * published meanwhile is missed; an event that arrives live during that
 * catch-up and is also in the stored results is sent once, not twice.
 */
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { EventStore } from "../../src/storage/EventStore.ts"
import { makeMemoryEventStore } from "../../src/storage/memory/MemoryEventStore.ts"
import { makeEvent, newKey, T0 } from "../support/nostr.ts"
import { startRelay } from "../support/relay.ts"
import { collect, connect, logged, now, publishOk, within } from "../support/ws.ts"

/** A memory store whose next query waits for `release()`, and signals when it has started. */
const gatedStore = () => {
  let armed = false
  let release!: () => void
  let started!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const queryStarted = new Promise<void>((r) => (started = r))
  const layer = Layer.sync(EventStore, () => {
    const s = makeMemoryEventStore()
    return EventStore.of({
      ...s,
      query: (filters) =>
        armed
          ? Effect.andThen(
              Effect.promise(() => {
                armed = false
                started()
                return gate
              }),
              s.query(filters)
            )
          : s.query(filters)
    })
  })
  return { layer, arm: () => void (armed = true), release: () => release(), queryStarted }
}

describe("REQ catch-up", () => {
  it("delivers an event published during the stored query exactly once, before EOSE", async () => {
    const store = gatedStore()
    const relay = await startRelay({}, { store: store.layer })
    try {
      const k = newKey()
      const pub = await connect(relay.url)
      const old = makeEvent({ created_at: T0 }, k)
      await publishOk(pub, old)
      const sub = await connect(relay.url)
      store.arm()
      sub.send(["REQ", "c", { authors: [k.pk] }])
      await within(store.queryStarted, 5000, "the stored query to start")
      // Published while the query is held: delivered live now, and found by the query once released.
      const during = makeEvent({ created_at: now() }, k)
      await publishOk(pub, during)
      store.release()
      const r = await collect(sub, "c")
      expect(r.end.type).toBe("EOSE")
      expect(r.events.map((e) => e.id).sort()).toEqual([old.id, during.id].sort())
      // Live after EOSE still works, once.
      const after = makeEvent({ created_at: now() }, k)
      await publishOk(pub, after)
      expect((await sub.next((f) => f[0] === "EVENT" && f[2].id === after.id))[1]).toBe("c")
      expect(logged(sub, "EVENT", "c").map((f) => f[2].id).filter((id) => id === during.id)).toHaveLength(1)
      await sub.close()
      await pub.close()
    } finally {
      await relay.close()
    }
  })
})
