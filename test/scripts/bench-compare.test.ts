/**
 * The pure part of `npm run bench:compare` (scripts/bench-compare.ts): its arguments, medians and
 * spreads, ratios (working / base) and when a ratio is marked better or worse (the two sides'
 * min–max ranges apart, read by the figure's direction), the table, and the per-run sanity checks.
 * No benchmark runs here.
 */
import { describe, expect, it } from "vitest"
import { chanceApart, compareResults, FIGURES, formatCompareTable, median, parseCompareArgs, resultProblems, summarize, UsageError, type Figure } from "../../scripts/bench-compare.ts"

const ingest = (eventsPerSecond: number, okP99Ms: number) => ({ url: "ws://x", ingest: { events: 100, eventsPerSecond, okP99Ms, accepted: 100, sampled: 10, servedBack: 10 } })
const byName = (name: string) => FIGURES.filter((f) => f.name === name)

describe("bench:compare arguments", () => {
  it("defaults to 3 rounds of ingest,query on postgres and passes bench options through", () => {
    expect(parseCompareArgs(["HEAD~1"])).toEqual({ ref: "HEAD~1", rounds: 3, scenarios: ["ingest", "query"], store: "postgres", benchFlags: [] })
    expect(parseCompareArgs(["--rounds", "5", "main", "--scenarios", "ingest", "--events", "2000", "--store", "memory"])).toEqual({
      ref: "main",
      rounds: 5,
      scenarios: ["ingest"],
      store: "memory",
      benchFlags: ["--events", "2000"]
    })
    expect(parseCompareArgs(["v1", "--scenarios", "all"]).scenarios).toEqual(["ingest", "query", "fanout", "connections"])
  })

  it("refuses a missing or second ref, unknown options and scenarios, bad numbers", () => {
    for (const argv of [[], ["a", "b"], ["a", "--json"], ["a", "--scenarios", "ingest,nope"], ["a", "--rounds", "0"], ["a", "--rounds", "1.5"], ["a", "--events"], ["a", "--store", "sqlite"]]) {
      expect(() => parseCompareArgs(argv), argv.join(" ")).toThrow(UsageError)
    }
  })
})

describe("bench:compare figures", () => {
  it("median of odd and even counts, unsorted; min–max spread", () => {
    expect(median([5, 1, 3])).toBe(3)
    expect(median([4, 1, 3, 10])).toBe(3.5)
    expect(summarize([10, 30, 20, 25])).toEqual({ median: 22.5, min: 10, max: 30, n: 4 })
    expect(() => median([])).toThrow()
  })

  it("ratio is working median over base median; marked only when the ranges do not overlap, by direction", () => {
    const base = [ingest(1000, 20), ingest(1100, 22), ingest(900, 30)]
    const working = [ingest(1300, 10), ingest(1200, 12), ingest(1250, 25)]
    const [eps, p99] = compareResults(base, working, [...byName("ingest events/s"), ...byName("ingest OK p99 ms")])
    expect(eps).toMatchObject({ figure: "ingest events/s", base: { median: 1000, min: 900, max: 1100 }, working: { median: 1250, min: 1200, max: 1300 }, verdict: "better" })
    expect(eps!.ratio).toBeCloseTo(1.25, 10)
    // p99: base 20–30, working 10–25 overlap: a ratio of 0.55 but no mark.
    expect(p99!.ratio).toBeCloseTo(12 / 22, 10)
    expect(p99!.verdict).toBeUndefined()
  })

  it("higher latency beyond the spread is worse, higher throughput beyond it better; a lower throughput worse", () => {
    const slower = compareResults([ingest(1000, 10), ingest(1000, 11)], [ingest(800, 20), ingest(820, 21)], [...byName("ingest events/s"), ...byName("ingest OK p99 ms")])
    expect(slower.map((r) => [r.figure, r.verdict])).toEqual([
      ["ingest events/s", "worse"],
      ["ingest OK p99 ms", "worse"]
    ])
    expect(slower[0]!.ratio).toBeCloseTo(0.81, 10)
    expect(slower[1]!.ratio).toBeCloseTo(20.5 / 10.5, 10)
  })

  it("one run a side: ratio but no mark; a zero base median: no ratio; figures a side lacks are left out", () => {
    const lost: Figure = { name: "lost", better: "lower", get: (r) => r["lost"] }
    const rows = compareResults([{ lost: 0 }, { lost: 0 }], [{ lost: 3 }, { lost: 5 }], [lost])
    expect(rows[0]).toMatchObject({ ratio: undefined, verdict: "worse" })
    const one = compareResults([ingest(1000, 10)], [ingest(2000, 5)])
    expect(one.map((r) => r.figure)).toEqual(["ingest events/s", "ingest OK p99 ms"])
    expect(one.map((r) => r.verdict)).toEqual([undefined, undefined])
    expect(one[0]!.ratio).toBe(2)
  })

  it("chance that an unchanged figure's two ranges come out apart: 2 of the C(2n, n) orders", () => {
    expect(chanceApart(1, 1)).toBe(1)
    expect(chanceApart(2, 2)).toBeCloseTo(1 / 3, 12)
    expect(chanceApart(3, 3)).toBeCloseTo(1 / 10, 12)
    expect(chanceApart(5, 5)).toBeCloseTo(1 / 126, 12)
    expect(chanceApart(2, 3)).toBeCloseTo(1 / 5, 12)
  })

  it("prints figure, base and working median (spread), ratio and mark", () => {
    const table = formatCompareTable(compareResults([ingest(1000, 10), ingest(1100, 12)], [ingest(2000, 11), ingest(2100, 11.5)]))
    const lines = table.trimEnd().split("\n")
    expect(lines[0]).toMatch(/^figure\s+base\s+working\s+ratio$/)
    expect(lines[1]).toMatch(/^ingest events\/s ↑\s+1050 \(1000–1100\)\s+2050 \(2000–2100\)\s+1\.95\s+better$/)
    expect(lines[2]).toMatch(/^ingest OK p99 ms ↓\s+11 \(10–12\)\s+11\.25 \(11–11\.5\)\s+1\.02$/)
  })

  it("names what must hold in a run: events accepted and served back, REQs answered, deliveries made", () => {
    expect(resultProblems(ingest(1000, 10))).toEqual([])
    expect(
      resultProblems({
        ingest: { events: 100, accepted: 98, sampled: 10, servedBack: 9 },
        query: { shapes: { "20 ids": { refused: 2 }, "#p limit 50": { refused: 0 } } },
        fanout: { lost: 1 }
      })
    ).toEqual(["98 of 100 events accepted", "9 of 10 sampled events served back", '2 "20 ids" REQs refused', "1 fanout deliveries lost"])
  })
})
