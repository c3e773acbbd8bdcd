/**
 * Streams in one process: the `streams` setting's validation, the worker
 * slot every worker computes alike, a `both` stream with a remote that
 * has no NIP-77 (a scripted relay): the catch-up runs by REQ pages both ways,
 * what the remote holds comes down, what it lacks goes up, once, and nothing
 * it sent is sent back; and supervision: a failing stream restarts alone,
 * with backoff.
 */
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { ClusterBus } from "../../src/cluster/ClusterBus.ts"
import { layerMemory } from "../../src/storage/memory/MemoryEventStore.ts"
import { layerMemoryGroups } from "../../src/storage/memory/MemoryGroupStore.ts"
import { layerMemoryModeration } from "../../src/storage/memory/MemoryModerationStore.ts"
import { makeMemoryStreamStore } from "../../src/storage/memory/MemoryStreamStore.ts"
import { StreamStore } from "../../src/storage/StreamStore.ts"
import { afterAll, describe, expect, it } from "vitest"
import { loadSettings } from "../../src/config/RelayConfig.ts"
import { parseStreams } from "../../src/config/streams.ts"
import { streamSlot } from "../../src/client/streams.ts"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { startFakeRelay } from "../support/fakeRelay.ts"
import { makeEvent, newKey } from "../support/nostr.ts"
import { startRelay } from "../support/relay.ts"
import { connect, now, publishOk, req } from "../support/ws.ts"

const configError = (env: Record<string, string>) => Effect.runSync(Effect.flip(loadSettings({ env }))).message

describe("the streams setting", () => {
  it("takes a JSON list of streams, and says what is wrong with a bad one", () => {
    expect(parseStreams("")).toEqual([])
    expect(parseStreams('[{"url":"wss://a.example","direction":"both","filter":{"kinds":[1]}},{"url":"ws://b:7777"}]')).toEqual([
      { url: "wss://a.example", direction: "both", filter: '{"kinds":[1]}', authKey: "" },
      { url: "ws://b:7777", direction: "down", filter: "", authKey: "" }
    ])
    expect(configError({ PARRHESIA_STREAMS: "{}" })).toMatch(/"streams" must be a JSON list/)
    expect(configError({ PARRHESIA_STREAMS: '[{"url":"http://a"}]' })).toMatch(/ws:\/\/ or wss:\/\//)
    expect(configError({ PARRHESIA_STREAMS: '[{"url":"ws://a","direction":"sideways"}]' })).toMatch(/down, up or both/)
    expect(configError({ PARRHESIA_STREAMS: '[{"url":"ws://a","filter":{"kinds":"x"}}]' })).toMatch(/filter/)
    expect(configError({ PARRHESIA_STREAMS: '[{"url":"ws://a","authKey":"nope"}]' })).toMatch(/authKey/)
    expect(configError({ PARRHESIA_STREAMS: '[{"url":"ws://a"},{"url":"ws://a","direction":"up"}]' })).toMatch(/twice/)
  })

  it("may be written as a list in the config file", () => {
    const file = join(tmpdir(), `parrhesia-streams-${process.pid}.json`)
    writeFileSync(file, JSON.stringify({ streams: [{ url: "wss://a.example", direction: "up" }] }))
    const s = Effect.runSync(loadSettings({ file }))
    expect(parseStreams(s.streams)).toEqual([{ url: "wss://a.example", direction: "up", filter: "", authKey: "" }])
  })

  it("puts each stream in one worker slot, the same in every worker", () => {
    const urls = Array.from({ length: 200 }, (_, i) => `wss://relay${i}.example`)
    for (const u of urls) {
      expect(streamSlot(u, 1)).toBe(0)
      expect(streamSlot(u, 4)).toBe(streamSlot(u, 4))
      expect(streamSlot(u, 4)).toBeGreaterThanOrEqual(0)
      expect(streamSlot(u, 4)).toBeLessThan(4)
    }
    // Spread over the slots.
    expect(new Set(urls.map((u) => streamSlot(u, 4))).size).toBe(4)
  })
})

describe("streams in one relay process", () => {
  const stops: Array<() => Promise<unknown>> = []
  afterAll(async () => {
    for (const s of stops.reverse()) await s()
  })

  it("catches up by REQ pages both ways: down what the remote holds, up what it lacks, once; nothing bounces", async () => {
    const key = newKey()
    const theirs = makeEvent({ created_at: now() - 100, content: "held by the remote" }, key)
    const held: Array<NostrEvent> = [theirs]
    const received: Array<string> = []
    let accepting = false
    // A relay that stores what it gets, answers REQs (limit 0: nothing stored) and knows no NIP-77;
    // it refuses connections until `accepting`.
    const remote = await startFakeRelay((f, ws) => {
      if (!accepting) return ws.close(1013, "not yet")
      if (f[0] === "REQ") {
        if (f[2]?.limit !== 0) for (const e of held) ws.send(JSON.stringify(["EVENT", f[1], e]))
        ws.send(JSON.stringify(["EOSE", f[1]]))
      } else if (f[0] === "EVENT") {
        received.push(f[1].id)
        if (!held.some((e) => e.id === f[1].id)) held.push(f[1])
        ws.send(JSON.stringify(["OK", f[1].id, true, ""]))
      } else if (f[0] !== "CLOSE") ws.send(JSON.stringify(["NOTICE", `unknown command ${f[0]}`]))
    })
    stops.push(() => remote.close())
    const relay = await startRelay({ streams: JSON.stringify([{ url: remote.url, direction: "both", filter: { authors: [key.pk] } }]) })
    stops.push(() => relay.close())

    // Written here while the remote is not reachable: only a catch-up can send it.
    const ours = makeEvent({ created_at: now() - 50, content: "written here" }, key)
    const c = await connect(relay.url)
    await publishOk(c, ours)
    accepting = true

    await expect.poll(async () => (await req(c, `has-${Date.now()}`, { ids: [theirs.id] })).events.length, { timeout: 20_000, interval: 200 }).toBe(1)
    await expect.poll(() => received, { timeout: 20_000, interval: 200 }).toEqual([ours.id])
    await new Promise((r) => setTimeout(r, 500))
    expect(received).toEqual([ours.id]) // once, and `theirs` never sent back
    const text = await (await fetch(`${relay.httpUrl}/metrics`)).text()
    const line = text.split("\n").find((l) => l.startsWith("parrhesia_stream_catchups_total{") && l.includes(`stream="${remote.url}"`) && l.includes(`method="req"`))
    expect(Number(line?.split(" ").pop() ?? 0)).toBeGreaterThanOrEqual(1)
    await c.close()
  }, 60_000)

  it("a stream that fails is restarted with backoff, alone: the others and the relay carry on", async () => {
    const key = newKey()
    const good = makeEvent({ created_at: now(), content: "from the healthy remote" }, key)
    const healthy = await startFakeRelay((f, ws) => {
      if (f[0] === "REQ") {
        ws.send(JSON.stringify(["EVENT", f[1], good]))
        ws.send(JSON.stringify(["EOSE", f[1]]))
      } else if (f[0] !== "CLOSE") ws.send(JSON.stringify(["NOTICE", `unknown command ${f[0]}`]))
    })
    stops.push(() => healthy.close())
    // A runtime stream whose stored filter is damaged: it fails each time it starts.
    const streams = makeMemoryStreamStore()
    Effect.runSync(streams.add({ url: "ws://127.0.0.1:9/broken", direction: "down", filter: "{damaged", authKey: "" }))
    Effect.runSync(streams.add({ url: healthy.url, direction: "down", filter: "", authKey: "" }))
    const relay = await startRelay({}, { stores: Layer.mergeAll(layerMemory, layerMemoryModeration, layerMemoryGroups, Layer.succeed(StreamStore, streams), ClusterBus.layerLocal) })
    stops.push(() => relay.close())
    const restarts = async () => {
      const text = await (await fetch(`${relay.httpUrl}/metrics`)).text()
      const line = text.split("\n").find((l) => l.startsWith("parrhesia_stream_restarts_total{") && l.includes("broken"))
      return Number(line?.split(" ").pop() ?? 0)
    }
    const c = await connect(relay.url)
    await expect.poll(async () => (await req(c, `has-${Date.now()}`, { ids: [good.id] })).events.length, { timeout: 15_000, interval: 200 }).toBe(1)
    await expect.poll(restarts, { timeout: 10_000, interval: 200 }).toBeGreaterThanOrEqual(2)
    // Backoff: 0.5 s, 1 s, 2 s... not a busy loop.
    const seen = await restarts()
    await new Promise((r) => setTimeout(r, 1000))
    expect((await restarts()) - seen).toBeLessThanOrEqual(2)
    await c.close()
  }, 60_000)

  it("up: sends side by side, so a remote far away (each OK after 50 ms) still gets a burst quickly, each event once", async () => {
    const key = newKey()
    const received: Array<string> = []
    const remote = await startFakeRelay((f, ws) => {
      if (f[0] === "EVENT") {
        received.push(f[1].id)
        setTimeout(() => ws.send(JSON.stringify(["OK", f[1].id, true, ""])), 50)
      } else if (f[0] === "REQ") ws.send(JSON.stringify(["EOSE", f[1]]))
      else if (f[0] !== "CLOSE") ws.send(JSON.stringify(["NOTICE", `unknown command ${f[0]}`]))
    })
    stops.push(() => remote.close())
    const relay = await startRelay({ streams: JSON.stringify([{ url: remote.url, direction: "up", filter: { authors: [key.pk] } }]) })
    stops.push(() => relay.close())
    const connectedNow = async () => {
      const text = await (await fetch(`${relay.httpUrl}/metrics`)).text()
      return text.split("\n").some((l) => l.startsWith("parrhesia_stream_connected{") && l.includes(remote.url) && l.endsWith(" 1"))
    }
    await expect.poll(connectedNow, { timeout: 10_000 }).toBe(true)
    const events = Array.from({ length: 200 }, (_, i) => makeEvent({ created_at: now(), content: `burst ${i}` }, key))
    const c = await connect(relay.url)
    const started = Date.now()
    for (const e of events) c.send(["EVENT", e])
    // One at a time this would take 200 x 50 ms = 10 s.
    await expect.poll(() => received.length, { timeout: 8_000, interval: 100 }).toBe(200)
    expect(Date.now() - started).toBeLessThan(8_000)
    expect(new Set(received).size).toBe(200)
    await new Promise((r) => setTimeout(r, 300))
    expect(received.length).toBe(200)
    await c.close()
  }, 60_000)
})
