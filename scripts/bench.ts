/**
 * Benchmarks of a running relay, over real sockets on 127.0.0.1 (bounded in
 * count and time). Scenarios follow shared/TARGETS.md:
 *   ingest  N pre-signed kind-1 events over 8 connections x 50 in flight: events/s, OK p50/p99
 *   query   4 REQ shapes (kinds limit 100, one author limit 50, #p limit 50, 20 ids): time to EOSE p50/p95
 *   fanout  200 subscribers (half all kind 1, half 2 of 10 authors), R events/s: delivery p50/p99, lost/duplicated
 *   idle    10,000 idle connections (--idle N): relay RSS per connection, then a new REQ's time to EOSE
 *
 * Usage: node scripts/bench.ts [--url ws://...] [--store postgres|memory] [--events 20000]
 *        [--scenarios ingest,query,fanout] [--rate 200] [--seconds 10]
 * Without --url it starts `node src/main.ts` on a free port (embedded Postgres in a temp folder by default).
 */
import type { ChildProcess } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure"
import { Effect } from "effect"
import WebSocket from "ws"
import { RelayPool } from "../src/client/RelayPool.ts"
import { spawnRelay } from "./relay-process.ts"

const args = new Map<string, string>()
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "")
const N = Number(args.get("events") ?? 20000)
const scenarios = (args.get("scenarios") ?? "ingest,query,fanout").split(",")
const store = args.get("store") ?? "postgres"
const RATE = Number(args.get("rate") ?? 200)
const SECONDS = Number(args.get("seconds") ?? 10)

type Ev = ReturnType<typeof finalizeEvent>

const pct = (xs: Array<number>, p: number) => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!
}
const ms = (x: number) => `${x.toFixed(2)} ms`

const open = (url: string) =>
  new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    ws.once("open", () => resolve(ws))
    ws.once("error", reject)
  })

// ------------------------------------------------------------ dataset (cached: signing is slow in pure JS)
const AUTHORS = 10
const loadDataset = () => {
  const dir = ".bench"
  const file = join(dir, `events-${N}.json`)
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as { events: Array<Ev>; keys: Array<string> }
  console.log(`signing ${N} events (cached in ${file})...`)
  const sks = Array.from({ length: AUTHORS }, () => generateSecretKey())
  const pubs = sks.map((sk) => getPublicKey(sk))
  const base = Math.floor(Date.now() / 1000) - N
  const events = Array.from({ length: N }, (_, i) =>
    finalizeEvent(
      {
        kind: 1,
        created_at: base + i,
        tags: [["p", pubs[(i * 7) % AUTHORS]!], ["t", `topic${i % 50}`]],
        content: `bench event ${i} ${"x".repeat(i % 200)}`
      },
      sks[i % AUTHORS]!
    )
  )
  mkdirSync(dir, { recursive: true })
  const out = { events, keys: sks.map((k) => Buffer.from(k).toString("hex")) }
  writeFileSync(file, JSON.stringify(out))
  return out
}

// ------------------------------------------------------------ relay process
const rssKb = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return m ? Number(m[1]) : NaN
}

const startRelay = async (): Promise<{ url: string; child?: ChildProcess; cleanup: () => void }> => {
  if (args.has("url")) return { url: args.get("url")!, cleanup: () => {} }
  const dataDir = mkdtempSync(join(tmpdir(), "parrhesia-bench-"))
  const { url, child } = await spawnRelay({ PARRHESIA_STORE: store, PARRHESIA_DATA_DIR: join(dataDir, "data") })
  return {
    url,
    child,
    cleanup: () => {
      child.kill("SIGTERM")
      setTimeout(() => rmSync(dataDir, { recursive: true, force: true }), 3000).unref()
    }
  }
}

// ------------------------------------------------------------ ingest
const ingest = async (url: string, events: Array<Ev>) => {
  const CONNS = 8
  const IN_FLIGHT = 50
  const sockets = await Promise.all(Array.from({ length: CONNS }, () => open(url)))
  const latencies: Array<number> = []
  /** OKs of the second half of the run (by time, estimated from a 5,000/s pace): without start-up and JIT warm-up. */
  const steady: Array<number> = []
  const halfway = (events.length / 5000 / 2) * 1000
  let accepted = 0
  let rejected = 0
  const reasons = new Map<string, number>()
  const started = performance.now()
  await Promise.all(
    sockets.map(
      (ws, c) =>
        new Promise<void>((resolve) => {
          const mine = events.filter((_, i) => i % CONNS === c)
          const sentAt = new Map<string, number>()
          let next = 0
          let done = 0
          const sendOne = () => {
            const e = mine[next++]!
            sentAt.set(e.id, performance.now())
            ws.send(JSON.stringify(["EVENT", e]))
          }
          ws.on("message", (data) => {
            const m = JSON.parse(data.toString())
            if (m[0] !== "OK") return
            const latency = performance.now() - sentAt.get(m[1])!
            latencies.push(latency)
            if (performance.now() - started > halfway) steady.push(latency)
            if (m[2]) accepted++
            else {
              rejected++
              const r = String(m[3]).split(":")[0]!
              reasons.set(r, (reasons.get(r) ?? 0) + 1)
            }
            if (++done === mine.length) resolve()
            else if (next < mine.length) sendOne()
          })
          for (let i = 0; i < IN_FLIGHT && next < mine.length; i++) sendOne()
        })
    )
  )
  const seconds = (performance.now() - started) / 1000
  sockets.forEach((s) => s.close())
  console.log(
    `ingest: ${events.length} events in ${seconds.toFixed(2)} s = ${Math.round(events.length / seconds)} events/s; ` +
      `OK p50 ${ms(pct(latencies, 50))}, p99 ${ms(pct(latencies, 99))} (second half: p99 ${ms(pct(steady, 99))}); ` +
      `accepted ${accepted}, rejected ${rejected}` +
      (reasons.size ? ` (${[...reasons].map(([k, v]) => `${k}: ${v}`).join(", ")})` : "")
  )
  await verifyStored(url, events)
}

/**
 * After the timed part: a sample of what was acknowledged must be served back (through the
 * project's own client, RelayPool; the timed loops above keep raw sockets so that parsing
 * every frame in the load generator does not weigh on what is measured).
 */
const verifyStored = async (url: string, events: Array<Ev>) => {
  const sample = Array.from({ length: Math.min(200, events.length) }, (_, i) => events[Math.floor((i * events.length) / Math.min(200, events.length))]!.id)
  const got = await Effect.runPromise(
    Effect.gen(function* () {
      const client = (yield* RelayPool).relay(url, { reconnect: false })
      yield* client.ready
      return yield* client.query([{ ids: sample, limit: sample.length }])
    }).pipe(Effect.provide(RelayPool.layer()), Effect.scoped)
  )
  const served = new Set(got.map((e) => e.id))
  const missing = sample.filter((id) => !served.has(id)).length
  console.log(`ingest check: ${sample.length - missing} of ${sample.length} sampled events served back${missing ? ` (${missing} MISSING)` : ""}`)
}

// ------------------------------------------------------------ query
const query = async (url: string, events: Array<Ev>, authors: Array<string>) => {
  const ws = await open(url)
  const shapes: Array<[string, () => object]> = [
    ["kinds limit 100", () => ({ kinds: [1], limit: 100 })],
    ["one author limit 50", () => ({ authors: [authors[Math.floor(Math.random() * authors.length)]], limit: 50 })],
    ["#p limit 50", () => ({ "#p": [authors[Math.floor(Math.random() * authors.length)]], limit: 50 })],
    ["20 ids", () => ({ ids: Array.from({ length: 20 }, () => events[Math.floor(Math.random() * events.length)]!.id) })]
  ]
  let seq = 0
  const WARMUP = 50 // unmeasured rounds per shape first (JIT, plan caches), as any benchmark does
  for (const [name, make] of shapes) {
    const times: Array<number> = []
    let counts = 0
    for (let i = -WARMUP; i < 200; i++) {
      const id = `q${seq++}`
      const t0 = performance.now()
      const got = await new Promise<number>((resolve) => {
        let n = 0
        // Frames recognised by their head, not parsed: the client must not dominate what is measured.
        const eventHead = `["EVENT","${id}",`
        const endHeads = [`["EOSE","${id}"]`, `["CLOSED","${id}",`]
        const on = (data: WebSocket.RawData) => {
          const text = data.toString()
          if (text.startsWith(eventHead)) n++
          else if (endHeads.some((h) => text.startsWith(h))) {
            ws.off("message", on)
            ws.send(JSON.stringify(["CLOSE", id]))
            resolve(n)
          }
        }
        ws.on("message", on)
        ws.send(JSON.stringify(["REQ", id, make()]))
      })
      if (i >= 0) {
        times.push(performance.now() - t0)
        counts += got
      }
    }
    console.log(`query ${name}: time to EOSE p50 ${ms(pct(times, 50))}, p95 ${ms(pct(times, 95))} (avg ${Math.round(counts / 200)} events)`)
  }
  ws.close()
}

// ------------------------------------------------------------ fanout
const fanout = async (url: string, keys: Array<string>) => {
  const SUBS = 200
  const sks = keys.map((k) => Uint8Array.from(Buffer.from(k, "hex")))
  const pubs = sks.map((sk) => getPublicKey(sk))
  const subs = await Promise.all(Array.from({ length: SUBS }, () => open(url)))
  const sentAt = new Map<string, number>()
  const latencies: Array<number> = []
  const expected = new Map<string, number>()
  let received = 0
  let duplicates = 0
  await Promise.all(
    subs.map(
      (ws, i) =>
        new Promise<void>((resolve) => {
          const filter = i % 2 === 0 ? { kinds: [1], since: Math.floor(Date.now() / 1000) } : { authors: [pubs[i % AUTHORS], pubs[(i + 1) % AUTHORS]], since: Math.floor(Date.now() / 1000) }
          const seen = new Set<string>()
          ws.on("message", (data) => {
            // Cheap parse: the client must not be the bottleneck of a fanout benchmark.
            const text = data.toString()
            if (text.startsWith('["EOSE"')) resolve()
            if (!text.startsWith('["EVENT"')) return
            const at = text.indexOf('"id":"')
            const id = text.slice(at + 6, at + 70)
            if (seen.has(id)) duplicates++
            seen.add(id)
            received++
            const t = sentAt.get(id)
            if (t !== undefined) latencies.push(performance.now() - t)
          })
          ws.send(JSON.stringify(["REQ", "f", filter]))
        })
    )
  )
  const pub = await open(url)
  const total = RATE * SECONDS
  const now = Math.floor(Date.now() / 1000)
  const evs = Array.from({ length: total }, (_, i) => finalizeEvent({ kind: 1, created_at: now, tags: [], content: `fanout ${i}` }, sks[i % AUTHORS]!))
  for (const e of evs) {
    const a = pubs.indexOf(e.pubkey)
    // even subscribers take every kind-1; odd subscriber i takes authors i%10 and (i+1)%10
    let n = SUBS / 2
    for (let i = 1; i < SUBS; i += 2) if (i % AUTHORS === a || (i + 1) % AUTHORS === a) n++
    expected.set(e.id, n)
  }
  const expectedTotal = [...expected.values()].reduce((a, b) => a + b, 0)
  const started = performance.now()
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE
    const wait = due - performance.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    sentAt.set(evs[i]!.id, performance.now())
    pub.send(JSON.stringify(["EVENT", evs[i]]))
  }
  const deadline = performance.now() + 10_000
  while (received < expectedTotal && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  const seconds = (performance.now() - started) / 1000
  console.log(
    `fanout: ${SUBS} subscribers, ${RATE} events/s for ${SECONDS} s: ${received}/${expectedTotal} deliveries ` +
      `(${Math.round(received / seconds)}/s), duplicates ${duplicates}, delivery p50 ${ms(pct(latencies, 50))}, p99 ${ms(pct(latencies, 99))}`
  )
  subs.forEach((s) => s.close())
  pub.close()
}

// ------------------------------------------------------------ idle connections
const idle = async (url: string, pid: number | undefined) => {
  const COUNT = Number(args.get("idle") ?? 10000)
  if (pid === undefined) {
    console.log("idle: needs a relay started by this script (its RSS is read from /proc)")
    return
  }
  const gc = async () => {
    // let the relay settle; RSS is sampled, not forced down
    await new Promise((r) => setTimeout(r, 1500))
  }
  await gc()
  const before = rssKb(pid)
  const sockets: Array<WebSocket> = []
  for (let i = 0; i < COUNT; i += 250) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(250, COUNT - i) }, () => open(url)))))
  }
  await gc()
  const after = rssKb(pid)
  const ws = await open(url)
  const times: Array<number> = []
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now()
    await new Promise<void>((resolve) => {
      const on = (data: WebSocket.RawData) => {
        if (data.toString().startsWith('["EOSE"')) {
          ws.off("message", on)
          resolve()
        }
      }
      ws.on("message", on)
      ws.send(JSON.stringify(["REQ", `i${i}`, { kinds: [1], limit: 10 }]))
    })
    times.push(performance.now() - t0)
  }
  console.log(
    `idle: ${COUNT} connections: relay RSS ${Math.round(before / 1024)} -> ${Math.round(after / 1024)} MB = ` +
      `${((after - before) / COUNT).toFixed(1)} KB per connection; new REQ time to EOSE p50 ${ms(pct(times, 50))}, p95 ${ms(pct(times, 95))}`
  )
  ws.close()
  for (const s of sockets) s.terminate()
}

const main = async () => {
  const { events, keys } = loadDataset()
  const relay = await startRelay()
  console.log(`relay: ${relay.url} (${args.has("url") ? "external" : `store ${store}`})`)
  try {
    const pubs = keys.map((k) => getPublicKey(Uint8Array.from(Buffer.from(k, "hex"))))
    if (scenarios.includes("ingest")) await ingest(relay.url, events)
    if (scenarios.includes("query")) await query(relay.url, events, pubs)
    if (scenarios.includes("fanout")) await fanout(relay.url, keys)
    if (scenarios.includes("idle")) await idle(relay.url, relay.child?.pid)
  } finally {
    relay.cleanup()
  }
}

await main()
