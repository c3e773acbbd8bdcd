/**
 * The hot window end to end: the memory store behind it (withHotWindow, as the PostgreSQL store
 * has in production), so the protocol suites run their REQs and COUNTs through the window; and
 * what /metrics says of it: a REQ answered from the window counts as a hit, a deletion is
 * respected at once.
 */
import { describe, expect, it } from "vitest"
import type { Settings } from "../../src/config/settings.ts"
import { layerMemoryStores } from "../../src/storage/layer.ts"
import { withHotWindow } from "../../src/storage/withHotWindow.ts"
import { idsOf, makeEvent, newKey } from "../support/nostr.ts"
import { startRelay } from "../support/relay.ts"
import { useRelays } from "../support/relays.ts"
import { connect, now, publishOk, req } from "../support/ws.ts"
import { accessSuite } from "./access.suite.ts"
import { giftWrapSuite } from "./giftwrap.suite.ts"
import { hllSuite } from "./hll.suite.ts"
import { nip01Suite } from "./nip01.suite.ts"
import { requestsSuite } from "./requests.suite.ts"

const start = (overrides: Partial<Settings> = {}) =>
  startRelay({ hotWindowBytes: 4 * 1024 * 1024, ...overrides }, { stores: withHotWindow(layerMemoryStores) })

nip01Suite("memory + hot window", () => start())
requestsSuite("memory + hot window", start)
accessSuite("memory + hot window", start)
giftWrapSuite("memory + hot window", start)
hllSuite("memory + hot window", start)

const metric = async (httpUrl: string, line: string): Promise<number> => {
  const text = await (await fetch(`${httpUrl}/metrics`)).text()
  const found = text.split("\n").find((l) => l.startsWith(`${line} `))
  return found === undefined ? NaN : Number(found.slice(line.length + 1))
}

describe("hot window", () => {
  const relays = useRelays(start)

  it("answers a REQ from the window (a hit in /metrics) and respects a deletion at once", async () => {
    const relay = await relays.start()
    const c = await relays.open(relay)
    const k = newKey()
    const events = Array.from({ length: 5 }, (_, i) => makeEvent({ created_at: now() - 10 + i, content: `note ${i}` }, k))
    for (const e of events) await publishOk(c, e)

    const hits = await metric(relay.httpUrl, 'parrhesia_hot_window_answers_total{result="hit"}')
    const got = await req(c, "a", { authors: [k.pk], limit: 3 })
    expect(idsOf(got.events)).toEqual([events[4]!.id, events[3]!.id, events[2]!.id])
    // Served as stored: the same text the store keeps.
    expect(await metric(relay.httpUrl, 'parrhesia_hot_window_answers_total{result="hit"}')).toBe(hits + 1)
    expect(await metric(relay.httpUrl, "parrhesia_hot_window_events")).toBeGreaterThanOrEqual(5)
    expect(await metric(relay.httpUrl, "parrhesia_hot_window_bytes")).toBeGreaterThan(0)
    expect(await metric(relay.httpUrl, "parrhesia_hot_window_covered_since")).toBe(0)

    await publishOk(c, makeEvent({ kind: 5, created_at: now(), tags: [["e", events[4]!.id]] }, k))
    const after = await req(c, "b", { authors: [k.pk], kinds: [1], limit: 3 })
    expect(idsOf(after.events)).toEqual([events[3]!.id, events[2]!.id, events[1]!.id])
    expect(await metric(relay.httpUrl, 'parrhesia_hot_window_answers_total{result="hit"}')).toBe(hits + 2)
  })

  it("answers a COUNT from the window", async () => {
    const relay = await relays.start()
    const c = await relays.open(relay)
    const k = newKey()
    for (let i = 0; i < 3; i++) await publishOk(c, makeEvent({ created_at: now() - i }, k))
    const ws = await connect(relay.url)
    ws.send(["COUNT", "n", { authors: [k.pk] }])
    const count = await ws.next((f) => f[0] === "COUNT" && f[1] === "n")
    expect(count[2]).toEqual({ count: 3 })
    await ws.close()
  })
})
