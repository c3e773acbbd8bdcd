/**
 * Plain HTTP on the relay port: NIP-11, CORS preflight, /health, /ready,
 * /metrics, and refusal of WebSocket upgrades on other paths.
 */
import { Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { layerMemoryStores } from "../../src/storage/layer.ts"
import { StoreHealth } from "../../src/storage/StoreHealth.ts"
import { makeEvent, newKey } from "../support/nostr.ts"
import { startRelay, type TestRelay } from "../support/relay.ts"
import { connect, forSub, nextEvent, now, publish, req } from "../support/ws.ts"

const CONFIG = {
  name: "test relay",
  description: "for tests",
  maxMessageBytes: 100_000,
  maxSubscriptions: 7,
  maxFilters: 9,
  maxLimit: 123,
  defaultLimit: 45,
  maxSubidLength: 33,
  maxEventTags: 77,
  maxContentLength: 5555,
  createdAtLowerLimit: 86400,
  createdAtUpperLimit: 300
}

let relay: TestRelay
beforeAll(async () => {
  relay = await startRelay(CONFIG)
})
afterAll(() => relay.close())

const expectCors = (res: Response) => {
  expect(res.headers.get("access-control-allow-origin")).toBe("*")
  expect(res.headers.get("access-control-allow-headers")).toBeTruthy()
  expect(res.headers.get("access-control-allow-methods")).toMatch(/GET/)
}

describe("NIP-11", () => {
  it("serves the relay information document for Accept: application/nostr+json", async () => {
    const res = await fetch(relay.httpUrl, { headers: { accept: "application/nostr+json" } })
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toMatch(/^application\/nostr\+json/)
    expectCors(res)
    const doc = (await res.json()) as Record<string, any>
    expect(doc.name).toBe(CONFIG.name)
    expect(doc.description).toBe(CONFIG.description)
    expect(doc.supported_nips).toEqual(expect.arrayContaining([1, 9, 11, 40, 42, 45, 50, 62, 70, 77]))
    expect(doc.supported_nips).not.toContain(13)

    expect(typeof doc.version).toBe("string")
    expect(doc.limitation).toMatchObject({
      max_message_length: CONFIG.maxMessageBytes,
      max_subscriptions: CONFIG.maxSubscriptions,
      max_filters: CONFIG.maxFilters,
      max_limit: CONFIG.maxLimit,
      default_limit: CONFIG.defaultLimit,
      max_subid_length: CONFIG.maxSubidLength,
      max_event_tags: CONFIG.maxEventTags,
      max_content_length: CONFIG.maxContentLength,
      created_at_lower_limit: CONFIG.createdAtLowerLimit,
      created_at_upper_limit: CONFIG.createdAtUpperLimit,
      auth_required: false,
      payment_required: false
    })
  })

  it("serves it with the accept header among others, and a plain page without it", async () => {
    const res = await fetch(relay.httpUrl, { headers: { accept: "text/html, application/nostr+json;q=0.9" } })
    expect(res.headers.get("content-type")).toMatch(/^application\/nostr\+json/)
    const mixedCase = await fetch(relay.httpUrl, { headers: { accept: "Application/Nostr+JSON" } })
    expect(mixedCase.headers.get("content-type")).toMatch(/^application\/nostr\+json/)
    const plain = await fetch(relay.httpUrl, { headers: { accept: "text/html" } })
    expect(plain.status).toBe(200)
    expect(plain.headers.get("content-type")).not.toMatch(/nostr\+json/)
  })

  it("answers a CORS preflight", async () => {
    const res = await fetch(relay.httpUrl, {
      method: "OPTIONS",
      headers: { origin: "https://example.com", "access-control-request-method": "GET", "access-control-request-headers": "accept" }
    })
    expect(res.status).toBeLessThan(300)
    expectCors(res)
  })
})

describe("/health and unknown paths", () => {
  it("/health answers 200", async () => {
    const res = await fetch(`${relay.httpUrl}/health`)
    expect(res.status).toBe(200)
    expect(await res.text()).toMatch(/ok/)
  })

  it("refuses a WebSocket upgrade on a path other than /", async () => {
    await expect(connect(`${relay.url}/other`)).rejects.toThrow(/upgrade refused: HTTP 404/)
    await expect(connect(`${relay.url}/health`)).rejects.toThrow(/upgrade refused/)
    // "/" with a query string is still the relay.
    const c = await connect(`${relay.url}/?x=1`)
    await c.close()
  })
})

// ---------------------------------------------------------------- /metrics

const scrape = async (): Promise<Map<string, number>> => {
  const res = await fetch(`${relay.httpUrl}/metrics`)
  expect(res.status).toBe(200)
  expect(res.headers.get("content-type")).toMatch(/^text\/plain/)
  const out = new Map<string, number>()
  for (const line of (await res.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const i = line.lastIndexOf(" ")
    out.set(line.slice(0, i), Number(line.slice(i + 1)))
  }
  return out
}
const delta = (before: Map<string, number>, after: Map<string, number>, key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0)

/** Scrapes until `pred` holds (the connection finalizers run just after the close event). */
const scrapeUntil = async (pred: (m: Map<string, number>) => boolean) => {
  for (let i = 0; i < 200; i++) {
    const m = await scrape()
    if (pred(m)) return m
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error("metrics never reached the expected state")
}

describe("/ready", () => {
  it("answers 200 with the store's state while the store is ready (memory: always)", async () => {
    const res = await fetch(`${relay.httpUrl}/ready`)
    expect(res.status).toBe(200)
    expect(res.headers.get("cache-control")).toBe("no-store")
    expect(await res.json()).toMatchObject({ ready: true, reason: "" })
  })

  it("answers 503 with the reason, and says so in /stats and /metrics, while the store is unavailable (/health stays ok)", async () => {
    const down = { ready: false, server: "restarting", reason: "the embedded PostgreSQL is restarting (attempt 1)", since: 1_700_000_000_000, restarts: 3 } as const
    const sick = await startRelay({}, { stores: Layer.merge(layerMemoryStores, Layer.succeed(StoreHealth, { status: () => down })) })
    try {
      const ready = await fetch(`${sick.httpUrl}/ready`)
      expect(ready.status).toBe(503)
      expect(await ready.json()).toEqual(down)
      expect((await fetch(`${sick.httpUrl}/health`)).status).toBe(200)
      const stats = (await (await fetch(`${sick.httpUrl}/stats`)).json()) as { store: unknown }
      expect(stats.store).toEqual({ ready: false, reason: down.reason, since: down.since })
      const metrics = await (await fetch(`${sick.httpUrl}/metrics`)).text()
      expect(metrics).toMatch(/^parrhesia_store_ready 0$/m)
      expect(metrics).toMatch(/^parrhesia_store_restarts_total [1-9]\d*$/m)
    } finally {
      await sick.close()
    }
  })
})

describe("/metrics", () => {
  it("exposes Prometheus text whose counters move with traffic", async () => {
    const before = await scrapeUntil((m) => m.get("parrhesia_connections") === 0)

    const k = newKey()
    const sub = await connect(relay.url)
    const pub = await connect(relay.url)
    await req(sub, "live", { authors: [k.pk] })
    await req(sub, "other", { authors: [k.pk] }, { kinds: [1] })
    const during = await scrape()
    expect(during.get("parrhesia_connections")).toBe(2)
    expect(during.get("parrhesia_subscriptions")).toBe(2)

    const good = [makeEvent({ created_at: now() }, k), makeEvent({ created_at: now() }, k)]
    for (const e of good) expect((await publish(pub, e)).accepted).toBe(true)
    for (let i = 0; i < 2; i++) await nextEvent(sub, "live")
    expect((await publish(pub, good[0]!)).message).toMatch(/^duplicate: /)
    const bad = { ...makeEvent({ created_at: now() }, k), content: "tampered" }
    expect((await publish(pub, bad)).message).toMatch(/^invalid: /)
    const tooBig = makeEvent({ content: "x".repeat(CONFIG.maxContentLength + 1), created_at: now() }, k)
    expect((await publish(pub, tooBig)).message).toMatch(/^invalid: /)
    pub.send(["COUNT", "c", { authors: [k.pk] }])
    await pub.next(forSub("c"))

    await sub.close()
    await pub.close()
    const after = await scrapeUntil((m) => m.get("parrhesia_connections") === 0)
    const text = await (await fetch(`${relay.httpUrl}/metrics`)).text()
    expect(text).toMatch(/# TYPE parrhesia_events_received_total counter/)
    expect(text).toMatch(/# TYPE parrhesia_connections gauge/)
    expect(text).toMatch(/# TYPE parrhesia_event_ok_seconds histogram/)
    expect(delta(before, after, "parrhesia_events_received_total")).toBe(5)
    expect(delta(before, after, 'parrhesia_events_total{result="accepted"}')).toBe(2)
    expect(delta(before, after, 'parrhesia_events_total{result="duplicate"}')).toBe(1)
    expect(delta(before, after, 'parrhesia_events_total{result="invalid"}')).toBe(2)
    expect(delta(before, after, "parrhesia_reqs_total")).toBe(2)
    expect(delta(before, after, "parrhesia_counts_total")).toBe(1)
    // Two accepted events, each to two subscriptions.
    expect(delta(before, after, "parrhesia_fanout_deliveries_total")).toBe(4)
    expect(delta(before, after, "parrhesia_event_ok_seconds_count")).toBe(5)
    expect(delta(before, after, 'parrhesia_event_ok_seconds_bucket{le="+Inf"}')).toBe(5)
    expect(after.get("parrhesia_event_ok_seconds_sum")).toBeGreaterThanOrEqual(before.get("parrhesia_event_ok_seconds_sum") ?? 0)
    expect(delta(before, after, "parrhesia_req_eose_seconds_count")).toBe(2)
    expect(after.get("parrhesia_connections")).toBe(0)
    expect(after.get("parrhesia_subscriptions")).toBe(0)
  })
})
