/**
 * The status page (GET / from a browser) and the JSON it polls (GET /stats,
 * and GET /stats/history for its charts of the last hour: ./StatusHistory.ts).
 * One self-contained HTML document: inline style and script (the charts are
 * SVG drawn by it), no external assets (the operator's icon URL excepted,
 * when one is set). The page works over http/ws and https/wss alike: it
 * derives the relay URL from its own location. While the store is unavailable
 * (StoreHealth) a banner says so: the figures alone (a stored count that
 * stops moving) would not.
 */
import { Effect, Metric } from "effect"
import type { Settings } from "../config/settings.ts"
import { GroupView } from "../groups/GroupView.ts"
import type { SeriesName } from "../observability/history.ts"
import * as M from "../observability/metrics.ts"
import type { StreamStatus } from "../observability/streams.ts"
import { EventStore } from "../storage/EventStore.ts"
import { StoreHealth } from "../storage/StoreHealth.ts"
import { SubscriptionIndex } from "../subscriptions/SubscriptionIndex.ts"
import { relayInformation } from "./nip11.ts"
import { statusStreams } from "./statusStreams.ts"

export interface RelayStats {
  readonly connections: number
  readonly subscriptions: number
  /** EVENTs accepted since start. */
  readonly eventsAccepted: number
  /** Accepted EVENTs per second, over the time since the previous sample (at least a second). */
  readonly eventsPerSecond: number
  /** Stored events (counted at most once a second). */
  readonly storedEvents: number | null
  /** What the store takes up in bytes (EventStore.size, read with the count); null when not known. */
  readonly storeBytes: number | null
  readonly uptimeSeconds: number
  /** NIP-29 groups managed here, and their members summed. */
  readonly groups: number
  readonly groupMembers: number
  /** Whether the store takes writes and answers reads (what /ready says), why not, and since when (ms since the epoch). */
  readonly store: { readonly ready: boolean; readonly reason: string; readonly since: number }
  /** The streams (the `streams` setting and NIP-86's, then the mirror upstreams), with direction, state and lag. */
  readonly streams: ReadonlyArray<StreamStatus>
}

const started = Date.now()
let sample = { at: started, accepted: 0, rate: 0 }
let stored: { at: number; accepted: number; n: number | null; bytes: number | null } = { at: 0, accepted: -1, n: null, bytes: null }

const counterValue = (m: Metric.Metric<number, unknown>) =>
  Effect.map(Metric.value(m), (s) => Number((s as { count?: number | bigint }).count ?? 0))
const gaugeValue = (m: Metric.Metric<number, unknown>) =>
  Effect.map(Metric.value(m), (s) => Number((s as { value?: number | bigint }).value ?? 0))

export const relayStats = Effect.gen(function* () {
  const index = yield* SubscriptionIndex
  const store = yield* EventStore
  const health = (yield* StoreHealth).status()
  const groups = yield* GroupView
  const now = Date.now()
  const accepted = yield* counterValue(M.eventsResult("accepted"))
  if (now - sample.at >= 1000) sample = { at: now, accepted, rate: ((accepted - sample.accepted) * 1000) / (now - sample.at) }
  // The store's own count: on a big PostgreSQL table the costly part, so at most once a second
  // while events arrive, and every 10 s otherwise (deletions, expiry).
  if ((accepted !== stored.accepted && now - stored.at >= 1000) || now - stored.at >= 10_000) {
    const n = yield* Effect.orElseSucceed(store.count([{}]), () => null)
    const bytes = store.size === undefined ? null : yield* Effect.orElseSucceed(store.size, () => null)
    stored = { at: now, accepted, n, bytes }
  }
  return {
    connections: yield* gaugeValue(M.openConnections),
    subscriptions: index.size(),
    eventsAccepted: accepted,
    eventsPerSecond: Math.round(sample.rate * 10) / 10,
    storedEvents: stored.n,
    storeBytes: stored.bytes,
    uptimeSeconds: Math.floor((now - started) / 1000),
    groups: groups.groups().length,
    groupMembers: groups.memberCount(),
    store: { ready: health.ready, reason: health.reason, since: health.since },
    streams: yield* statusStreams
  } satisfies RelayStats
})

/** How often the page polls /stats. */
export const STATUS_REFRESH_MS = 2000

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

const LOGO = `<svg viewBox="0 0 64 64" width="56" height="56" aria-hidden="true"><circle cx="32" cy="32" r="30" fill="#6d28d9"/><path d="M20 44V20h14a8 8 0 0 1 0 16H26" stroke="#fff" stroke-width="6" fill="none" stroke-linecap="round"/></svg>`

/** The charts, in order: the series of GET /stats/history each draws, its title and unit. */
const CHARTS: ReadonlyArray<{ readonly series: SeriesName; readonly title: string; readonly unit: string }> = [
  { series: "eventsPerSecond", title: "events accepted", unit: "/s" },
  { series: "reqsPerSecond", title: "REQs", unit: "/s" },
  { series: "okP95Ms", title: "OK p95", unit: " ms" },
  { series: "eoseP95Ms", title: "EOSE p95", unit: " ms" },
  { series: "connections", title: "open connections", unit: "" },
  { series: "subscriptions", title: "subscriptions", unit: "" }
]
/** The charts' SVG user units (stretched to the card's width). */
const CHART_W = 300
const CHART_H = 64

/** The page for `s` with the NIP-11 facts of `info` (name, description, icon as changed through NIP-86). */
export const statusPage = (s: Settings, info: ReturnType<typeof relayInformation>): string => {
  const limits = Object.entries(info.limitation)
    .map(([k, v]) => `<tr><th>${escape(k.replace(/_/g, " "))}</th><td>${escape(String(v))}</td></tr>`)
    .join("")
  const nips = info.supported_nips.map((n) => `<li>NIP-${String(n).padStart(2, "0")}</li>`).join("")
  const icon = info.icon ? `<img src="${escape(info.icon)}" alt="" width="56" height="56">` : LOGO
  const charts = CHARTS.map(
    (c) =>
      `<figure class="chart" id="chart-${c.series}" data-series="${c.series}" data-unit="${escape(c.unit)}"><figcaption>${escape(c.title)}${c.unit === "/s" ? " per second" : ""} <b>–</b></figcaption>` +
      `<svg viewBox="0 0 ${CHART_W} ${CHART_H}" preserveAspectRatio="none" role="img" aria-label="${escape(c.title)}, the last hour"><line x1="0" y1="${CHART_H - 0.5}" x2="${CHART_W}" y2="${CHART_H - 0.5}"/><polyline points=""/></svg>` +
      `<div class="axis"><span class="span">…</span><span class="top"></span></div></figure>`
  ).join("\n")
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escape(info.name)}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f7f7fb;color:#1f2937}
main{max-width:56rem;margin:0 auto;padding:2rem 1rem}
header{display:flex;gap:1rem;align-items:center}header img,header svg{border-radius:50%}
h1{margin:0;font-size:1.8rem}.desc{margin:.2rem 0 0;color:#4b5563}
code{background:#ede9fe;padding:.15rem .4rem;border-radius:.3rem}
.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.8rem;margin:1.5rem 0}
.figure,.chart{background:#fff;border-radius:.6rem;padding:.8rem 1rem;box-shadow:0 1px 3px #0002}
.figure b{display:block;font-size:1.6rem}.figure span{color:#6b7280;font-size:.85rem}
.ready b::before{content:"";display:inline-block;width:.7rem;height:.7rem;border-radius:50%;margin-right:.4rem;vertical-align:middle;background:#9ca3af}
.ready[data-ready=true] b::before{background:#16a34a}.ready[data-ready=false] b::before{background:#dc2626}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(16rem,1fr));gap:.8rem}
.chart{margin:0;padding:.6rem .8rem}.chart figcaption{color:#4b5563;font-size:.85rem;display:flex;justify-content:space-between}.chart figcaption b{color:#1f2937}
.chart svg{display:block;width:100%;height:4rem;margin:.3rem 0}.chart line{stroke:#e5e7eb}
.chart polyline{fill:none;stroke:#6d28d9;stroke-width:1.5;stroke-linejoin:round;stroke-linecap:round;vector-effect:non-scaling-stroke}
.axis{display:flex;justify-content:space-between;color:#9ca3af;font-size:.75rem}
ul.nips{display:flex;flex-wrap:wrap;gap:.4rem;list-style:none;padding:0}ul.nips li{background:#fff;border-radius:.4rem;padding:.1rem .5rem;box-shadow:0 1px 2px #0002}
table{border-collapse:collapse;background:#fff;border-radius:.6rem;box-shadow:0 1px 3px #0002}th,td{text-align:left;padding:.3rem .8rem}th{font-weight:500;color:#4b5563}
#streams td.state[data-state=connected]{color:#15803d}
footer{margin-top:2rem;color:#6b7280;font-size:.85rem}
.banner{background:#fef2f2;color:#7f1d1d;border:1px solid #fca5a5;border-radius:.6rem;padding:.8rem 1rem;margin:1rem 0}.banner[hidden],section[hidden]{display:none}
</style></head><body><main>
<header>${icon}<div><h1 id="name">${escape(info.name)}</h1><p class="desc">${escape(info.description)}</p></div></header>
<p>Connect a Nostr client to <code id="relay-url"></code></p>
<div id="store-banner" class="banner" role="alert" hidden><b>Storage is unavailable.</b> New events are refused and stored events cannot be read right now; the relay keeps retrying by itself and live events still flow. <span id="store-reason"></span></div>
<section class="figures" aria-live="polite">
<div class="figure ready" id="store-ready-figure"><b id="store-ready">…</b><span>store readiness</span></div>
<div class="figure"><b id="connections">…</b><span>connections</span></div>
<div class="figure"><b id="events-per-second">…</b><span>events per second</span></div>
<div class="figure"><b id="stored-events">…</b><span>stored events</span></div>
<div class="figure"><b id="store-size">…</b><span>store size</span></div>
<div class="figure"><b id="subscriptions">…</b><span>subscriptions</span></div>
${s.groups ? `<div class="figure"><b id="groups">…</b><span>groups (NIP-29)</span></div>\n` : ""}</section>
<h2>Last hour</h2>
<section class="charts" id="charts">
${charts}
</section>
<section id="streams-section" hidden><h2>Streams</h2><table id="streams"><thead><tr><th>relay</th><th>direction</th><th>state</th><th>lag</th></tr></thead><tbody></tbody></table></section>
<h2>Supported NIPs</h2><ul class="nips">${nips}</ul>
<h2>Limits</h2><table id="limits">${limits}</table>
<footer>parrhesia ${escape(info.version)}${s.contact ? ` · contact: ${escape(s.contact)}` : ""} · <span id="updated">connecting…</span></footer>
</main>
<script>
const relayUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host
document.getElementById("relay-url").textContent = relayUrl
const $ = (id) => document.getElementById(id)
const fmt = (n) => n === null || n === undefined ? "–" : Number(n).toLocaleString()
const bytes = (n) => {
  if (n === null || n === undefined) return "–"
  const units = ["B", "kB", "MB", "GB", "TB"]
  let i = 0
  while (n >= 1000 && i < units.length - 1) (n /= 1000), i++
  return (i === 0 ? n : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + " " + units[i]
}
const short = (v) => v === null || v === undefined ? "–" : Number(v.toPrecision(3)).toLocaleString()
const renderStreams = (streams) => {
  $("streams-section").hidden = streams.length === 0
  const rows = streams.map((st) => {
    const tr = document.createElement("tr")
    for (const [text, cls] of [[st.name], [st.direction], [st.state, "state"], [st.lagSeconds === null ? "–" : short(st.lagSeconds) + " s"]]) {
      const td = document.createElement("td")
      td.textContent = text
      if (cls) (td.className = cls), (td.dataset.state = text)
      tr.append(td)
    }
    return tr
  })
  document.querySelector("#streams tbody").replaceChildren(...rows)
}
const refresh = async () => {
  try {
    const s = await (await fetch("/stats", { cache: "no-store" })).json()
    $("connections").textContent = fmt(s.connections)
    $("events-per-second").textContent = fmt(s.eventsPerSecond)
    $("stored-events").textContent = fmt(s.storedEvents)
    $("store-size").textContent = bytes(s.storeBytes)
    $("subscriptions").textContent = fmt(s.subscriptions)
    if ($("groups")) $("groups").textContent = fmt(s.groups)
    const down = s.store !== undefined && !s.store.ready
    $("store-ready-figure").dataset.ready = String(!down)
    $("store-ready").textContent = down ? "unavailable" : "ready"
    $("store-banner").hidden = !down
    $("store-reason").textContent = down ? "(" + s.store.reason + ", since " + new Date(s.store.since).toLocaleTimeString() + ")" : ""
    renderStreams(s.streams || [])
    $("updated").textContent = "updated " + new Date().toLocaleTimeString()
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1)
  } catch (e) {
    $("updated").textContent = "cannot reach the relay: " + e
  }
}
// The charts: the page keeps the last hour it fetched and asks only for newer samples.
const W = ${CHART_W}, H = ${CHART_H}
const hist = { t: [], s: {}, after: 0 }
const niceTop = (max) => {
  if (!(max > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(max))
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= max)
}
const draw = () => {
  const t = hist.t
  if (t.length === 0) return
  const t1 = t[t.length - 1], t0 = Math.min(t[0], t1 - 60)
  const minutes = Math.round((t1 - t0) / 60)
  for (const fig of document.querySelectorAll(".chart")) {
    const v = hist.s[fig.dataset.series] || []
    let max = 0, last = null
    for (const x of v) if (x !== null) (max = Math.max(max, x)), (last = x)
    const top = niceTop(max)
    const points = []
    // A second without a value (no OK, no EOSE) is left out: the line joins its neighbours.
    for (let i = 0; i < t.length; i++) if (v[i] !== null && v[i] !== undefined) points.push(((t[i] - t0) / (t1 - t0) * W).toFixed(1) + "," + (H - 1 - (v[i] / top) * (H - 3)).toFixed(1))
    fig.querySelector("polyline").setAttribute("points", points.join(" "))
    fig.dataset.max = String(max)
    fig.dataset.last = last === null ? "" : String(last)
    fig.querySelector("figcaption b").textContent = short(last) + (last === null ? "" : fig.dataset.unit)
    fig.querySelector(".top").textContent = "top " + short(top) + fig.dataset.unit
    fig.querySelector(".span").textContent = "last " + (minutes >= 60 ? "hour" : minutes + " min")
  }
}
const pull = async () => {
  try {
    const h = await (await fetch("/stats/history?after=" + hist.after, { cache: "no-store" })).json()
    if (h.t.length > 0) {
      hist.t.push(...h.t)
      for (const k in h.series) (hist.s[k] ||= []).push(...h.series[k])
      hist.after = h.t[h.t.length - 1]
      const drop = hist.t.findIndex((x) => x > hist.after - h.interval * h.capacity)
      if (drop > 0) {
        hist.t.splice(0, drop)
        for (const k in hist.s) hist.s[k].splice(0, drop)
      }
    }
    draw()
    document.body.dataset.charts = String(Number(document.body.dataset.charts || 0) + 1)
  } catch {}
}
const tick = () => Promise.all([refresh(), pull()])
tick()
setInterval(tick, ${STATUS_REFRESH_MS})
</script></body></html>`
}

/** Scripts and styles are inline; images may come from the operator's icon URL; the page opens WebSockets to its own relay. */
export const STATUS_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src * data:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'"
