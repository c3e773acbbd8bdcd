/**
 * The status page's last hour in memory: per-second latency quantiles (within
 * the buckets' ±10%, by the second a duration ended in, a second's slot
 * reused four seconds later) and the ring of samples (fixed size, oldest
 * overwritten, read after a time, null kept as null).
 */
import { describe, expect, it } from "vitest"
import { History, RecentLatency, SERIES, type SampleValues } from "../../src/observability/history.ts"

const at = (second: number, ms = 500) => second * 1000 + ms

describe("RecentLatency", () => {
  it("gives the p95 of the durations that ended in a second, within 10%", () => {
    const r = new RecentLatency()
    // 1..100 ms: the p95 is 95 ms.
    for (let i = 1; i <= 100; i++) r.record(i, at(1000, i))
    const p95 = r.quantile(1000, 0.95)!
    expect(p95).toBeGreaterThan(95 * 0.9)
    expect(p95).toBeLessThan(95 * 1.1)
    expect(r.quantile(1000, 0.5)!).toBeGreaterThan(45)
    expect(r.quantile(1000, 0.5)!).toBeLessThan(55)
  })

  it("keeps seconds apart, answers null for a second without durations, and reuses a slot four seconds later", () => {
    const r = new RecentLatency()
    r.record(2, at(10))
    r.record(200, at(11))
    expect(r.quantile(10, 0.95)!).toBeLessThanOrEqual(2.2)
    expect(r.quantile(11, 0.95)!).toBeGreaterThan(180)
    expect(r.quantile(12, 0.95)).toBeNull()
    // Second 14 takes second 10's slot: 10 is gone, 14 holds only its own.
    r.record(50, at(14))
    expect(r.quantile(10, 0.95)).toBeNull()
    expect(r.quantile(14, 0.95)!).toBeGreaterThan(45)
    expect(r.quantile(14, 0.95)!).toBeLessThan(55)
  })

  it("takes the tiny and the huge: under 0.01 ms, and past the last bucket", () => {
    const r = new RecentLatency()
    r.record(0, at(5))
    expect(r.quantile(5, 0.95)!).toBeLessThanOrEqual(0.01)
    r.record(10_000_000, at(6))
    expect(r.quantile(6, 0.95)!).toBeGreaterThan(100_000)
  })
})

const values = (n: number, missing = false): SampleValues =>
  Object.fromEntries(SERIES.map((s) => [s, missing && s === "okP95Ms" ? null : n])) as unknown as SampleValues

describe("History", () => {
  it("keeps the newest `capacity` samples, oldest first, and answers those after a time", () => {
    const h = new History(5)
    expect(h.latest).toBeUndefined()
    expect(h.since(0).t).toEqual([])
    for (let t = 1; t <= 8; t++) h.push(100 + t, values(t, t === 7))
    expect(h.size).toBe(5)
    expect(h.latest).toBe(108)
    const all = h.since(0)
    expect(all).toMatchObject({ interval: 1, capacity: 5, t: [104, 105, 106, 107, 108] })
    expect(all.series.eventsPerSecond).toEqual([4, 5, 6, 7, 8])
    expect(all.series.okP95Ms).toEqual([4, 5, 6, null, 8])
    expect(h.since(106)).toMatchObject({ t: [107, 108], series: { connections: [7, 8] } })
    expect(h.since(108).t).toEqual([])
  })

  it("rounds to hundredths", () => {
    const h = new History(2)
    h.push(1, values(1 / 3))
    expect(h.since(0).series.reqsPerSecond).toEqual([0.33])
  })
})
