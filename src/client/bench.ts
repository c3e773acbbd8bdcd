/**
 * `parrhesia bench <url> [<url>...]`: the relay benchmarks of TARGETS.md as a
 * command, against any relay (bounded in count and time):
 *   ingest       N pre-signed kind-1 events over 8 connections x 50 in flight: events/s, OK p50/p99
 *   query        4 REQ shapes (kinds limit 100, one author limit 50, #p limit 50, 20 ids) from 4 connections,
 *                each sequential; 500 warm-up REQs, then 2,000 measured: time to EOSE p50/p95, REQs/s
 *   fanout       200 subscribers, R events/s for S seconds: deliveries, lost, duplicated, delivery p50/p99
 *                (--publish-to: published on another process of the same relay)
 *   connections  N idle connections, then REQs on fresh and idle ones: p50/p95 (and RSS per connection with --pid)
 * Progress on stderr; one JSON line per relay on stdout, then a side-by-side
 * table when several URLs are given. `--pid` samples a local relay's CPU and
 * memory from /proc while it runs.
 *
 * The timed loops use raw sockets and recognise frames by their head: parsing
 * every frame in the load generator would weigh on what is measured. The
 * relays are reached and the stored sample checked through RelayPool.
 */
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, renameSync, writeSync } from "node:fs"
import { createInterface } from "node:readline"
import { join } from "node:path"
import { schnorr } from "@noble/curves/secp256k1.js"
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import WebSocket from "ws"
import { signEvent, type NostrEvent } from "../nostr/index.ts"
import { wholeNumber } from "./args.ts"
import { nativeSigner, sampleProcess } from "./benchKit.ts"
import { RelayPool } from "./RelayPool.ts"

export const BENCH_USAGE =
  "usage: parrhesia bench <url> [<url>...] [--scenarios ingest,query,fanout,connections|all] [--events N] [--rate R] [--seconds S] [--connections N] [--idle-seconds S] [--pid PID] [--cache DIR] [--publish-to URL]"

export interface BenchCliIo {
  readonly out: (s: string) => void
  readonly err: (s: string) => void
}

interface Options {
  readonly urls: ReadonlyArray<string>
  readonly scenarios: ReadonlySet<string>
  readonly events: number
  readonly rate: number
  readonly seconds: number
  readonly connections: number
  /** How long the connections scenario holds its connections idle before the burst of REQs. */
  readonly idleSeconds: number
  readonly pid: number | undefined
  readonly cache: string
  /** Fanout: publish here instead of to the relay the subscribers are on (another process of the same relay). */
  readonly publishTo: string | undefined
}

class UsageError extends Error {}

const SCENARIOS = ["ingest", "query", "fanout", "connections"]
const AUTHORS = 10

const parse = (argv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>): Options => {
  const urls: Array<string> = []
  const o = { scenarios: "ingest,query,fanout", events: 20_000, rate: 200, seconds: 10, connections: 5000, idleSeconds: 10, pid: undefined as number | undefined, cache: env["PARRHESIA_BENCH_CACHE"] || ".bench", publishTo: undefined as string | undefined }
  const num = (name: string, v: string | undefined, min: number, max: number) => wholeNumber(name, v, min, max, (m) => new UsageError(m))
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    switch (a) {
      case "--scenarios":
        o.scenarios = argv[++i] ?? ""
        break
      case "--events":
        o.events = num(a, argv[++i], 10, 1_000_000)
        break
      case "--rate":
        o.rate = num(a, argv[++i], 1, 100_000)
        break
      case "--seconds":
        o.seconds = num(a, argv[++i], 1, 3600)
        break
      case "--connections":
        o.connections = num(a, argv[++i], 1, 100_000)
        break
      case "--idle-seconds":
        o.idleSeconds = num(a, argv[++i], 0, 3600)
        break
      case "--pid":
        o.pid = num(a, argv[++i], 1, 2 ** 31)
        break
      case "--cache":
        o.cache = argv[++i] ?? ""
        break
      case "--publish-to": {
        const u = argv[++i] ?? ""
        if (!/^wss?:\/\/\S+$/i.test(u)) throw new UsageError("--publish-to is a ws:// or wss:// URL")
        o.publishTo = u
        break
      }
      default:
        if (a.startsWith("-")) throw new UsageError(`unknown option ${a}`)
        if (!/^wss?:\/\/\S+$/i.test(a)) throw new UsageError(`${a} is not a ws:// or wss:// URL`)
        urls.push(a)
    }
  }
  if (urls.length === 0) throw new UsageError(BENCH_USAGE)
  const scenarios = new Set(o.scenarios === "all" ? SCENARIOS : o.scenarios.split(",").filter((s) => s !== ""))
  for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new UsageError(`unknown scenario ${s} (${SCENARIOS.join(", ")}, all)`)
  return { urls, ...o, scenarios }
}

// ---------------------------------------------------------------- helpers

const pct = (xs: ReadonlyArray<number>, p: number): number | null => {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 100) / 100
}

const open = (url: string): Promise<WebSocket> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    ws.once("open", () => resolve(ws))
    ws.once("error", reject)
  })

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Dataset {
  readonly events: ReadonlyArray<NostrEvent>
  readonly keys: ReadonlyArray<string>
}

/**
 * N signed kind-1 events from 10 authors, `p`- and `t`-tagged; cached as JSON lines (a first line
 * with the keys, then one event a line), so a million-event dataset is signed once and read back
 * without one giant string.
 */
const dataset = async (n: number, cache: string, progress: (s: string) => void): Promise<Dataset> => {
  const file = cache === "" ? undefined : join(cache, `bench-events-${n}.jsonl`)
  if (file !== undefined && existsSync(file)) {
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity })
    let keys: ReadonlyArray<string> = []
    const events: Array<NostrEvent> = []
    for await (const line of lines) {
      if (line === "") continue
      if (keys.length === 0) keys = (JSON.parse(line) as { keys: ReadonlyArray<string> }).keys
      else events.push(JSON.parse(line) as NostrEvent)
    }
    if (events.length === n) return { events, keys }
    progress(`${file} holds ${events.length} events, not ${n}: signing afresh`)
  }
  progress(`signing ${n} events${file ? ` (cached in ${file})` : ""}...`)
  const sign = nativeSigner()
  const sks = Array.from({ length: AUTHORS }, () => schnorr.utils.randomSecretKey())
  const pubs = sks.map((sk) => bytesToHex(schnorr.getPublicKey(sk)))
  const base = Math.floor(Date.now() / 1000) - n
  const events: Array<NostrEvent> = []
  for (let i = 0; i < n; i++) {
    const template = { kind: 1, created_at: base + i, tags: [["p", pubs[(i * 7) % AUTHORS]!], ["t", `topic${i % 50}`]], content: `bench event ${i} ${"x".repeat(i % 200)}` }
    events.push(signEvent(sks[i % AUTHORS]!, template, pubs[i % AUTHORS]!, sign))
    if (i > 0 && i % 100_000 === 0) progress(`signed ${i} of ${n}`)
  }
  const out = { events, keys: sks.map(bytesToHex) }
  if (file !== undefined) {
    mkdirSync(cache, { recursive: true })
    const fd = openSync(`${file}.tmp`, "w")
    writeSync(fd, JSON.stringify({ keys: out.keys }) + "\n")
    for (let i = 0; i < events.length; i += 10_000) writeSync(fd, events.slice(i, i + 10_000).map((e) => JSON.stringify(e)).join("\n") + "\n")
    closeSync(fd)
    renameSync(`${file}.tmp`, file)
  }
  return out
}

// ---------------------------------------------------------------- scenarios

const ingest = async (url: string, events: ReadonlyArray<NostrEvent>) => {
  const CONNS = 8
  const IN_FLIGHT = 50
  const sockets = await Promise.all(Array.from({ length: CONNS }, () => open(url)))
  const latencies: Array<number> = []
  /** OKs of the second half of the run (by time, estimated from a 5,000/s pace): without start-up and JIT warm-up. */
  const steady: Array<number> = []
  const halfway = (events.length / 5000 / 2) * 1000
  let accepted = 0
  const refused = new Map<string, number>()
  const started = performance.now()
  await Promise.all(
    sockets.map(
      (ws, c) =>
        new Promise<void>((resolve) => {
          const mine = events.filter((_, i) => i % CONNS === c)
          if (mine.length === 0) return resolve()
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
              const r = String(m[3]).split(":")[0]!
              refused.set(r, (refused.get(r) ?? 0) + 1)
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
  return {
    events: events.length,
    seconds: Math.round(seconds * 100) / 100,
    eventsPerSecond: Math.round(events.length / seconds),
    okP50Ms: pct(latencies, 50),
    okP99Ms: pct(latencies, 99),
    okP99SecondHalfMs: pct(steady, 99),
    accepted,
    refused: Object.fromEntries(refused)
  }
}

/** One REQ on `ws`, until EOSE or CLOSED: its time and event count. */
/** How long a REQ may go unanswered (no EOSE or CLOSED) before the run fails. */
export const REQ_ANSWER_TIMEOUT_MS = 30_000

/**
 * One REQ timed to its EOSE (or CLOSED). Fails, and so fails the run with a message, when the relay
 * drops the connection or does not answer in REQ_ANSWER_TIMEOUT_MS: a relay that crashed under the
 * load must not leave the bench waiting for ever.
 */
const timedReq = (ws: WebSocket, id: string, filter: object, timeoutMs = REQ_ANSWER_TIMEOUT_MS) =>
  new Promise<{ ms: number; events: number; closed: boolean }>((resolve, reject) => {
    const t0 = performance.now()
    let n = 0
    const eventHead = `["EVENT","${id}",`
    const eose = `["EOSE","${id}"]`
    const closed = `["CLOSED","${id}",`
    const done = () => {
      ws.off("message", on)
      ws.off("close", onClose)
      clearTimeout(timer)
    }
    const fail = (why: string) => {
      done()
      reject(new Error(`REQ ${id}: ${why}`))
    }
    const on = (data: WebSocket.RawData) => {
      const text = data.toString()
      if (text.startsWith(eventHead)) n++
      else if (text.startsWith(eose) || text.startsWith(closed)) {
        done()
        ws.send(JSON.stringify(["CLOSE", id]))
        resolve({ ms: performance.now() - t0, events: n, closed: text.startsWith(closed) })
      }
    }
    const onClose = () => fail("the relay closed the connection before answering")
    const timer = setTimeout(() => fail(`no EOSE or CLOSED within ${timeoutMs / 1000} s`), timeoutMs)
    if (ws.readyState !== WebSocket.OPEN) return fail("the connection is not open (the relay closed it)")
    ws.on("message", on)
    ws.on("close", onClose)
    ws.send(JSON.stringify(["REQ", id, filter]))
  })

const query = async (url: string, data: Dataset) => {
  const pubs = data.keys.map((k) => bytesToHex(schnorr.getPublicKey(hexToBytes(k))))
  const pick = <A>(xs: ReadonlyArray<A>) => xs[Math.floor(Math.random() * xs.length)]!
  const shapes: Array<[string, () => object]> = [
    ["kinds limit 100", () => ({ kinds: [1], limit: 100 })],
    ["one author limit 50", () => ({ authors: [pick(pubs)], limit: 50 })],
    ["#p limit 50", () => ({ "#p": [pick(pubs)], limit: 50 })],
    ["20 ids", () => ({ ids: Array.from({ length: 20 }, () => pick(data.events).id) })]
  ]
  // As the held-out harness does: 4 connections, each sending REQs one after the other, cycling
  // through the shapes; 500 unmeasured warm-up REQs in all, then 2,000 measured.
  const CONNS = 4
  const WARMUP = 125
  const MEASURED = 500
  const sockets = await Promise.all(Array.from({ length: CONNS }, () => open(url)))
  const times = shapes.map(() => [] as Array<number>)
  const events = shapes.map(() => 0)
  const refused = shapes.map(() => 0)
  let seq = 0
  // The warm-up's own times: the first REQs right after an ingest (caches, pools and JIT still cold).
  const first: Array<number> = []
  const run = (ws: WebSocket, c: number, rounds: number, measure: boolean) =>
    (async () => {
      for (let i = 0; i < rounds; i++) {
        const k = (i + c) % shapes.length
        const r = await timedReq(ws, `q${seq++}`, shapes[k]![1]())
        if (!measure) {
          first.push(r.ms)
          continue
        }
        times[k]!.push(r.ms)
        events[k]! += r.events
        if (r.closed) refused[k]!++
      }
    })()
  const firstStarted = performance.now()
  await Promise.all(sockets.map((ws, c) => run(ws, c, WARMUP, false)))
  const firstMs = performance.now() - firstStarted
  const started = performance.now()
  await Promise.all(sockets.map((ws, c) => run(ws, c, MEASURED, true)))
  const wallMs = performance.now() - started
  for (const ws of sockets) ws.close()
  const out: Record<string, { p50Ms: number | null; p95Ms: number | null; events: number; refused: number }> = {}
  for (const [k, [name]] of shapes.entries()) {
    out[name] = { p50Ms: pct(times[k]!, 50), p95Ms: pct(times[k]!, 95), events: Math.round(events[k]! / Math.max(1, times[k]!.length)), refused: refused[k]! }
  }
  const all = times.flat()
  return {
    shapes: out,
    p50Ms: pct(all, 50),
    p95Ms: pct(all, 95),
    reqsPerSecond: Math.round((all.length * 1000) / wallMs),
    first: { reqs: first.length, p50Ms: pct(first, 50), p95Ms: pct(first, 95), reqsPerSecond: Math.round((first.length * 1000) / firstMs) }
  }
}

const fanout = async (url: string, data: Dataset, rate: number, seconds: number, publishTo = url) => {
  const SUBS = 200
  const sks = data.keys.map(hexToBytes)
  const pubs = sks.map((sk) => bytesToHex(schnorr.getPublicKey(sk)))
  const subs = await Promise.all(Array.from({ length: SUBS }, () => open(url)))
  const sentAt = new Map<string, number>()
  const latencies: Array<number> = []
  let received = 0
  let duplicates = 0
  const now = Math.floor(Date.now() / 1000)
  await Promise.all(
    subs.map(
      (ws, i) =>
        new Promise<void>((resolve) => {
          // limit 0: live events only, none of what is stored already.
          const filter = i % 2 === 0 ? { kinds: [1], limit: 0 } : { authors: [pubs[i % AUTHORS], pubs[(i + 1) % AUTHORS]], limit: 0 }
          const seen = new Set<string>()
          ws.on("message", (raw) => {
            const text = raw.toString()
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
  const total = rate * seconds
  const evs = Array.from({ length: total }, (_, i) => signEvent(sks[i % AUTHORS]!, { kind: 1, created_at: now, tags: [], content: `fanout ${i} ${Math.random()}` }))
  let expected = 0
  for (const e of evs) {
    const a = pubs.indexOf(e.pubkey)
    expected += SUBS / 2
    for (let i = 1; i < SUBS; i += 2) if (i % AUTHORS === a || (i + 1) % AUTHORS === a) expected++
  }
  const pub = await open(publishTo)
  const started = performance.now()
  for (let i = 0; i < total; i++) {
    const wait = started + (i * 1000) / rate - performance.now()
    if (wait > 0) await sleep(wait)
    sentAt.set(evs[i]!.id, performance.now())
    pub.send(JSON.stringify(["EVENT", evs[i]]))
  }
  const deadline = performance.now() + 10_000
  while (received < expected && performance.now() < deadline) await sleep(50)
  const elapsed = (performance.now() - started) / 1000
  subs.forEach((s) => s.close())
  pub.close()
  return {
    subscribers: SUBS,
    rate,
    seconds,
    expected,
    delivered: received,
    lost: Math.max(0, expected - received + duplicates),
    duplicates,
    deliveriesPerSecond: Math.round(received / elapsed),
    deliveryP50Ms: pct(latencies, 50),
    deliveryP99Ms: pct(latencies, 99)
  }
}

const connections = async (url: string, count: number, idleSeconds: number, pid: number | undefined) => {
  const before = pid === undefined ? undefined : sampleProcess(pid)
  const sockets: Array<WebSocket> = []
  for (let i = 0; i < count; i += 250) sockets.push(...(await Promise.all(Array.from({ length: Math.min(250, count - i) }, () => open(url)))))
  await sleep(1500) // let the relay settle; RSS is sampled, not forced down
  const after = pid === undefined ? undefined : sampleProcess(pid)
  // Held idle (as the held-out harness: 10 s), then 20 REQs sent at once, each on its own idle connection.
  await sleep(Math.max(0, idleSeconds * 1000 - 1500))
  const idle = (await Promise.all(Array.from({ length: 20 }, (_, i) => timedReq(sockets[Math.floor((i * sockets.length) / 20)]!, `idle${i}`, { kinds: [1], limit: 10 })))).map((r) => r.ms)
  const ws = await open(url)
  const fresh: Array<number> = []
  for (let i = 0; i < 50; i++) fresh.push((await timedReq(ws, `c${i}`, { kinds: [1], limit: 10 })).ms)
  ws.close()
  for (const s of sockets) s.terminate()
  return {
    connections: count,
    idleReqP50Ms: pct(idle, 50),
    idleReqP95Ms: pct(idle, 95),
    reqP50Ms: pct(fresh, 50),
    reqP95Ms: pct(fresh, 95),
    ...(before && after ? { rssPerConnectionKb: Math.round(((after.rssKb - before.rssKb) / count) * 10) / 10 } : {})
  }
}

/** After the timed ingest: a sample of what was acknowledged must be served back. */
const storedSample = (url: string, events: ReadonlyArray<NostrEvent>) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const sample = Array.from({ length: Math.min(200, events.length) }, (_, i) => events[Math.floor((i * events.length) / Math.min(200, events.length))]!.id)
      const client = (yield* RelayPool).relay(url, { reconnect: false })
      yield* client.ready
      const got = new Set((yield* client.query([{ ids: sample, limit: sample.length }])).map((e) => e.id))
      return { sampled: sample.length, servedBack: sample.filter((id) => got.has(id)).length }
    }).pipe(Effect.provide(RelayPool.layer()), Effect.scoped)
  )

// ---------------------------------------------------------------- the command

const TABLE_ROWS: ReadonlyArray<[string, (r: Record<string, any>) => unknown]> = [
  ["ingest events/s", (r) => r["ingest"]?.eventsPerSecond],
  ["ingest OK p99 ms", (r) => r["ingest"]?.okP99Ms],
  ["REQ kinds p50/p95 ms", (r) => r["query"] && `${r["query"].shapes["kinds limit 100"].p50Ms} / ${r["query"].shapes["kinds limit 100"].p95Ms}`],
  ["REQ author p50/p95 ms", (r) => r["query"] && `${r["query"].shapes["one author limit 50"].p50Ms} / ${r["query"].shapes["one author limit 50"].p95Ms}`],
  ["REQ #p p50/p95 ms", (r) => r["query"] && `${r["query"].shapes["#p limit 50"].p50Ms} / ${r["query"].shapes["#p limit 50"].p95Ms}`],
  ["REQ ids p50/p95 ms", (r) => r["query"] && `${r["query"].shapes["20 ids"].p50Ms} / ${r["query"].shapes["20 ids"].p95Ms}`],
  ["REQs/s", (r) => r["query"]?.reqsPerSecond],
  ["first 500 REQs p50/p95 ms", (r) => r["query"]?.first && `${r["query"].first.p50Ms} / ${r["query"].first.p95Ms}`],
  ["fanout delivered/expected", (r) => r["fanout"] && `${r["fanout"].delivered} / ${r["fanout"].expected}`],
  ["fanout p99 ms", (r) => r["fanout"]?.deliveryP99Ms],
  ["idle-connection REQ p50 ms", (r) => r["connections"]?.idleReqP50Ms],
  ["RSS per connection KB", (r) => r["connections"]?.rssPerConnectionKb],
  ["relay CPU s", (r) => r["process"]?.cpuSeconds],
  ["relay RSS max MB", (r) => r["process"]?.rssMaxMb]
]

export const formatTable = (results: ReadonlyArray<Record<string, any>>): string => {
  const rows = TABLE_ROWS.map(([name, get]) => [name, ...results.map((r) => get(r))] as const).filter(([, ...vs]) => vs.some((v) => v !== undefined))
  const header = ["", ...results.map((r) => String(r["url"]))]
  const cells = [header, ...rows.map(([name, ...vs]) => [name, ...vs.map((v) => (v === undefined || v === null ? "–" : String(v)))])]
  const widths = header.map((_, c) => Math.max(...cells.map((row) => row[c]!.length)))
  return cells.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") + "\n"
}

export const runBenchCli = async (argv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>, io: BenchCliIo): Promise<number> => {
  let o: Options
  try {
    o = parse(argv, env)
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`parrhesia bench: ${e.message}\n`)
      return 2
    }
    throw e
  }
  const progress = (s: string) => io.err(`bench: ${s}\n`)
  const data = await dataset(o.events, o.cache, progress)
  const results: Array<Record<string, unknown>> = []
  for (const url of o.urls) {
    const result: Record<string, unknown> = { url }
    const cpuBefore = o.pid === undefined ? undefined : sampleProcess(o.pid)
    let rssMaxKb = cpuBefore?.rssKb ?? 0
    const sampler = o.pid === undefined ? undefined : setInterval(() => (rssMaxKb = Math.max(rssMaxKb, sampleProcess(o.pid!)?.rssKb ?? 0)), 250)
    try {
      await open(url).then((ws) => ws.close())
      if (o.scenarios.has("ingest")) {
        progress(`${url}: ingest of ${o.events} events`)
        result["ingest"] = { ...(await ingest(url, data.events)), ...(await storedSample(url, data.events)) }
      }
      if (o.scenarios.has("query")) {
        progress(`${url}: queries`)
        result["query"] = await query(url, data)
      }
      if (o.scenarios.has("fanout")) {
        progress(`${url}: fanout, ${o.rate} events/s for ${o.seconds} s`)
        result["fanout"] = { ...(await fanout(url, data, o.rate, o.seconds, o.publishTo)), ...(o.publishTo ? { publishedTo: o.publishTo } : {}) }
      }
      if (o.scenarios.has("connections")) {
        progress(`${url}: ${o.connections} connections`)
        result["connections"] = await connections(url, o.connections, o.idleSeconds, o.pid)
      }
    } catch (e) {
      if (sampler) clearInterval(sampler)
      io.err(`parrhesia bench: ${url}: ${e instanceof Error ? e.message : String(e)}\n`)
      return 3
    }
    if (sampler) clearInterval(sampler)
    const cpuAfter = o.pid === undefined ? undefined : sampleProcess(o.pid)
    if (cpuBefore && cpuAfter) {
      result["process"] = { pid: o.pid, cpuSeconds: Math.round((cpuAfter.cpuSeconds - cpuBefore.cpuSeconds) * 100) / 100, rssMaxMb: Math.round(Math.max(rssMaxKb, cpuAfter.rssKb) / 1024) }
    }
    io.out(JSON.stringify(result) + "\n")
    results.push(result)
  }
  if (results.length > 1) io.out(formatTable(results))
  return 0
}
