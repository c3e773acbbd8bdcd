/**
 * The status page (GET / from a browser) and the JSON it polls (GET /stats).
 * One self-contained HTML document: inline style and script, no external
 * assets (the operator's icon URL excepted, when one is set). The page works
 * over http/ws and https/wss alike: it derives the relay URL from its own
 * location. While the store is unavailable (StoreHealth) a banner says so:
 * the figures alone (a stored count that stops moving) would not.
 */
import { Effect, Metric } from "effect"
import type { Settings } from "../config/settings.ts"
import { GroupView } from "../groups/GroupView.ts"
import * as M from "../observability/metrics.ts"
import { EventStore } from "../storage/EventStore.ts"
import { StoreHealth } from "../storage/StoreHealth.ts"
import { SubscriptionIndex } from "../subscriptions/SubscriptionIndex.ts"
import { relayInformation } from "./nip11.ts"

export interface RelayStats {
  readonly connections: number
  readonly subscriptions: number
  /** EVENTs accepted since start. */
  readonly eventsAccepted: number
  /** Accepted EVENTs per second, over the time since the previous sample (at least a second). */
  readonly eventsPerSecond: number
  /** Stored events (counted at most once a second). */
  readonly storedEvents: number | null
  readonly uptimeSeconds: number
  /** NIP-29 groups managed here, and their members summed. */
  readonly groups: number
  readonly groupMembers: number
  /** Whether the store takes writes and answers reads (what /ready says), why not, and since when (ms since the epoch). */
  readonly store: { readonly ready: boolean; readonly reason: string; readonly since: number }
}

const started = Date.now()
let sample = { at: started, accepted: 0, rate: 0 }
let stored: { at: number; accepted: number; n: number | null } = { at: 0, accepted: -1, n: null }

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
    stored = { at: now, accepted, n }
  }
  return {
    connections: yield* gaugeValue(M.openConnections),
    subscriptions: index.size(),
    eventsAccepted: accepted,
    eventsPerSecond: Math.round(sample.rate * 10) / 10,
    storedEvents: stored.n,
    uptimeSeconds: Math.floor((now - started) / 1000),
    groups: groups.groups().length,
    groupMembers: groups.memberCount(),
    store: { ready: health.ready, reason: health.reason, since: health.since }
  } satisfies RelayStats
})

/** How often the page polls /stats. */
export const STATUS_REFRESH_MS = 2000

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

const LOGO = `<svg viewBox="0 0 64 64" width="56" height="56" aria-hidden="true"><circle cx="32" cy="32" r="30" fill="#6d28d9"/><path d="M20 44V20h14a8 8 0 0 1 0 16H26" stroke="#fff" stroke-width="6" fill="none" stroke-linecap="round"/></svg>`

/** The page for `s` with the NIP-11 facts of `info` (name, description, icon as changed through NIP-86). */
export const statusPage = (s: Settings, info: ReturnType<typeof relayInformation>): string => {
  const limits = Object.entries(info.limitation)
    .map(([k, v]) => `<tr><th>${escape(k.replace(/_/g, " "))}</th><td>${escape(String(v))}</td></tr>`)
    .join("")
  const nips = info.supported_nips.map((n) => `<li>NIP-${String(n).padStart(2, "0")}</li>`).join("")
  const icon = info.icon ? `<img src="${escape(info.icon)}" alt="" width="56" height="56">` : LOGO
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escape(info.name)}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f7f7fb;color:#1f2937}
main{max-width:52rem;margin:0 auto;padding:2rem 1rem}
header{display:flex;gap:1rem;align-items:center}header img,header svg{border-radius:50%}
h1{margin:0;font-size:1.8rem}.desc{margin:.2rem 0 0;color:#4b5563}
code{background:#ede9fe;padding:.15rem .4rem;border-radius:.3rem}
.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.8rem;margin:1.5rem 0}
.figure{background:#fff;border-radius:.6rem;padding:.8rem 1rem;box-shadow:0 1px 3px #0002}
.figure b{display:block;font-size:1.6rem}.figure span{color:#6b7280;font-size:.85rem}
ul.nips{display:flex;flex-wrap:wrap;gap:.4rem;list-style:none;padding:0}ul.nips li{background:#fff;border-radius:.4rem;padding:.1rem .5rem;box-shadow:0 1px 2px #0002}
table{border-collapse:collapse;background:#fff;border-radius:.6rem;box-shadow:0 1px 3px #0002}th,td{text-align:left;padding:.3rem .8rem}th{font-weight:500;color:#4b5563}
footer{margin-top:2rem;color:#6b7280;font-size:.85rem}
.banner{background:#fef2f2;color:#7f1d1d;border:1px solid #fca5a5;border-radius:.6rem;padding:.8rem 1rem;margin:1rem 0}.banner[hidden]{display:none}
</style></head><body><main>
<header>${icon}<div><h1 id="name">${escape(info.name)}</h1><p class="desc">${escape(info.description)}</p></div></header>
<p>Connect a Nostr client to <code id="relay-url"></code></p>
<div id="store-banner" class="banner" role="alert" hidden><b>Storage is unavailable.</b> New events are refused and stored events cannot be read right now; the relay keeps retrying by itself and live events still flow. <span id="store-reason"></span></div>
<section class="figures" aria-live="polite">
<div class="figure"><b id="connections">…</b><span>connections</span></div>
<div class="figure"><b id="events-per-second">…</b><span>events per second</span></div>
<div class="figure"><b id="stored-events">…</b><span>stored events</span></div>
<div class="figure"><b id="subscriptions">…</b><span>subscriptions</span></div>
${s.groups ? `<div class="figure"><b id="groups">…</b><span>groups (NIP-29)</span></div>\n` : ""}</section>
<h2>Supported NIPs</h2><ul class="nips">${nips}</ul>
<h2>Limits</h2><table>${limits}</table>
<footer>parrhesia ${escape(info.version)}${s.contact ? ` · contact: ${escape(s.contact)}` : ""} · <span id="updated">connecting…</span></footer>
</main>
<script>
const relayUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host
document.getElementById("relay-url").textContent = relayUrl
const fmt = (n) => n === null || n === undefined ? "–" : Number(n).toLocaleString()
const refresh = async () => {
  try {
    const s = await (await fetch("/stats", { cache: "no-store" })).json()
    document.getElementById("connections").textContent = fmt(s.connections)
    document.getElementById("events-per-second").textContent = fmt(s.eventsPerSecond)
    document.getElementById("stored-events").textContent = fmt(s.storedEvents)
    document.getElementById("subscriptions").textContent = fmt(s.subscriptions)
    const groups = document.getElementById("groups")
    if (groups) groups.textContent = fmt(s.groups)
    const down = s.store !== undefined && !s.store.ready
    document.getElementById("store-banner").hidden = !down
    document.getElementById("store-reason").textContent = down ? "(" + s.store.reason + ", since " + new Date(s.store.since).toLocaleTimeString() + ")" : ""
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString()
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1)
  } catch (e) {
    document.getElementById("updated").textContent = "cannot reach the relay: " + e
  }
}
refresh()
setInterval(refresh, ${STATUS_REFRESH_MS})
</script></body></html>`
}

/** Scripts and styles are inline; images may come from the operator's icon URL; the page opens WebSockets to its own relay. */
export const STATUS_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src * data:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'"
