/**
 * Node.js runtime gauges for GET /metrics, brought up to date when scraped:
 * the JS heap in use and the event-loop delay (p99 and max since the
 * previous scrape, from `perf_hooks.monitorEventLoopDelay`; reset at each
 * scrape, as prom-client's `nodejs_eventloop_lag_*` are). The delay monitor
 * starts at the first scrape: that one reports 0.
 */
import { monitorEventLoopDelay, type ELDHistogram } from "node:perf_hooks"
import { Effect, Metric } from "effect"

export const heapUsedBytes = Metric.gauge("parrhesia_nodejs_heap_used_bytes", {
  description: "V8 heap in use (process.memoryUsage().heapUsed), bytes"
})
export const eventLoopDelayP99Seconds = Metric.gauge("parrhesia_nodejs_eventloop_delay_p99_seconds", {
  description: "Event-loop delay p99 since the previous scrape (perf_hooks.monitorEventLoopDelay, 10 ms resolution), seconds"
})
export const eventLoopDelayMaxSeconds = Metric.gauge("parrhesia_nodejs_eventloop_delay_max_seconds", {
  description: "Longest event-loop delay since the previous scrape, seconds"
})

let delay: ELDHistogram | undefined

/** Sets the runtime gauges (heap now, event-loop delay since the last call) and restarts the delay window. */
export const syncRuntimeMetrics: Effect.Effect<void> = Effect.suspend(() => {
  const heap = process.memoryUsage().heapUsed
  let p99 = 0
  let max = 0
  if (delay === undefined) {
    delay = monitorEventLoopDelay({ resolution: 10 })
    delay.enable()
  } else {
    // Nanoseconds; with no sample yet the histogram's max is 0 and its percentiles 0.
    p99 = delay.percentile(99) / 1e9
    max = delay.max / 1e9
    delay.reset()
  }
  return Effect.all([Metric.update(heapUsedBytes, heap), Metric.update(eventLoopDelayP99Seconds, p99), Metric.update(eventLoopDelayMaxSeconds, max)], {
    discard: true
  })
})
