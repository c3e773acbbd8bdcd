/**
 * The relay's metrics (Effect Metric) and their Prometheus text rendering for
 * GET /metrics.
 */
import { Effect, Metric } from "effect"
import { RecentLatency } from "./history.ts"

/** One metric per name and attribute set, made on first use. */
const memo = new Map<string, Metric.Metric<number, unknown>>()
const once = <T extends Metric.Metric<number, unknown>>(key: string, make: () => T): T => {
  let m = memo.get(key)
  if (m === undefined) {
    m = make()
    memo.set(key, m)
  }
  return m as T
}

export const eventsReceived = Metric.counter("parrhesia_events_received_total", {
  description: "EVENT messages received"
})
const resultCounters = new Map<string, Metric.Counter<number>>()
/** Tagged with `result`: the NIP-01 prefix of the OK message, or "accepted". One counter per result, made once (this runs per EVENT). */
export const eventsResult = (result: string): Metric.Counter<number> => {
  let counter = resultCounters.get(result)
  if (counter === undefined) {
    counter = Metric.counter("parrhesia_events_total", {
      description: "EVENT outcomes by result (accepted, or the rejection prefix)",
      attributes: { result }
    })
    resultCounters.set(result, counter)
  }
  return counter
}
export const reqsReceived = Metric.counter("parrhesia_reqs_total", { description: "REQ messages received" })
export const countsReceived = Metric.counter("parrhesia_counts_total", { description: "COUNT messages received" })
export const openConnections = Metric.gauge("parrhesia_connections", { description: "Open WebSocket connections" })
export const openSubscriptions = Metric.gauge("parrhesia_subscriptions", { description: "Open live subscriptions" })
export const subscriptionBytes = Metric.gauge("parrhesia_subscription_bytes", {
  description: "Estimated bytes the live subscriptions hold (what the subscription budgets charge)"
})
/** REQs refused by a subscription budget ("connection": maxSubscriptionBytesPerConnection, "ip": maxSubscriptionBytesPerIp). */
export const subscriptionBudgetRefusals = (budget: string): Metric.Counter<number> =>
  once(`budget refusals ${budget}`, () => Metric.counter("parrhesia_subscription_budget_refusals_total", { description: "REQs refused by a subscription budget", attributes: { budget } }))
export const groupsManaged = Metric.gauge("parrhesia_groups", { description: "NIP-29 groups managed by the relay" })
export const groupMembers = Metric.gauge("parrhesia_group_members", { description: "Members of NIP-29 groups, summed over the groups" })
export const replicaLagSeconds = Metric.gauge("parrhesia_replica_lag_seconds", {
  description: "How far the read replica (readDatabaseUrl) is behind its primary, in seconds (0 when it has replayed all it received); sampled every 5 s"
})
export const fanoutDeliveries = Metric.counter("parrhesia_fanout_deliveries_total", {
  description: "Live events handed to subscribers"
})
export const slowConsumerDisconnects = Metric.counter("parrhesia_slow_consumer_disconnects_total", {
  description: "Connections closed because they did not read their frames"
})
export const rateLimitDisconnects = Metric.counter("parrhesia_rate_limit_disconnects_total", {
  description: "Connections closed because they kept sending after rate-limit refusals"
})
/** WebSocket upgrades refused, by reason ("blocked" IP, "rate-limited": over the per-IP connection cap). */
export const upgradesRefused = (reason: string): Metric.Metric<number, unknown> =>
  once(`upgrades refused ${reason}`, () => Metric.counter("parrhesia_upgrades_refused_total", { description: "WebSocket upgrades refused", attributes: { reason } }))
export const eventToOkSeconds = Metric.histogram("parrhesia_event_ok_seconds", {
  description: "Time from receiving an EVENT to sending its OK",
  boundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
})
export const reqToEoseSeconds = Metric.histogram("parrhesia_req_eose_seconds", {
  description: "Time from receiving a REQ to sending its EOSE",
  boundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
})
/** The same durations by the second they ended in, for the status page's p95 charts (read per second, ±10%). */
export const okLatency = new RecentLatency()
export const eoseLatency = new RecentLatency()

export const storeReady = Metric.gauge("parrhesia_store_ready", {
  description: "1 while the store takes writes and answers reads (what /ready says), else 0"
})
export const storeRestarts = Metric.counter("parrhesia_store_restarts_total", {
  description: "Restarts of the embedded PostgreSQL after its server process died (with workers: by the primary)"
})
let restartsSeen = 0
/** Brings the store gauges up to the store's health at scrape time (the restart count is kept by its supervisor). */
export const syncStoreHealth = (status: { readonly ready: boolean; readonly restarts: number }) =>
  Effect.gen(function* () {
    yield* Metric.update(storeReady, status.ready ? 1 : 0)
    if (status.restarts > restartsSeen) {
      yield* Metric.update(storeRestarts, status.restarts - restartsSeen)
      restartsSeen = status.restarts
    }
  })

export const mirrorConnected = (upstream: string) =>
  once(`connected ${upstream}`, () => Metric.gauge("parrhesia_mirror_connected", { description: "1 while connected to the mirrored upstream", attributes: { upstream } }))
export const mirrorReconnects = (upstream: string) =>
  once(`reconnects ${upstream}`, () => Metric.counter("parrhesia_mirror_disconnects_total", { description: "Connections to the upstream lost (each followed by a reconnect with backoff)", attributes: { upstream } }))
export const mirrorEvents = (upstream: string, source: string, result: string) =>
  once(`events ${upstream} ${source} ${result}`, () =>
    Metric.counter("parrhesia_mirror_events_total", { description: "Events from the upstream by source (live, catchup) and result (accepted, duplicate, or the rejection prefix)", attributes: { upstream, source, result } })
  )
export const mirrorLagSeconds = (upstream: string) =>
  once(`lag ${upstream}`, () => Metric.gauge("parrhesia_mirror_lag_seconds", { description: "Seconds between the newest live event's created_at and its arrival", attributes: { upstream } }))
export const mirrorCatchups = (upstream: string, method: string) =>
  once(`catchups ${upstream} ${method}`, () => Metric.counter("parrhesia_mirror_catchups_total", { description: "Catch-ups after a connect, by method (negentropy, req)", attributes: { upstream, method } }))

// Streams (`streams`, NIP-86 addstream): one series per stream (the remote's URL).
export const streamConnected = (stream: string) =>
  once(`stream connected ${stream}`, () => Metric.gauge("parrhesia_stream_connected", { description: "1 while the stream is connected to its remote", attributes: { stream } }))
export const streamLagSeconds = (stream: string, direction: string) =>
  once(`stream lag ${stream} ${direction}`, () =>
    Metric.gauge("parrhesia_stream_lag_seconds", { description: "Seconds between the newest live event's created_at and its arrival (down) or its sending (up)", attributes: { stream, direction } })
  )
export const streamEvents = (stream: string, direction: string, source: string, result: string) =>
  once(`stream events ${stream} ${direction} ${source} ${result}`, () =>
    Metric.counter("parrhesia_stream_events_total", {
      description: "Events each way (down: from the remote, stored here; up: sent to the remote) by source (live, catchup) and result (accepted, duplicate, or the refusal prefix)",
      attributes: { stream, direction, source, result }
    })
  )
export const streamRefusals = (stream: string, reason: string) =>
  once(`stream refusals ${stream} ${reason}`, () =>
    Metric.counter("parrhesia_stream_refusals_total", { description: "The remote's refusals (of our events, subscription, NIP-77 or AUTH) by reason (the NIP-01 prefix)", attributes: { stream, reason } })
  )
export const streamCatchups = (stream: string, method: string) =>
  once(`stream catchups ${stream} ${method}`, () => Metric.counter("parrhesia_stream_catchups_total", { description: "Catch-ups from the stored position, by method (negentropy, req)", attributes: { stream, method } }))
export const streamEchoes = (stream: string) =>
  once(`stream echoes ${stream}`, () => Metric.counter("parrhesia_stream_echoes_total", { description: "Events the remote sent back that this relay had sent it (dropped: loops)", attributes: { stream } }))
export const streamRestarts = (stream: string) =>
  once(`stream restarts ${stream}`, () => Metric.counter("parrhesia_stream_restarts_total", { description: "Times the stream failed and was restarted with backoff", attributes: { stream } }))

// ------------------------------------------------------------ write-policy plugin (writePolicyPlugin)
export const pluginCalls = (outcome: string) =>
  once(`plugin calls ${outcome}`, () =>
    Metric.counter("parrhesia_write_policy_plugin_calls_total", {
      description: "Events put to the write-policy plugin, by outcome: accept, reject, shadowReject, timeout, unavailable (not running, or it exited holding the event)",
      attributes: { outcome }
    })
  )
export const pluginRejections = (action: string) =>
  once(`plugin rejections ${action}`, () =>
    Metric.counter("parrhesia_write_policy_plugin_rejections_total", { description: "Events the write-policy plugin refused, by action (reject, shadowReject)", attributes: { action } })
  )
export const pluginTimeouts = Metric.counter("parrhesia_write_policy_plugin_timeouts_total", {
  description: "Events the write-policy plugin did not answer within writePolicyPluginTimeoutMs (answered as writePolicyPluginFailure says)"
})
export const pluginRestarts = (reason: string) =>
  once(`plugin restarts ${reason}`, () =>
    Metric.counter("parrhesia_write_policy_plugin_restarts_total", { description: "Write-policy plugin processes started again, by reason (exited, reloaded: its file changed)", attributes: { reason } })
  )
export const pluginUp = Metric.gauge("parrhesia_write_policy_plugin_up", { description: "1 while a write-policy plugin process runs, else 0" })
export const pluginSeconds = Metric.histogram("parrhesia_write_policy_plugin_seconds", {
  description: "Time from sending an event to the write-policy plugin to its answer (answered calls)",
  boundaries: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
})

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')

const labels = (attrs: Readonly<Record<string, string>> | undefined, extra?: Record<string, string>) => {
  const all = { ...attrs, ...extra }
  const parts = Object.entries(all).map(([k, v]) => `${k}="${escapeLabel(v)}"`)
  return parts.length === 0 ? "" : `{${parts.join(",")}}`
}

const num = (v: number | bigint) => (typeof v === "bigint" ? v.toString() : Number.isFinite(v) ? String(v) : v > 0 ? "+Inf" : "-Inf")

/** Prometheus text exposition (version 0.0.4) of every registered metric. */
export const renderPrometheus: Effect.Effect<string> = Effect.map(Metric.snapshot, (snapshots) => {
  const byName = new Map<string, Array<Metric.Metric.Snapshot>>()
  for (const s of snapshots) {
    const list = byName.get(s.id)
    if (list) list.push(s)
    else byName.set(s.id, [s])
  }
  const out: Array<string> = []
  for (const [name, list] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
    const first = list[0]!
    if (first.description) out.push(`# HELP ${name} ${first.description.replace(/\n/g, " ")}`)
    switch (first.type) {
      case "Counter":
        out.push(`# TYPE ${name} counter`)
        for (const s of list) if (s.type === "Counter") out.push(`${name}${labels(s.attributes)} ${num(s.state.count)}`)
        break
      case "Gauge":
        out.push(`# TYPE ${name} gauge`)
        for (const s of list) if (s.type === "Gauge") out.push(`${name}${labels(s.attributes)} ${num(s.state.value)}`)
        break
      case "Histogram":
        out.push(`# TYPE ${name} histogram`)
        for (const s of list) {
          if (s.type !== "Histogram") continue
          // Effect's histogram buckets are cumulative counts of values <= boundary.
          for (const [le, count] of s.state.buckets) {
            if (Number.isFinite(le)) out.push(`${name}_bucket${labels(s.attributes, { le: String(le) })} ${count}`)
          }
          out.push(`${name}_bucket${labels(s.attributes, { le: "+Inf" })} ${s.state.count}`)
          out.push(`${name}_sum${labels(s.attributes)} ${num(s.state.sum)}`)
          out.push(`${name}_count${labels(s.attributes)} ${s.state.count}`)
        }
        break
      case "Frequency":
        out.push(`# TYPE ${name} counter`)
        for (const s of list) {
          if (s.type !== "Frequency") continue
          for (const [key, count] of s.state.occurrences) out.push(`${name}${labels(s.attributes, { key })} ${count}`)
        }
        break
      case "Summary":
        out.push(`# TYPE ${name} summary`)
        for (const s of list) {
          if (s.type !== "Summary") continue
          for (const [q, v] of s.state.quantiles) {
            if (v !== undefined) out.push(`${name}${labels(s.attributes, { quantile: String(q) })} ${num(v)}`)
          }
          out.push(`${name}_sum${labels(s.attributes)} ${num(s.state.sum)}`)
          out.push(`${name}_count${labels(s.attributes)} ${s.state.count}`)
        }
        break
    }
  }
  return out.join("\n") + "\n"
})
