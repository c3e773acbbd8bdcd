/**
 * Issue 16, item 4, end to end: the flood that took a relay from 200 MB to
 * 1.45 GB, scaled to run in seconds. A relay process (memory store, default
 * settings) gets CONNECTIONS connections from 127.0.0.1, each sending 50
 * REQs of 20 filters holding 3,800 distinct authors (a 255 KB frame, within
 * every message limit and rate limit). The subscription budgets must refuse
 * with CLOSED "blocked: ..." (first the connection's, then the IP's), the
 * charged total in /metrics must stay within the per-IP budget, and the
 * relay's resident memory must grow by less than RSS_BOUND. Without the
 * budgets the same flood indexes 600 subscriptions (about 2.3 million
 * values) and the relay grows by several hundred MB.
 */
import { randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { defaults } from "../../src/config/RelayConfig.ts"
import { startRelayProcess, type RelayProcess } from "../support/processes.ts"
import { collect, connect, type RawClient } from "../support/ws.ts"

const MB = 1024 * 1024
const CONNECTIONS = 20
const SUBS = 50
const FILTERS = 20
const AUTHORS_PER_FILTER = 190
/** Resident memory the flood may add to the relay (the charged state is bounded by the 64 MiB per-IP budget; the rest is parsing garbage not yet returned). */
const RSS_BOUND = 320 * MB

/** PARRHESIA_BUDGET_TEST_OFF=1 runs the same flood with both budgets off, to see the test fail. */
const OFF = process.env.PARRHESIA_BUDGET_TEST_OFF === "1"

/** A REQ text with AUTHORS_PER_FILTER distinct random authors in each of its FILTERS filters. */
const floodReq = (subId: string): string => {
  const hex = randomBytes(32 * FILTERS * AUTHORS_PER_FILTER).toString("hex")
  const filters: Array<string> = []
  for (let f = 0; f < FILTERS; f++) {
    const authors: Array<string> = []
    for (let a = 0; a < AUTHORS_PER_FILTER; a++) {
      const at = (f * AUTHORS_PER_FILTER + a) * 64
      authors.push(`"${hex.slice(at, at + 64)}"`)
    }
    filters.push(`{"authors":[${authors.join(",")}]}`)
  }
  return `["REQ","${subId}",${filters.join(",")}]`
}

/** The relay process's resident memory now and at its peak (Linux: /proc). */
const rssOf = (pid: number): { readonly rss: number; readonly peak: number } => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)![1]) * 1024
  return { rss: kb("VmRSS"), peak: kb("VmHWM") }
}

const metric = (text: string, line: string): number => {
  const m = new RegExp(`^${line.replace(/[{}"]/g, "\\$&")} (\\S+)$`, "m").exec(text)
  return m === null ? 0 : Number(m[1])
}

let relay: RelayProcess
const clients: Array<RawClient> = []
beforeAll(async () => {
  relay = await startRelayProcess(OFF ? { PARRHESIA_MAX_SUBSCRIPTION_BYTES_PER_CONNECTION: "0", PARRHESIA_MAX_SUBSCRIPTION_BYTES_PER_IP: "0" } : {})
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await relay.stop()
})

describe.skipIf(process.platform !== "linux")("subscription budgets under a flood (issue 16)", () => {
  it("refuses REQs past the connection's and the IP's budget with CLOSED blocked:, and the relay's memory stays bounded", async () => {
    const http = relay.url.replace(/^ws/, "http")
    const metrics = async () => (await fetch(`${http}/metrics`)).text()
    // Warm-up: JIT and first allocations of the REQ path, so the baseline is the relay at work, not at rest.
    const warm = await connect(relay.url)
    for (let i = 0; i < 3; i++) {
      warm.send(floodReq(`w${i}`))
      expect((await collect(warm, `w${i}`)).end.type).toBe("EOSE")
    }
    await warm.close()
    const before = rssOf(relay.child.pid!)

    const perConnection: Array<{ readonly admitted: number; readonly refused: ReadonlyArray<string> }> = []
    const started = Date.now()
    // One connection after the other, so that which budget refuses what is deterministic.
    for (let c = 0; c < CONNECTIONS; c++) {
      const client = await connect(relay.url)
      clients.push(client)
      const answers: Array<Promise<Awaited<ReturnType<typeof collect>>>> = []
      for (let s = 0; s < SUBS; s++) {
        client.send(floodReq(`s${s}`))
        answers.push(collect(client, `s${s}`))
      }
      const ends = (await Promise.all(answers)).map((r) => r.end)
      perConnection.push({
        admitted: ends.filter((e) => e.type === "EOSE").length,
        refused: ends.flatMap((e) => (e.type === "CLOSED" ? [e.message] : []))
      })
    }
    const during = rssOf(relay.child.pid!)
    const text = await metrics()
    const charged = metric(text, "parrhesia_subscription_bytes")
    const admitted = perConnection.reduce((n, p) => n + p.admitted, 0)
    console.log(
      `[subscription budget] ${OFF ? "budgets OFF: " : ""}${CONNECTIONS} connections x ${SUBS} REQs of ${FILTERS * AUTHORS_PER_FILTER} authors in ${Date.now() - started} ms: ` +
        `${admitted} admitted (${perConnection.map((p) => p.admitted).join(",")}), charged ${(charged / MB).toFixed(1)} MB; ` +
        `relay rss ${(before.rss / MB).toFixed(0)} -> ${(during.rss / MB).toFixed(0)} MB (peak ${(during.peak / MB).toFixed(0)} MB)`
    )

    expect(during.rss - before.rss).toBeLessThan(RSS_BOUND)
    expect(during.peak - before.rss).toBeLessThan(RSS_BOUND)
    expect(charged).toBeGreaterThan(0)
    expect(charged).toBeLessThanOrEqual(defaults().maxSubscriptionBytesPerIp)
    // Every refusal is a blocked: CLOSED naming its budget; the first connections meet their own, later ones the IP's.
    const all = perConnection.flatMap((p) => p.refused)
    for (const m of all) expect(m).toMatch(/^blocked: .*(maxSubscriptionBytesPerConnection|maxSubscriptionBytesPerIp)/)
    expect(perConnection[0]!.refused[0]).toContain("maxSubscriptionBytesPerConnection")
    expect(all.some((m) => m.includes("maxSubscriptionBytesPerIp"))).toBe(true)
    expect(perConnection.at(-1)!.admitted).toBe(0)
    expect(metric(text, `parrhesia_subscription_budget_refusals_total{budget="connection"}`)).toBeGreaterThan(0)
    expect(metric(text, `parrhesia_subscription_budget_refusals_total{budget="ip"}`)).toBeGreaterThan(0)

    // Closing the connections gives the budget back (the gauge is read at each scrape; the closes are asynchronous).
    await Promise.all(clients.splice(0).map((c) => c.close()))
    const deadline = Date.now() + 10_000
    let left = charged
    while ((left = metric(await metrics(), "parrhesia_subscription_bytes")) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(left).toBe(0)
  }, 120_000)
})
