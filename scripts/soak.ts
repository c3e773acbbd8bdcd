/**
 * Soak test (not in CI): a mixed load held for a set time against a relay this
 * script starts (`node src/main.ts serve`, embedded PostgreSQL in a temp
 * folder) or one already running (--url), sampled every minute into a CSV and
 * drawn as a PNG chart, to see whether memory or latency grow.
 *
 * The load (--rates, defaults in brackets), all over 127.0.0.1:
 *   events=500      EVENTs a second, paced, over 4 connections, signed as they go (bcrypto's native
 *                   signer when it loads): kind 1 notes from 50 authors with `p` and `t` tags (~92%),
 *                   kind 7 reactions to recent events (5%), kind 30078 addressable replacements (2%),
 *                   kind 0 profiles (0.1%); at most 2,000 awaiting their OK (past that a tick's events
 *                   are skipped and counted, not queued)
 *   reqs=200        REQs a second, paced, over 4 connections, cycling 6 shapes (kinds limit 100; one
 *                   author limit 50; #p limit 50; 20 recent ids; one addressable event by author and d;
 *                   #t since 10 minutes limit 20), each CLOSEd at its EOSE; at most 40 open per connection
 *   subscribers=200 live subscribers, one connection and one REQ with limit 0 each: every 25th all kind 1
 *                   notes, the rest half 3 followed authors (kinds 1 and 7), half mentions (#p) of one
 *                   pubkey (~7,000 deliveries a second at the defaults)
 *   resubscribe-ms=1000  every this many ms one subscriber hangs up and a new one takes its place
 *   churn-ms=100    every this many ms a connection opens, sends one REQ (kind 1 limit 5), and at its
 *                   EOSE closes (every other one without a close handshake)
 * The defaults are about a tenth of the relay's measured ingest (~5,000 events/s) and a fifth of its
 * REQs/s (~1,000) on the 2-core development machine: a soak, not a stress test, on a machine that
 * others share.
 *
 * Every minute, one CSV row: minute, rss_mb and cpu_pct of the relay's process (/proc/<pid>; with
 * --url only when --pid is given), heap_mb and eventloop_p99_ms from its /metrics
 * (parrhesia_nodejs_heap_used_bytes, parrhesia_nodejs_eventloop_delay_p99_seconds: the p99 since the
 * previous scrape, so the minute's), ok_p99_ms (EVENT sent to its OK) and eose_p99_ms (REQ sent to its
 * EOSE) as this load generator measured them in the minute, events_acked (OK true or duplicate),
 * reqs (answered by EOSE), errors (OK false other than duplicate, CLOSED, no OK/EOSE within 30 s,
 * failed or dropped connections, skipped sends), then deliveries (live events the subscribers got),
 * churned (connections opened and closed), client_eventloop_p99_ms (this process's own: when it is
 * high, the latencies above include the load generator's delay), client_cpu_pct (its CPU, % of one
 * core) and load1 (the machine's 1-minute load average). The chart (PNG through the headless
 * Chromium of the devDependencies; the SVG beside it) and a JSON summary are written at the end, also
 * on Ctrl-C / SIGTERM.
 *
 * Usage: node scripts/soak.ts [--minutes 60] [--rates events=500,reqs=200,subscribers=200,churn-ms=100,resubscribe-ms=1000]
 *        [--out .bench/soak-<date>] [--store postgres|memory] [--root DIR] [--url ws://... [--pid PID]]
 *        node scripts/soak.ts --replot .bench/soak-<date>.csv     (the chart again from a run's CSV)
 * (after `. scripts/node-env.sh`, or through `sh scripts/with-node.sh node scripts/soak.ts ...`).
 * --out is a path without extension (.csv, .svg and .png are added). --root runs the relay of another
 * checkout (e.g. `git archive HEAD` unpacked under .bench/, so that node_modules resolves from here).
 * The memory store keeps every event: its RSS grows by design.
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { monitorEventLoopDelay } from "node:perf_hooks"
import type { ChildProcess } from "node:child_process"
import { schnorr } from "@noble/curves/secp256k1.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import WebSocket from "ws"
import { nativeSigner, sampleProcess } from "../src/client/benchKit.ts"
import { signEvent, type EventTemplate, type NostrEvent } from "../src/nostr/index.ts"
import { launchChromium } from "./chromium.ts"
import { spawnRelay } from "./relay-process.ts"

// ---------------------------------------------------------------- options

const USAGE =
  "usage: node scripts/soak.ts [--minutes 60] [--rates events=500,reqs=200,subscribers=200,churn-ms=100,resubscribe-ms=1000] [--out PATH] [--store postgres|memory] [--root DIR] [--url ws://... [--pid PID]] | --replot X.csv"

const die = (msg: string): never => {
  process.stderr.write(`soak: ${msg}\n${USAGE}\n`)
  process.exit(2)
}

const args = new Map<string, string>()
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i]!
  if (!k.startsWith("--") || process.argv[i + 1] === undefined) die(`bad argument ${k}`)
  args.set(k.slice(2), process.argv[i + 1]!)
}
for (const k of args.keys()) if (!["minutes", "rates", "out", "store", "root", "url", "pid", "replot"].includes(k)) die(`unknown option --${k}`)

const whole = (name: string, v: string | undefined, dflt: number, min: number, max: number): number => {
  if (v === undefined) return dflt
  const n = Number(v)
  if (!Number.isInteger(n) || n < min || n > max) die(`${name} is a whole number from ${min} to ${max}`)
  return n
}

const minutes = whole("--minutes", args.get("minutes"), 60, 1, 24 * 60)
const rates = { events: 500, reqs: 200, subscribers: 200, "churn-ms": 100, "resubscribe-ms": 1000 }
for (const part of (args.get("rates") ?? "").split(",").filter((s) => s !== "")) {
  const [k, v] = part.split("=")
  if (!(k! in rates)) die(`unknown rate ${k} (${Object.keys(rates).join(", ")})`)
  // 0 turns a part of the load off.
  rates[k as keyof typeof rates] = whole(`--rates ${k}`, v, 0, 0, 100_000)
}
const stamp = new Date().toISOString().slice(0, 16).replace(/:/g, "-")
const out = (args.get("out") ?? join(".bench", `soak-${stamp}`)).replace(/\.(csv|png|svg)$/, "")
const store = args.get("store") ?? "postgres"
if (store !== "postgres" && store !== "memory") die("--store is postgres or memory")
const givenUrl = args.get("url")
if (givenUrl !== undefined && !/^wss?:\/\/\S+$/.test(givenUrl)) die("--url is a ws:// or wss:// URL")
if (args.has("pid") && givenUrl === undefined) die("--pid goes with --url")
if (args.has("root") && !existsSync(join(args.get("root")!, "src", "main.ts"))) die(`--root ${args.get("root")} holds no src/main.ts`)
const givenPid = args.has("pid") ? whole("--pid", args.get("pid"), 0, 1, 2 ** 31) : undefined

const log = (s: string) => process.stderr.write(`soak: ${s}\n`)

// ---------------------------------------------------------------- helpers

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const p99 = (xs: Array<number>): number | null => {
  if (xs.length === 0) return null
  xs.sort((a, b) => a - b)
  return xs[Math.min(xs.length - 1, Math.floor(0.99 * xs.length))]!
}

const round = (v: number | null | undefined, digits = 1): string => (v === null || v === undefined || !Number.isFinite(v) ? "" : v.toFixed(digits))

const open = (url: string, timeoutMs = 10_000): Promise<WebSocket> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    const timer = setTimeout(() => {
      ws.terminate()
      reject(new Error("connect timeout"))
    }, timeoutMs)
    ws.once("open", () => {
      clearTimeout(timer)
      resolve(ws)
    })
    ws.once("error", (e) => {
      clearTimeout(timer)
      reject(e)
    })
  })

const metricsUrl = (wsUrl: string) => {
  const u = new URL(wsUrl)
  return `${u.protocol === "wss:" ? "https:" : "http:"}//${u.host}/metrics`
}

const scrape = async (url: string): Promise<{ heapBytes?: number; loopP99Seconds?: number }> => {
  try {
    const text = await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text()
    const get = (name: string) => {
      const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text)
      return m ? Number(m[1]) : undefined
    }
    const heapBytes = get("parrhesia_nodejs_heap_used_bytes")
    const loopP99Seconds = get("parrhesia_nodejs_eventloop_delay_p99_seconds")
    return { ...(heapBytes === undefined ? {} : { heapBytes }), ...(loopP99Seconds === undefined ? {} : { loopP99Seconds }) }
  } catch {
    return {}
  }
}

// ---------------------------------------------------------------- the minute's figures

interface Window {
  ok: Array<number>
  eose: Array<number>
  acked: number
  reqs: number
  errors: number
  deliveries: number
  churned: number
}
const emptyWindow = (): Window => ({ ok: [], eose: [], acked: 0, reqs: 0, errors: 0, deliveries: 0, churned: 0 })
let win = emptyWindow()
const errorKinds = new Map<string, number>()
const error = (kind: string) => {
  win.errors++
  errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1)
}
let running = true
const notices = new Map<string, number>()
const notice = (text: string) => {
  const key = text.slice(11, 71)
  notices.set(key, (notices.get(key) ?? 0) + 1)
}

// ---------------------------------------------------------------- a connection that comes back

/** A connection kept open while the soak runs: reopened (and counted as an error) when it drops. */
const persistent = (url: string, name: string, onMessage: (text: string) => void, onOpen: (ws: WebSocket) => void = () => {}) => {
  const self = { ws: undefined as WebSocket | undefined }
  const connect = async (): Promise<void> => {
    while (running) {
      try {
        const ws = await open(url)
        ws.on("message", (d) => {
          const text = d.toString()
          if (text.startsWith('["NOTICE"')) notice(text)
          else onMessage(text)
        })
        ws.on("error", () => {})
        ws.once("close", (code, reason) => {
          self.ws = undefined
          if (!running) return
          error(`${name} connection dropped (${code}${reason.length > 0 ? ` ${reason.toString().slice(0, 60)}` : ""})`)
          void sleep(1000).then(connect)
        })
        self.ws = ws
        onOpen(ws)
        return
      } catch {
        error(`${name} connect failed`)
        await sleep(1000)
      }
    }
  }
  return { self, ready: connect() }
}

// ---------------------------------------------------------------- load

const AUTHORS = 50
const sks = Array.from({ length: AUTHORS }, () => schnorr.utils.randomSecretKey())
const pubs = sks.map((sk) => bytesToHex(schnorr.getPublicKey(sk)))
const sign = nativeSigner()
/** Ids of recently acknowledged events, for reactions and `ids` REQs. */
const recent: Array<string> = []
const remember = (id: string) => {
  recent.push(id)
  if (recent.length > 4000) recent.splice(0, 2000)
}
const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(Math.random() * xs.length)]!

const makeEvent = (i: number): NostrEvent => {
  const created_at = Math.floor(Date.now() / 1000)
  let a = i % AUTHORS
  let t: EventTemplate
  if (i % 20 === 0 && recent.length > 0) {
    t = { kind: 7, created_at, tags: [["e", pick(recent)], ["p", pubs[(i * 7) % AUTHORS]!]], content: "+" }
  } else if (i % 50 === 1) {
    a = Math.floor(i / 50) % AUTHORS // each author replaces one of 5 slots every 2,500 events
    t = { kind: 30078, created_at, tags: [["d", `slot${Math.floor(i / 2500) % 5}`]], content: JSON.stringify({ i, at: Date.now() }) }
  } else if (i % 1000 === 2) {
    a = Math.floor(i / 1000) % AUTHORS
    t = { kind: 0, created_at, tags: [], content: JSON.stringify({ name: `soak author ${a}`, about: `profile ${i}` }) }
  } else {
    t = { kind: 1, created_at, tags: [["p", pubs[(i * 7) % AUTHORS]!], ["t", `topic${i % 50}`]], content: `soak note ${i} ${"x".repeat(i % 300)}` }
  }
  return signEvent(sks[a]!, t, pubs[a]!, sign)
}

const startLoad = async (url: string) => {
  const timers: Array<NodeJS.Timeout> = []
  const sockets = new Set<WebSocket>()

  // Publishers.
  const PUB_CONNS = 4
  const MAX_UNACKED = 2000
  const sentAt = new Map<string, number>()
  const onPublisherFrame = (text: string) => {
    if (!text.startsWith('["OK"')) return
    const m = JSON.parse(text) as [string, string, boolean, string]
    const t = sentAt.get(m[1])
    if (t === undefined) return
    sentAt.delete(m[1])
    win.ok.push(performance.now() - t)
    if (m[2] || String(m[3]).startsWith("duplicate:")) {
      win.acked++
      remember(m[1])
    } else error(`OK false ${String(m[3]).split(":")[0]}`)
  }
  const publishers = Array.from({ length: rates.events > 0 ? PUB_CONNS : 0 }, (_, k) => persistent(url, `publisher ${k}`, onPublisherFrame))

  // REQ clients.
  const REQ_CONNS = 4
  const MAX_OPEN = 40
  const reqAt = new Map<string, { t: number; conn: number }>()
  const openPer = Array.from({ length: REQ_CONNS }, () => 0)
  const onReqFrame = (conn: number) => (text: string) => {
    let id: string
    let closed = false
    if (text.startsWith('["EOSE","')) id = text.slice(9, text.indexOf('"', 9))
    else if (text.startsWith('["CLOSED","')) {
      id = text.slice(11, text.indexOf('"', 11))
      closed = true
    } else return
    const r = reqAt.get(id)
    if (r === undefined) return
    reqAt.delete(id)
    openPer[conn]!--
    if (closed) error(`CLOSED ${text.slice(14 + id.length, 14 + id.length + 40).split(":")[0]}`)
    else {
      win.eose.push(performance.now() - r.t)
      win.reqs++
      readers[conn]!.self.ws?.send(JSON.stringify(["CLOSE", id]))
    }
  }
  const readers = Array.from({ length: rates.reqs > 0 ? REQ_CONNS : 0 }, (_, k) => persistent(url, `reader ${k}`, onReqFrame(k)))
  let reqSeq = 0
  const shape = (n: number): object => {
    const now = Math.floor(Date.now() / 1000)
    switch (n % 6) {
      case 0:
        return { kinds: [1], limit: 100 }
      case 1:
        return { authors: [pick(pubs)], limit: 50 }
      case 2:
        return { "#p": [pick(pubs)], limit: 50 }
      case 3:
        return recent.length === 0 ? { kinds: [7], limit: 20 } : { ids: Array.from({ length: 20 }, () => pick(recent)) }
      case 4:
        return { kinds: [30078], authors: [pick(pubs)], "#d": [`slot${n % 5}`] }
      default:
        return { "#t": [`topic${n % 50}`], since: now - 600, limit: 20 }
    }
  }

  // Live subscribers.
  /** Subscriber i's filter; `salt` picks other authors for its replacements. */
  const liveFilter = (i: number, salt: number): object => {
    const a = i + salt
    if (i % 25 === 0) return { kinds: [1], limit: 0 }
    if (i % 2 === 1) return { kinds: [1, 7], authors: [pubs[a % AUTHORS], pubs[(a + 17) % AUTHORS], pubs[(a + 31) % AUTHORS]], limit: 0 }
    return { "#p": [pubs[a % AUTHORS]], limit: 0 }
  }
  const onLiveFrame = (text: string) => {
    if (text.startsWith('["EVENT","live"')) win.deliveries++
    else if (text.startsWith('["CLOSED"')) error("live subscription CLOSED")
  }
  const subscriber = (i: number, salt = 0) => persistent(url, "subscriber", onLiveFrame, (ws) => ws.send(JSON.stringify(["REQ", "live", liveFilter(i, salt)])))
  const subscribers: Array<ReturnType<typeof subscriber>> = []
  for (let i = 0; i < rates.subscribers; i += 50) {
    const batch = Array.from({ length: Math.min(50, rates.subscribers - i) }, (_, k) => subscriber(i + k))
    subscribers.push(...batch)
    await Promise.all(batch.map((s) => s.ready))
  }
  await Promise.all([...publishers, ...readers].map((p) => p.ready))
  log(`connected: ${publishers.length} publishers, ${readers.length} readers, ${subscribers.length} live subscribers`)

  // Paced sending: each tick sends what is due since the start (a late tick catches up).
  const started = performance.now()
  let published = 0
  let requested = 0
  let skipped = 0
  timers.push(
    setInterval(() => {
      const elapsed = (performance.now() - started) / 1000
      const dueEvents = Math.floor(rates.events * elapsed) - published
      for (let k = 0; k < dueEvents; k++) {
        const i = published++
        const ws = publishers[i % publishers.length]?.self.ws
        if (ws === undefined || sentAt.size >= MAX_UNACKED) {
          skipped++
          error("EVENT skipped (no connection or 2,000 awaiting OK)")
          continue
        }
        const e = makeEvent(i)
        sentAt.set(e.id, performance.now())
        ws.send(JSON.stringify(["EVENT", e]))
      }
      const dueReqs = Math.floor(rates.reqs * elapsed) - requested
      for (let k = 0; k < dueReqs; k++) {
        const n = requested++
        const conn = n % readers.length
        const ws = readers[conn]?.self.ws
        if (ws === undefined || openPer[conn]! >= MAX_OPEN) {
          skipped++
          error("REQ skipped (no connection or 40 open)")
          continue
        }
        const id = `q${reqSeq++}`
        reqAt.set(id, { t: performance.now(), conn })
        openPer[conn]!++
        ws.send(JSON.stringify(["REQ", id, shape(n)]))
      }
    }, 10)
  )

  // What never got its answer within 30 s is an error (and forgotten).
  timers.push(
    setInterval(() => {
      const limit = performance.now() - 30_000
      for (const [id, t] of sentAt) if (t < limit) sentAt.delete(id), error("no OK within 30 s")
      for (const [id, r] of reqAt) {
        if (r.t >= limit) continue
        reqAt.delete(id)
        openPer[r.conn]!--
        error("no EOSE within 30 s")
        readers[r.conn]!.self.ws?.send(JSON.stringify(["CLOSE", id]))
      }
    }, 5000)
  )

  // Subscribers replaced one at a time.
  let nextResub = 0
  if (rates["resubscribe-ms"] > 0 && subscribers.length > 0) {
    timers.push(
      setInterval(() => {
        const k = nextResub++ % subscribers.length
        const old = subscribers[k]!.self.ws
        if (old === undefined) return
        old.removeAllListeners("close")
        old.close()
        subscribers[k] = subscriber(k, nextResub) // the same kind of filter, other authors
      }, rates["resubscribe-ms"])
    )
  }

  // Connection churn.
  let churning = 0
  let churnSeq = 0
  if (rates["churn-ms"] > 0) {
    timers.push(
      setInterval(() => {
        if (churning >= 50) return error("churn: 50 connections still pending")
        churning++
        const n = churnSeq++
        const done = (ws: WebSocket | undefined, ok: boolean, why = "") => {
          churning--
          if (ok) win.churned++
          else error(`churn: ${why}`)
          if (ws === undefined) return
          sockets.delete(ws)
          if (n % 2 === 0) ws.close()
          else ws.terminate()
        }
        open(url).then(
          (ws) => {
            sockets.add(ws)
            let finished = false
            const timer = setTimeout(() => {
              finished = true
              done(ws, false, "no EOSE within 10 s")
            }, 10_000)
            ws.on("error", () => {})
            ws.on("message", (d) => {
              if (finished || !d.toString().startsWith('["EOSE"')) return
              finished = true
              clearTimeout(timer)
              done(ws, true)
            })
            ws.send(JSON.stringify(["REQ", "c", { kinds: [1], limit: 5 }]))
          },
          () => done(undefined, false, "connect failed")
        )
      }, rates["churn-ms"])
    )
  }

  return {
    skipped: () => skipped,
    stop: async () => {
      running = false
      for (const t of timers) clearInterval(t)
      const until = performance.now() + 5000
      while ((sentAt.size > 0 || reqAt.size > 0) && performance.now() < until) await sleep(100)
      for (const p of [...publishers, ...readers, ...subscribers]) p.self.ws?.terminate()
      for (const ws of sockets) ws.terminate()
    }
  }
}

// ---------------------------------------------------------------- chart

interface Row {
  readonly minute: number
  readonly rssMb: number | null
  readonly heapMb: number | null
  readonly loopP99Ms: number | null
  readonly okP99Ms: number | null
  readonly eoseP99Ms: number | null
  readonly acked: number
  readonly reqs: number
  readonly errors: number
  readonly cpuPct: number | null
  readonly deliveries: number
  readonly churned: number
  readonly clientLoopP99Ms: number | null
  readonly clientCpuPct: number
  readonly load1: number
}

const niceMax = (v: number): number => {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 4, 6, 8, 10]) if (m * p >= v) return m * p
  return 10 * p
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;")

const svgChart = (rows: ReadonlyArray<Row>, title: string, subtitle: string): string => {
  const W = 960
  const PH = 120 // panel height
  const GAP = 46
  const L = 64
  const R = 24
  const TOP = 104
  type Series = { name: string; color: string; get: (r: Row) => number | null }
  const panels: Array<{ title: string; unit: string; series: Array<Series> }> = [
    {
      title: "relay process memory",
      unit: "MB",
      series: [
        { name: "RSS", color: "#1f77b4", get: (r) => r.rssMb },
        { name: "JS heap used", color: "#ff7f0e", get: (r) => r.heapMb }
      ]
    },
    {
      title: "latency p99 (each minute)",
      unit: "ms",
      series: [
        { name: "EVENT → OK", color: "#2ca02c", get: (r) => r.okP99Ms },
        { name: "REQ → EOSE", color: "#d62728", get: (r) => r.eoseP99Ms },
        { name: "relay event-loop delay", color: "#9467bd", get: (r) => r.loopP99Ms }
      ]
    },
    {
      title: "throughput per second (minute mean)",
      unit: "",
      series: [
        { name: "events acked", color: "#1f77b4", get: (r) => r.acked / 60 },
        { name: "REQs answered", color: "#ff7f0e", get: (r) => r.reqs / 60 },
        { name: "connections churned", color: "#8c564b", get: (r) => r.churned / 60 },
        { name: "errors", color: "#d62728", get: (r) => r.errors / 60 }
      ]
    },
    {
      title: "CPU",
      unit: "cores",
      series: [
        { name: "relay process (all threads)", color: "#17becf", get: (r) => (r.cpuPct === null ? null : r.cpuPct / 100) },
        { name: "load generator", color: "#bcbd22", get: (r) => r.clientCpuPct / 100 }
      ]
    },
    {
      title: "machine (2 cores, shared)",
      unit: "",
      series: [{ name: "1-minute load average", color: "#7f7f7f", get: (r) => r.load1 }]
    }
  ]
  const H = TOP + panels.length * (PH + GAP) + 10
  const xMax = Math.max(1, ...rows.map((r) => r.minute))
  const x = (m: number) => L + ((W - L - R) * m) / xMax
  const parts: Array<string> = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${L}" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`,
    ...subtitle.split("\n").map((line, k) => `<text x="${L}" y="${46 + 18 * k}" fill="#444">${esc(line)}</text>`)
  ]
  panels.forEach((p, i) => {
    const y0 = TOP + i * (PH + GAP)
    const vals = rows.flatMap((r) => p.series.map((s) => s.get(r))).filter((v): v is number => v !== null && Number.isFinite(v))
    const yMax = niceMax(Math.max(0, ...vals) * 1.05)
    const y = (v: number) => y0 + PH - (PH * v) / yMax
    const heading = p.unit === "" ? p.title : `${p.title}, ${p.unit}`
    parts.push(`<text x="${L}" y="${y0 - 8}" font-weight="bold">${esc(heading)}</text>`)
    let lx = L + heading.length * 7.8 + 24
    for (const s of p.series) {
      parts.push(`<rect x="${lx}" y="${y0 - 17}" width="14" height="3" fill="${s.color}"/>`, `<text x="${lx + 18}" y="${y0 - 12}" fill="#333">${esc(s.name)}</text>`)
      lx += 18 + s.name.length * 6.8 + 16
    }
    for (let k = 0; k <= 4; k++) {
      const v = (yMax * k) / 4
      parts.push(
        `<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="${k === 0 ? "#888" : "#e4e4e4"}"/>`,
        `<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${Number(v.toPrecision(3))}</text>`
      )
    }
    const step = xMax <= 10 ? 1 : xMax <= 30 ? 5 : xMax <= 120 ? 10 : 60
    for (let m = 0; m <= xMax; m += step) {
      parts.push(`<line x1="${x(m)}" x2="${x(m)}" y1="${y0 + PH}" y2="${y0 + PH + 4}" stroke="#888"/>`)
      parts.push(`<text x="${x(m)}" y="${y0 + PH + 16}" text-anchor="middle" fill="#555">${m}</text>`)
    }
    for (const s of p.series) {
      let d = ""
      let pen = false
      for (const r of rows) {
        const v = s.get(r)
        if (v === null || !Number.isFinite(v)) {
          pen = false
          continue
        }
        d += `${pen ? "L" : "M"}${x(r.minute).toFixed(1)},${y(v).toFixed(1)}`
        pen = true
      }
      if (d !== "") parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`)
      if (rows.length === 1) for (const r of rows) if (s.get(r) !== null) parts.push(`<circle cx="${x(r.minute)}" cy="${y(s.get(r)!)}" r="3" fill="${s.color}"/>`)
    }
  })
  parts.push(`<text x="${W - R}" y="${H - 4}" text-anchor="end" fill="#555">minute of the run</text>`, "</svg>")
  return parts.join("\n")
}

/** The SVG as a PNG through headless Chromium (@sparticuz/chromium + puppeteer-core, devDependencies). */
const renderPng = async (svg: string, file: string) => {
  const browser = await launchChromium()
  try {
    const page = await browser.newPage()
    const w = Number(/width="(\d+)"/.exec(svg)![1])
    const h = Number(/height="(\d+)"/.exec(svg)![1])
    await page.setViewport({ width: w, height: h, deviceScaleFactor: 1 })
    await page.setContent(`<!doctype html><html><body style="margin:0">${svg}</body></html>`)
    await page.screenshot({ path: file as `${string}.png`, type: "png", clip: { x: 0, y: 0, width: w, height: h } })
  } finally {
    await browser.close()
  }
}

interface Meta {
  readonly started: number
  readonly rateText: string
  /** The store of the relay this script started; "" for --url. */
  readonly store: string
}

/** `<out>.svg` and `<out>.png` of the rows. */
const drawChart = async (rows: ReadonlyArray<Row>, out: string, meta: Meta) => {
  const loads = rows.map((r) => r.load1)
  const title = `Parrhesia soak: ${rows.length} min${meta.store === "" ? "" : `, ${meta.store} store`}, ${new Date(meta.started).toISOString().slice(0, 16).replace("T", " ")} UTC`
  const subtitle = `${meta.rateText}\nover 127.0.0.1 on 2 shared cores, machine load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}; ${rows.reduce((s, r) => s + r.errors, 0)} errors`
  const svg = svgChart(rows, title, subtitle)
  writeFileSync(`${out}.svg`, svg)
  try {
    await renderPng(svg, `${out}.png`)
  } catch (e) {
    log(`no PNG (${e instanceof Error ? e.message : String(e)}); the chart is in ${out}.svg`)
  }
}

// ---------------------------------------------------------------- the run

const main = async () => {
  if (sign === undefined) log("bcrypto's native signer is not built: signing with noble (~1,000/s), which loads this process")
  let url = givenUrl
  let pid = givenPid
  let child: ChildProcess | undefined
  let dataDir: string | undefined
  if (url === undefined) {
    dataDir = mkdtempSync(join(tmpdir(), "parrhesia-soak-"))
    const root = args.has("root") ? resolve(args.get("root")!) : undefined // spawnRelay also runs it there: absolute
    const relay = await spawnRelay({ PARRHESIA_STORE: store, PARRHESIA_DATA_DIR: join(dataDir, "data") }, { timeoutMs: 120_000, ...(root === undefined ? {} : { root }) }).catch(
      (e: unknown) => {
        rmSync(dataDir!, { recursive: true, force: true })
        throw e
      }
    )
    url = relay.url
    child = relay.child
    pid = child.pid
    log(`relay ${url} (store ${store}, pid ${pid}${root === undefined ? "" : `, from ${root}`})`)
  }
  const metrics = metricsUrl(url)
  const first = await scrape(metrics) // starts the relay's delay window
  if (first.heapBytes === undefined) log(`${metrics} has no parrhesia_nodejs_heap_used_bytes: heap_mb and eventloop_p99_ms stay empty`)

  mkdirSync(dirname(out) === "" ? "." : dirname(out), { recursive: true })
  const csv = `${out}.csv`
  writeFileSync(csv, "minute,rss_mb,heap_mb,eventloop_p99_ms,ok_p99_ms,eose_p99_ms,events_acked,reqs,errors,cpu_pct,deliveries,churned,client_eventloop_p99_ms,client_cpu_pct,load1\n")
  const rateText = `events=${rates.events}/s, reqs=${rates.reqs}/s, subscribers=${rates.subscribers}, resubscribe every ${rates["resubscribe-ms"]} ms, a connection every ${rates["churn-ms"]} ms`
  log(`${minutes} min at ${rateText}; rows in ${csv}`)
  const meta: Meta = { started: Date.now(), rateText, store: givenUrl === undefined ? store : "" }
  writeFileSync(`${out}.json`, JSON.stringify(meta) + "\n")

  const clientLoop = monitorEventLoopDelay({ resolution: 10 })
  clientLoop.enable()
  let clientCpu = process.cpuUsage()
  const load = await startLoad(url)
  win = emptyWindow() // start-up connections are not part of minute 1
  const rows: Array<Row> = []
  const started = Date.now()
  let cpuBefore = pid === undefined ? undefined : sampleProcess(pid)
  let stopping = false
  let wake: () => void = () => {}
  const stopEarly = () => {
    if (stopping) return
    log("stopping early: writing what was measured")
    stopping = true
    wake()
  }
  process.on("SIGINT", stopEarly)
  process.on("SIGTERM", stopEarly)

  for (let minute = 1; minute <= minutes && !stopping; minute++) {
    const wait = started + minute * 60_000 - Date.now()
    if (wait > 0) await new Promise<void>((r) => ((wake = r), setTimeout(r, wait)))
    if (stopping) break
    const w = win
    win = emptyWindow()
    const proc = pid === undefined ? undefined : sampleProcess(pid)
    const m = await scrape(metrics)
    const row: Row = {
      minute,
      rssMb: proc ? proc.rssKb / 1024 : null,
      heapMb: m.heapBytes === undefined ? null : m.heapBytes / 1024 / 1024,
      loopP99Ms: m.loopP99Seconds === undefined ? null : m.loopP99Seconds * 1000,
      okP99Ms: p99(w.ok),
      eoseP99Ms: p99(w.eose),
      acked: w.acked,
      reqs: w.reqs,
      errors: w.errors,
      cpuPct: proc && cpuBefore ? ((proc.cpuSeconds - cpuBefore.cpuSeconds) / 60) * 100 : null,
      deliveries: w.deliveries,
      churned: w.churned,
      clientLoopP99Ms: clientLoop.percentile(99) / 1e6,
      clientCpuPct: (() => {
        const now = process.cpuUsage()
        const pct = ((now.user + now.system - clientCpu.user - clientCpu.system) / 1e6 / 60) * 100
        clientCpu = now
        return pct
      })(),
      load1: loadavg()[0]!
    }
    clientLoop.reset()
    cpuBefore = proc
    rows.push(row)
    appendFileSync(
      csv,
      [
        row.minute,
        round(row.rssMb),
        round(row.heapMb),
        round(row.loopP99Ms),
        round(row.okP99Ms),
        round(row.eoseP99Ms),
        row.acked,
        row.reqs,
        row.errors,
        round(row.cpuPct),
        row.deliveries,
        row.churned,
        round(row.clientLoopP99Ms),
        round(row.clientCpuPct),
        round(row.load1, 2)
      ].join(",") + "\n"
    )
    log(
      `min ${minute}/${minutes}: rss ${round(row.rssMb)} MB, heap ${round(row.heapMb)} MB, loop p99 ${round(row.loopP99Ms)} ms, OK p99 ${round(row.okP99Ms)} ms, EOSE p99 ${round(row.eoseP99Ms)} ms, ` +
        `${row.acked} acked, ${row.reqs} REQs, ${row.deliveries} delivered, ${row.churned} churned, ${row.errors} errors, cpu ${round(row.cpuPct)}% (load generator ${round(row.clientCpuPct)}%), load ${round(row.load1, 2)}`
    )
    if (row.errors > 0) log(`errors so far: ${[...errorKinds].map(([k, n]) => `${k} ×${n}`).join("; ")}`)
    if (notices.size > 0) log(`NOTICEs so far: ${[...notices].map(([k, n]) => `${k} ×${n}`).join("; ")}`)
  }

  await load.stop()
  if (child !== undefined) {
    const exited = new Promise((r) => child!.once("exit", r))
    child.kill("SIGTERM")
    await Promise.race([exited, sleep(30_000).then(() => child!.kill("SIGKILL"))])
  }
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true })

  const loads = rows.map((r) => r.load1)
  await drawChart(rows, out, { started, rateText, store: givenUrl === undefined ? store : "" })
  const at = (m: number) => rows.find((r) => r.minute === m) ?? rows[rows.length - 1]
  const a = at(Math.min(5, rows.length))
  const z = rows[rows.length - 1]
  const summary =
    JSON.stringify({
      ...meta,
      minutes: rows.length,
      rates,
      csv,
      png: `${out}.png`,
      rssMb: { [`minute${a?.minute}`]: a?.rssMb, [`minute${z?.minute}`]: z?.rssMb, max: Math.max(...rows.map((r) => r.rssMb ?? 0)) },
      heapMb: { [`minute${a?.minute}`]: a?.heapMb, [`minute${z?.minute}`]: z?.heapMb, max: Math.max(...rows.map((r) => r.heapMb ?? 0)) },
      okP99Ms: { [`minute${a?.minute}`]: a?.okP99Ms, [`minute${z?.minute}`]: z?.okP99Ms },
      eoseP99Ms: { [`minute${a?.minute}`]: a?.eoseP99Ms, [`minute${z?.minute}`]: z?.eoseP99Ms },
      eventsAcked: rows.reduce((s, r) => s + r.acked, 0),
      reqs: rows.reduce((s, r) => s + r.reqs, 0),
      errors: Object.fromEntries(errorKinds),
      skipped: load.skipped(),
      load1: { min: Math.min(...loads), max: Math.max(...loads) }
    }) + "\n"
  writeFileSync(`${out}.json`, summary)
  process.stdout.write(summary)
  process.exit(0)
}

/** `--replot X.csv`: the chart again from a run's CSV (and X.json beside it, when there). */
const replot = async (file: string) => {
  const base = file.replace(/\.csv$/, "")
  const lines = readFileSync(file, "utf8").trim().split("\n")
  const head = lines[0]!.split(",")
  const num = (cells: ReadonlyArray<string>, name: string): number | null => {
    const v = cells[head.indexOf(name)]
    return v === undefined || v === "" ? null : Number(v)
  }
  const rows: Array<Row> = lines.slice(1).map((line) => {
    const c = line.split(",")
    return {
      minute: num(c, "minute")!,
      rssMb: num(c, "rss_mb"),
      heapMb: num(c, "heap_mb"),
      loopP99Ms: num(c, "eventloop_p99_ms"),
      okP99Ms: num(c, "ok_p99_ms"),
      eoseP99Ms: num(c, "eose_p99_ms"),
      acked: num(c, "events_acked") ?? 0,
      reqs: num(c, "reqs") ?? 0,
      errors: num(c, "errors") ?? 0,
      cpuPct: num(c, "cpu_pct"),
      deliveries: num(c, "deliveries") ?? 0,
      churned: num(c, "churned") ?? 0,
      clientLoopP99Ms: num(c, "client_eventloop_p99_ms"),
      clientCpuPct: num(c, "client_cpu_pct") ?? 0,
      load1: num(c, "load1") ?? 0
    }
  })
  let meta: Meta = { started: statSync(file).mtimeMs - rows.length * 60_000, rateText: "(load as run)", store: "" }
  try {
    meta = { ...meta, ...(JSON.parse(readFileSync(`${base}.json`, "utf8")) as Partial<Meta>) }
  } catch {
    /* no summary beside it */
  }
  await drawChart(rows, base, meta)
  log(`${base}.svg, ${base}.png`)
}

if (args.has("replot")) await replot(args.get("replot")!)
else await main()
