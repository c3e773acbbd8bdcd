/**
 * The Node.js runtime gauges of /metrics: heap in use, and the event-loop
 * delay since the previous scrape (p99, max), which a blocked loop raises.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { renderPrometheus } from "../../src/observability/metrics.ts"
import { syncRuntimeMetrics } from "../../src/observability/runtime.ts"

const scrape = () => Effect.runPromise(Effect.andThen(syncRuntimeMetrics, renderPrometheus))
const value = (text: string, name: string) => {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text)
  return m ? Number(m[1]) : undefined
}

describe("runtime metrics", () => {
  it("exports the heap in use and the event-loop delay since the previous scrape", async () => {
    await scrape() // starts the delay monitor
    await new Promise((r) => setTimeout(r, 50))
    const busyUntil = Date.now() + 300
    while (Date.now() < busyUntil) {
      /* block the event loop */
    }
    await new Promise((r) => setTimeout(r, 30))
    const text = await scrape()
    expect(text).toMatch(/^# TYPE parrhesia_nodejs_heap_used_bytes gauge$/m)
    expect(value(text, "parrhesia_nodejs_heap_used_bytes")).toBeGreaterThan(1_000_000)
    expect(value(text, "parrhesia_nodejs_eventloop_delay_max_seconds")).toBeGreaterThan(0.25)
    expect(value(text, "parrhesia_nodejs_eventloop_delay_p99_seconds")).toBeGreaterThan(0)
    // The window restarts at each scrape: a quiet one after shows no such delay.
    await new Promise((r) => setTimeout(r, 60))
    expect(value(await scrape(), "parrhesia_nodejs_eventloop_delay_max_seconds")).toBeLessThan(0.25)
  })
})
