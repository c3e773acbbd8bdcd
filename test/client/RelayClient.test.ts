/**
 * RelayClient against real relays (in-process) and scripted ones: backoff,
 * reconnect with queued publishes and resumed subscriptions, the bounded
 * queue, NIP-42 AUTH on demand, deduplication, and failures when reconnect
 * is off.
 */
import { Effect } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { backoffDelay, RelayClient, type ConnectionState } from "../../src/client/RelayClient.ts"
import { startFakeRelay, type FakeRelay } from "../support/fakeRelay.ts"
import { makeEvent, newKey } from "../support/nostr.ts"
import { startRelay } from "../support/relay.ts"
import { connect, publishOk } from "../support/ws.ts"

const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(Effect.result(e))

/** Resolves when the client reaches `state` for the n-th time. */
const stateWatcher = () => {
  const seen: Array<ConnectionState> = []
  const waiters: Array<{ state: ConnectionState; n: number; resolve: () => void }> = []
  const onState = (s: ConnectionState) => {
    seen.push(s)
    for (const w of [...waiters]) {
      if (seen.filter((x) => x === w.state).length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
    }
  }
  const reached = (state: ConnectionState, n = 1) =>
    seen.filter((x) => x === state).length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ state, n, resolve }))
  return { onState, reached, seen }
}

describe("RelayClient", () => {
  const cleanup: Array<() => unknown> = []
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f()
  })
  const relay = async (overrides = {}) => {
    const r = await startRelay(overrides)
    cleanup.push(() => r.close())
    return r
  }
  const client = (url: string, options = {}) => {
    const c = new RelayClient(url, options)
    cleanup.push(() => c.close())
    return c
  }

  it("backs off exponentially with jitter, capped", () => {
    expect(backoffDelay(0, 500, 30_000, () => 0)).toBe(250)
    expect(backoffDelay(0, 500, 30_000, () => 1)).toBe(500)
    expect(backoffDelay(3, 500, 30_000, () => 1)).toBe(4000)
    expect(backoffDelay(3, 500, 30_000, () => 0)).toBe(2000)
    expect(backoffDelay(20, 500, 30_000, () => 1)).toBe(30_000)
    expect(backoffDelay(1000, 500, 30_000, () => 0.5)).toBe(22_500)
  })

  it("publishes, queries and subscribes; counts what it did", async () => {
    const r = await relay()
    const c = client(r.url)
    const key = newKey()
    const live: Array<string> = []
    let eose!: () => void
    const eosed = new Promise<void>((resolve) => (eose = resolve))
    c.subscribe(() => [{ authors: [key.pk] }], { onEvent: (e) => live.push(e.id), onEose: () => eose() })
    await eosed
    const e = makeEvent({}, key)
    const ok = await run(c.publish(e))
    expect(ok).toMatchObject({ _tag: "Success", success: { accepted: true } })
    const got = await run(c.query([{ ids: [e.id] }]))
    expect(got._tag === "Success" && got.success.map((x) => x.id)).toEqual([e.id])
    await expect.poll(() => live).toEqual([e.id])
    expect(c.stats()).toMatchObject({ state: "open", connects: 1, published: 1, accepted: 1, refused: 0 })
  })

  it("delivers an event once even when relays send it twice", async () => {
    const e = makeEvent()
    const fake = await startFakeRelay((f, ws) => {
      if (f[0] === "REQ") for (let i = 0; i < 3; i++) ws.send(JSON.stringify(["EVENT", f[1], e]))
      if (f[0] === "REQ") ws.send(JSON.stringify(["EOSE", f[1]]))
    })
    cleanup.push(() => fake.close())
    const c = client(fake.url)
    const got: Array<string> = []
    let eose!: () => void
    const eosed = new Promise<void>((resolve) => (eose = resolve))
    c.subscribe(() => [{}], { onEvent: (x) => got.push(x.id), onEose: () => eose() })
    await eosed
    expect(got).toEqual([e.id])
    const q = await run(c.query([{}]))
    expect(q._tag === "Success" && q.success.length).toBe(1)
    expect(c.stats().duplicatesDropped).toBe(4)
  })

  it("AUTHs with its key when the relay asks, and retries what was refused for it", async () => {
    const r = await relay({ authRequired: "all" })
    const key = newKey()
    const withKey = client(r.url, { authKey: key.sk })
    const e = makeEvent({}, key)
    expect(await run(withKey.publish(e))).toMatchObject({ success: { accepted: true } })
    const q = await run(withKey.query([{ ids: [e.id] }]))
    expect(q._tag === "Success" && q.success.map((x) => x.id)).toEqual([e.id])
    expect(withKey.stats().authenticated).toBe(true)
    const without = client(r.url)
    const refused = await run(without.query([{ ids: [e.id] }]))
    expect(refused._tag === "Failure" && refused.failure).toMatchObject({ reason: "refused", message: expect.stringMatching(/auth-required:/) })
    expect(await run(without.publish(makeEvent()))).toMatchObject({ success: { accepted: false, message: expect.stringMatching(/^auth-required:/) } })
  })

  it("reconnects after the relay restarts: queued publishes are sent, live subscriptions resume", async () => {
    const first = await startRelay()
    const port = first.port
    const watch = stateWatcher()
    const c = client(first.url, { backoffBaseMs: 50, backoffMaxMs: 200, onState: watch.onState })
    const key = newKey()
    const live: Array<string> = []
    c.subscribe(() => [{ authors: [key.pk] }], { onEvent: (e) => live.push(e.id) })
    await watch.reached("open")
    await first.close()
    await watch.reached("backoff")
    const queued = makeEvent({}, key)
    const pending = run(c.publish(queued))
    expect(c.stats().queued).toBe(1)
    const second = await startRelay({ port })
    cleanup.push(() => second.close())
    expect(await pending).toMatchObject({ success: { accepted: true } })
    expect(c.stats()).toMatchObject({ connects: 2, disconnects: 1, queued: 0 })
    // The subscription was asked again: the queued event (now stored) and a new one arrive.
    const other = await connect(second.url)
    const fresh = makeEvent({}, key)
    await publishOk(other, fresh)
    await other.close()
    await expect.poll(() => [...live].sort()).toEqual([queued.id, fresh.id].sort())
  })

  it("bounds the queue while disconnected", async () => {
    const c = client("ws://127.0.0.1:9", { backoffBaseMs: 10_000, maxQueued: 2 })
    const a = run(c.publish(makeEvent()))
    const b = run(c.publish(makeEvent()))
    const third = await run(c.publish(makeEvent()))
    expect(third._tag === "Failure" && third.failure.reason).toBe("queue-full")
    c.close()
    expect((await a)._tag).toBe("Failure")
    expect((await b)._tag).toBe("Failure")
  })

  it("without reconnect: an unreachable relay and a dropped connection fail what waits", async () => {
    const unreachable = client("ws://127.0.0.1:9", { reconnect: false })
    const r = await run(unreachable.ready)
    expect(r._tag === "Failure" && r.failure).toMatchObject({ reason: "unreachable", message: expect.stringContaining("cannot connect to ws://127.0.0.1:9") })
    let fake!: FakeRelay
    fake = await startFakeRelay((f, ws) => f[0] === "REQ" && ws.terminate())
    cleanup.push(() => fake.close())
    const c = client(fake.url, { reconnect: false })
    const q = await run(c.query([{}]))
    expect(q._tag === "Failure" && q.failure.reason).toBe("disconnected")
    expect(c.connectionState).toBe("closed")
  })
})
