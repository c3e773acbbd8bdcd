/// <reference lib="dom" />
/**
 * The status page in a real headless Chromium (@sparticuz/chromium driven by
 * puppeteer-core, both pinned): it renders the relay's name, NIPs and limits,
 * its live figures and its charts of the last hour (events/s, REQs/s, OK and
 * EOSE p95, connections, subscriptions: SVG polylines) change after traffic
 * (without a reload), the store's size and readiness show, a stream and a
 * mirror upstream show with their direction, state and lag, a script in the page
 * publishes and reads an event through the browser's own WebSocket, the same
 * works over https/wss with the relay's own TLS, and a banner appears while
 * the store is unavailable.
 */
import { copyFileSync, mkdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import chromium from "@sparticuz/chromium"
import puppeteer, { type Browser, type Page } from "puppeteer-core"
import { Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { layerMemoryStores } from "../../src/storage/layer.ts"
import { StoreHealth, type StoreStatus } from "../../src/storage/StoreHealth.ts"
import { makeEvent, newKey } from "../support/nostr.ts"
import { startRelay, type TestRelay } from "../support/relay.ts"
import { makeTestCa } from "../support/tls.ts"
import { connect, now, publishOk, req } from "../support/ws.ts"

/** In the page: publish `event` over the page's own WebSocket to its relay, then read it back by id. */
const publishAndRead = (page: Page, event: NostrEvent) =>
  page.evaluate(
    (e: { readonly id: string }) =>
      new Promise<{ url: string; ok: unknown; read: string | undefined }>((resolve, reject) => {
        const url = document.getElementById("relay-url")!.textContent!
        const ws = new WebSocket(url)
        let ok: unknown
        ws.onerror = () => reject(new Error(`WebSocket to ${url} failed`))
        ws.onopen = () => ws.send(JSON.stringify(["EVENT", e]))
        ws.onmessage = (m) => {
          const f = JSON.parse(m.data)
          if (f[0] === "OK" && f[1] === e.id) {
            ok = f[2]
            ws.send(JSON.stringify(["REQ", "read", { ids: [e.id] }]))
          } else if (f[0] === "EVENT" && f[1] === "read") {
            resolve({ url, ok, read: f[2].id })
            ws.close()
          } else if (f[0] === "EOSE") resolve({ url, ok, read: undefined })
        }
      }),
    event
  )

const text = (page: Page, id: string) => page.$eval(`#${id}`, (el) => el.textContent ?? "")

/** A chart's polyline points, and the largest value it holds (data-max). */
const chart = (page: Page, series: string) =>
  page.$eval(`#chart-${series}`, (fig) => ({
    points: fig.querySelector("polyline")!.getAttribute("points") ?? "",
    max: Number((fig as HTMLElement).dataset["max"] ?? 0)
  }))

describe("status page in headless Chromium", () => {
  let browser: Browser
  const relays: Array<TestRelay> = []
  beforeAll(async () => {
    // The browser unpacks into $TMPDIR/chromium: a folder of its own.
    const dir = join(tmpdir(), "parrhesia-chromium")
    mkdirSync(dir, { recursive: true })
    const saved = process.env["TMPDIR"]
    process.env["TMPDIR"] = dir
    const executablePath = await chromium.executablePath()
    if (saved === undefined) delete process.env["TMPDIR"]
    else process.env["TMPDIR"] = saved
    browser = await puppeteer.launch({
      executablePath,
      headless: true,
      // As root Chromium needs --no-sandbox; the test CA's certificate is not in its store.
      args: ["--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--disable-background-networking", "--disable-component-update"]
    })
  }, 120_000)
  afterAll(async () => {
    await browser?.close()
    // Mirrors before their upstreams.
    for (const r of relays.reverse()) await r.close()
  })

  it("renders the relay's facts and updates its figures without a reload", async () => {
    const relay = await startRelay({ name: "Status <Test> Relay", description: "A relay for the browser test.", maxLimit: 777 })
    relays.push(relay)
    const page = await browser.newPage()
    const response = await page.goto(relay.httpUrl, { waitUntil: "load" })
    expect(response?.headers()["content-type"]).toMatch(/^text\/html/)
    expect(await page.title()).toBe("Status <Test> Relay")
    expect(await text(page, "name")).toBe("Status <Test> Relay")
    expect(await page.$$eval("ul.nips li", (lis) => lis.map((l) => l.textContent))).toEqual(expect.arrayContaining(["NIP-01", "NIP-11", "NIP-77"]))
    expect(await page.$eval("#limits", (t) => t.textContent)).toMatch(/max limit\s*777/)
    expect(await text(page, "relay-url")).toBe(relay.url)

    await page.waitForFunction(() => Number(document.body.dataset["updates"] ?? 0) >= 1)
    expect(await text(page, "stored-events")).toBe("0")
    expect(await text(page, "store-size")).toBe("0 B")
    expect(await text(page, "store-ready")).toBe("ready")
    expect(await page.$eval("#store-banner", (el) => (el as HTMLElement).hidden)).toBe(true)
    // No mirror upstream, no stream service: no streams section.
    expect(await page.$eval("#streams-section", (el) => (el as HTMLElement).hidden)).toBe(true)
    // Six charts, drawn once the first samples arrive (one a second); nothing happened yet.
    expect(await page.$$eval(".chart svg polyline", (ls) => ls.length)).toBe(6)
    await page.waitForFunction(() => document.querySelector("#chart-connections polyline")!.getAttribute("points") !== "", { timeout: 10_000 })
    const quiet = await chart(page, "eventsPerSecond")
    expect(quiet.max).toBe(0)
    expect((await chart(page, "okP95Ms")).points).toBe("")

    const c = await connect(relay.url)
    const key = newKey()
    for (let i = 0; i < 3; i++) await publishOk(c, makeEvent({ created_at: now() - i }, key))
    for (let i = 0; i < 3; i++) await req(c, `r${i}`, { authors: [key.pk] })
    // The page's own poll brings the new figures and samples: no reload.
    await page.waitForFunction(() => document.getElementById("stored-events")!.textContent === "3", { timeout: 15_000 })
    await page.waitForFunction(() => Number(document.getElementById("connections")!.textContent) >= 1)
    await page.waitForFunction(
      () => ["eventsPerSecond", "reqsPerSecond", "okP95Ms", "eoseP95Ms", "connections", "subscriptions"].every((s) => Number((document.getElementById(`chart-${s}`) as HTMLElement).dataset["max"]) > 0),
      { timeout: 15_000 }
    )
    const busy = await chart(page, "eventsPerSecond")
    expect(busy.points).not.toBe(quiet.points)
    expect(busy.max).toBeGreaterThan(0)
    // Every point lies inside the SVG's box (300 x 64 user units).
    for (const p of busy.points.split(" ")) {
      const [x, y] = p.split(",").map(Number)
      expect(x).toBeGreaterThanOrEqual(0)
      expect(x).toBeLessThanOrEqual(300)
      expect(y).toBeGreaterThanOrEqual(0)
      expect(y).toBeLessThanOrEqual(64)
    }
    expect((await chart(page, "okP95Ms")).points).not.toBe("")
    expect(await page.$eval("#chart-okP95Ms figcaption b", (b) => b.textContent)).toMatch(/ms$/)
    expect(await text(page, "store-size")).toMatch(/^\d[\d.]* (B|kB)$/)
    expect(await text(page, "store-size")).not.toBe("0 B")
    // The history answers only what the page lacks.
    const history = (await (await fetch(`${relay.httpUrl}/stats/history?after=${now() - 2}`)).json()) as { t: Array<number>; capacity: number }
    expect(history.capacity).toBe(3600)
    expect(history.t.length).toBeLessThanOrEqual(3)
    await c.close()

    const e = makeEvent({ created_at: now(), content: "from the browser" }, key)
    expect(await publishAndRead(page, e)).toEqual({ url: relay.url, ok: true, read: e.id })
    await page.close()
  }, 60_000)

  it("shows a banner with the reason while the store is unavailable, and hides it once the store is back", async () => {
    let status: StoreStatus = { ready: false, server: "down", reason: "the embedded PostgreSQL (pid 42) ended (signal SIGKILL)", since: Date.now(), restarts: 0 }
    const relay = await startRelay({}, { stores: Layer.merge(layerMemoryStores, Layer.succeed(StoreHealth, { status: () => status })) })
    relays.push(relay)
    const page = await browser.newPage()
    await page.goto(relay.httpUrl, { waitUntil: "load" })
    await page.waitForFunction(() => !(document.getElementById("store-banner") as HTMLElement).hidden)
    expect(await text(page, "store-banner")).toMatch(/Storage is unavailable\..*ended \(signal SIGKILL\)/)
    expect(await text(page, "store-ready")).toBe("unavailable")
    status = { ...status, ready: true, server: "up", reason: "", restarts: 1 }
    await page.waitForFunction(() => (document.getElementById("store-banner") as HTMLElement).hidden, { timeout: 10_000 })
    await page.close()
  }, 60_000)

  it("lists the streams and the mirror upstreams with their state and lag", async () => {
    const upstream = await startRelay({})
    const remote = await startRelay({})
    relays.push(upstream, remote)
    const relay = await startRelay({ mirrorUpstreams: [upstream.url], streams: JSON.stringify([{ url: remote.url, direction: "both" }]) })
    relays.push(relay)
    const page = await browser.newPage()
    await page.goto(relay.httpUrl, { waitUntil: "load" })
    await page.waitForFunction(() => !(document.getElementById("streams-section") as HTMLElement).hidden, { timeout: 10_000 })
    await page.waitForFunction(() => Array.from(document.querySelectorAll("#streams td.state")).every((td) => td.textContent === "connected"), { timeout: 15_000 })
    const rows = () => page.$$eval("#streams tbody tr", (trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td")).map((td) => td.textContent)))
    expect(await rows()).toEqual([
      [remote.url, "both", "connected", "–"],
      [upstream.url, "in", "connected", "–"]
    ])
    // A live event through the mirror: its lag (seconds behind its created_at) shows, without a reload.
    const c = await connect(upstream.url)
    await publishOk(c, makeEvent({ created_at: now() - 30, content: "mirrored" }))
    await c.close()
    await page.waitForFunction(() => /^\d+ s$/.test(document.querySelectorAll("#streams tbody tr")[1]?.querySelectorAll("td")[3]?.textContent ?? ""), { timeout: 15_000 })
    const lag = Number((await rows())[1]![3]!.split(" ")[0])
    expect(lag).toBeGreaterThanOrEqual(30)
    expect(lag).toBeLessThan(60)
    await page.close()
  }, 60_000)

  it("works over https and wss with the relay's own certificate", async () => {
    const ca = makeTestCa()
    const cert = ca.issue("browser")
    const certFile = join(ca.dir, "live.crt")
    copyFileSync(cert.certFile, certFile)
    const relay = await startRelay({ tlsCert: certFile, tlsKey: cert.keyFile })
    relays.push(relay)
    expect(relay.url).toMatch(/^wss:/)
    const page = await browser.newPage()
    await page.goto(relay.httpUrl.replace(/^ws/, "http"), { waitUntil: "load" })
    expect(await text(page, "relay-url")).toBe(relay.url)
    await page.waitForFunction(() => Number(document.body.dataset["updates"] ?? 0) >= 1)
    const e = makeEvent({ created_at: now(), content: "over wss from the browser" })
    expect(await publishAndRead(page, e)).toEqual({ url: relay.url, ok: true, read: e.id })
    await page.close()
  }, 60_000)
})
