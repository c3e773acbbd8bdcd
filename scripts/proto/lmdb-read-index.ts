/**
 * PROTOTYPE — not product code; nothing in src/ imports it. Issue 17: measures the two routes for
 * fast REQs side by side, in-process (no sockets, no PostgreSQL):
 *   A. the hot window (src/storage/HotWindow.ts, `makeHotWindow`, as storage/withHotWindow.ts
 *      fills and asks it), at the default 32 MiB budget and at a budget that holds every event;
 *   B. a local read index in LMDB (npm `lmdb`, pinned: lmdb@3.5.6), as a writer fed by
 *      PostgreSQL's commits would keep it: a primary db id -> stored JSON text, and strfry-like
 *      index dbs whose binary keys sort newest first (created_at inverted, then the id):
 *      kind+created_at+id, pubkey+created_at+id, tag(letter,value)+created_at+id, created_at+id.
 *      Only what the four query shapes need is here: no deletions, replacements, expiry, bans,
 *      retention or catch-up after a restart (the costs a product version would add). Filled in
 *      batches of 500 events: lmdb-js's async puts (one event-loop turn's puts committed together
 *      on its write thread) against transactionSync (the commit and its fsync on the main thread);
 *      both are timed up to 100k, the faster (async, 2-4x) is kept and used at 1M (`--write`).
 *
 * Setup (once; `.bench/` is git-ignored, nothing is added to package.json):
 *   . scripts/node-env.sh && npm install --prefix .bench/proto-lmdb --no-audit --no-fund lmdb@3.5.6
 * Run:
 *   sh scripts/with-node.sh node scripts/proto/lmdb-read-index.ts [--sizes 20000,100000,1000000]
 *     [--write auto|sync|async] [--keep]
 * Datasets: `.bench/bench-events-20000.jsonl` (20k) and the first N of `.bench/bench-events-1000000.jsonl`
 * (100k, 1M), as `parrhesia bench` caches them (signed kind-1 events, 10 authors, `p` and `t` tags).
 *
 * Each figure comes from a child process of its own (`--child ...`, run with --expose-gc and an 8 GB
 * heap), so memory is that of one route: the dataset is loaded, the route filled, the dataset
 * dropped and collected, then RSS (anonymous and file-backed: LMDB's pages are the page cache's,
 * shared) and heap are read. Queries: the benchmark's four shapes (`{kinds:[1],limit:100}`,
 * `{authors:[pk],limit:50}`, `{"#p":[pk],limit:50}`, `{ids:[20 random]}`), 500 warm-up then 5,000
 * measured each, one per event-loop turn (as REQs from sockets come), timed from the parsed filter
 * (parseFilter and the relay's limit clamp) to the frames a relay sends (`["EVENT",sub,<json>]` per
 * event, then EOSE). The window's answers that its plan sends (partly) to PostgreSQL are counted;
 * their time is only the window's part. Restart: a fresh process opening the filled LMDB env until
 * the first REQ is answered, with the file in the page cache and after dropping it from the cache
 * (`dd iflag=nocache`, this file only); for the window, its fill at start (newest first until the
 * budget is full, parsing each stored text as withHotWindow's fill does), without PostgreSQL's
 * paging (README: 31,384 events in ~1.3 s from a 1M store, relay start 1.5 -> 2.8 s); timed up to
 * 20 s, as newest-first adds each go to the front of their lists (quadratic in the events held).
 * Both routes' answers are compared (the window holding all against the index: the same frames).
 * Writes `.bench/proto-lmdb-<date>.json` and prints a table.
 */
import { execFileSync, spawn } from "node:child_process"
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { loadavg, tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import {
  compareNewestFirst,
  encodeEose,
  eventFramePrefix,
  eventJson,
  isHex64,
  matchesFilter,
  parseFilter,
  type Filter,
  type NostrEvent
} from "../../src/nostr/index.ts"
import { makeHotWindow, type HotWindow } from "../../src/storage/HotWindow.ts"

const LMDB_VERSION = "3.5.6"
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..")
const BENCH = join(ROOT, ".bench")
const WARMUP = 500
const MEASURED = 5000
const TXN_EVENTS = 500
/** The window's fill at start is timed up to this (it is quadratic in the events held, see childWindow). */
const START_FILL_MS = 20_000
const MiB = 1024 * 1024
/** The relay's defaults (config: maxFilterValues, defaultLimit, maxLimit). */
const LIMITS = { maxFilterValues: 1000, allowSearch: false }
const DEFAULT_LIMIT = 500
const MAX_LIMIT = 5000
const SUB = "q"
const PREFIX = eventFramePrefix(SUB)
const EOSE = encodeEose(SUB)

// ---------------------------------------------------------------- lmdb, from the ignored folder

/** The little of lmdb-js used here. */
interface LmdbDb {
  put(key: Uint8Array, value: string | Uint8Array): Promise<boolean>
  putSync(key: Uint8Array, value: string | Uint8Array): boolean
  get(key: Uint8Array): string | Uint8Array | undefined
  getKeys(options: { start: Uint8Array; end: Uint8Array; limit?: number }): Iterable<Buffer>
  committed: Promise<unknown>
  flushed: Promise<unknown>
}
interface LmdbEnv extends LmdbDb {
  openDB(name: string, options: Record<string, unknown>): LmdbDb
  transactionSync<T>(f: () => T): T
  close(): Promise<void>
  getStats(): Record<string, unknown>
}
interface LmdbModule {
  open(options: Record<string, unknown>): LmdbEnv
}
const loadLmdb = (): LmdbModule => {
  const folder = join(BENCH, "proto-lmdb")
  if (!existsSync(join(folder, "node_modules", "lmdb"))) {
    throw new Error(`lmdb is not installed: . scripts/node-env.sh && npm install --prefix .bench/proto-lmdb --no-audit --no-fund lmdb@${LMDB_VERSION}`)
  }
  const require = createRequire(join(folder, "package.json"))
  const version = (JSON.parse(readFileSync(join(folder, "node_modules", "lmdb", "package.json"), "utf8")) as { version: string }).version
  if (version !== LMDB_VERSION) console.error(`warning: .bench/proto-lmdb has lmdb ${version}, this prototype pins ${LMDB_VERSION}`)
  return require("lmdb") as LmdbModule
}

// ---------------------------------------------------------------- small helpers

const args = new Map<string, string>()
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i]!
  if (!a.startsWith("--")) continue
  const next = process.argv[i + 1]
  if (next === undefined || next.startsWith("--")) args.set(a.slice(2), "")
  else (args.set(a.slice(2), next), i++)
}

const log = (s: string) => process.stderr.write(`${s}\n`)
const gc = () => {
  const g = (globalThis as { gc?: () => void }).gc
  if (g !== undefined) for (let i = 0; i < 3; i++) g()
}
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d

interface Memory {
  readonly rssMB: number
  readonly rssAnonMB: number
  readonly rssFileMB: number
  readonly heapUsedMB: number
  readonly externalMB: number
}
const memory = (): Memory => {
  gc()
  const status = readFileSync("/proc/self/status", "utf8")
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0)
  const m = process.memoryUsage()
  return {
    rssMB: round(kb("VmRSS") / 1024),
    rssAnonMB: round(kb("RssAnon") / 1024),
    rssFileMB: round((kb("RssFile") + kb("RssShmem")) / 1024),
    heapUsedMB: round(m.heapUsed / MiB),
    externalMB: round((m.external + m.arrayBuffers) / MiB)
  }
}

/** mulberry32: the same queries in every child. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const pct = (sorted: Float64Array, p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

// ---------------------------------------------------------------- the dataset

interface Dataset {
  readonly events: Array<NostrEvent>
  readonly jsons: Array<string>
}

const datasetFile = (n: number) => (n <= 20_000 ? join(BENCH, "bench-events-20000.jsonl") : join(BENCH, "bench-events-1000000.jsonl"))

/** The first n events of the cached dataset, each with its stored text (eventJson's layout, as the stores keep it). */
const loadDataset = async (n: number): Promise<Dataset> => {
  const file = datasetFile(n)
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run bench -- --events ${n <= 20_000 ? 20000 : 1000000}\` once to sign and cache it`)
  const input = createReadStream(file)
  const lines = createInterface({ input, crlfDelay: Infinity })
  const events: Array<NostrEvent> = []
  const jsons: Array<string> = []
  let first = true
  for await (const line of lines) {
    if (line === "") continue
    if (first) {
      first = false
      if (line.startsWith('{"keys"')) continue
    }
    const e = JSON.parse(line) as NostrEvent
    events.push(e)
    jsons.push(eventJson(e))
    if (events.length === n) break
  }
  lines.close()
  input.destroy()
  if (events.length < n) throw new Error(`${file} holds ${events.length} events, fewer than ${n}`)
  return { events, jsons }
}

// ---------------------------------------------------------------- the queries

type Shape = "kinds" | "author" | "p" | "ids"
const SHAPES: ReadonlyArray<Shape> = ["kinds", "author", "p", "ids"]
const SHAPE_NAMES: Record<Shape, string> = {
  kinds: "{kinds:[1],limit:100}",
  author: "{authors:[pk],limit:50}",
  p: '{"#p":[pk],limit:50}',
  ids: "{ids:[20 random]}"
}
type Queries = Record<Shape, ReadonlyArray<Record<string, unknown>>>

const makeQueries = (data: Dataset): Queries => {
  const rand = prng(17)
  const authors = [...new Set(data.events.map((e) => e.pubkey))].sort()
  const ps = [...new Set(data.events.flatMap((e) => e.tags.filter((t) => t[0] === "p" && t.length > 1).map((t) => t[1]!)))].sort()
  const pick = <A>(xs: ReadonlyArray<A>) => xs[Math.floor(rand() * xs.length)]!
  const total = WARMUP + MEASURED
  const queries: Queries = {
    kinds: Array.from({ length: total }, () => ({ kinds: [1], limit: 100 })),
    author: Array.from({ length: total }, () => ({ authors: [pick(authors)], limit: 50 })),
    p: Array.from({ length: total }, () => ({ "#p": [pick(ps)], limit: 50 })),
    ids: Array.from({ length: total }, () => ({ ids: Array.from({ length: 20 }, () => pick(data.events).id) }))
  }
  // Strings of their own (as a REQ's are): the query set holds none of the dataset's, so a route's memory is its own.
  return JSON.parse(JSON.stringify(queries)) as Queries
}

/** What Query.prepare does before the store: parse, then clamp the limit. */
const prepare = (raw: unknown): Filter => {
  const p = parseFilter(raw, LIMITS)
  if ("error" in p) throw new Error(p.error)
  return { ...p.filter, limit: Math.min(p.filter.limit ?? DEFAULT_LIMIT, MAX_LIMIT) }
}

interface ShapeResult {
  readonly p50Us: number
  readonly p95Us: number
  readonly p99Us: number
  /** Measured answers per second of answering time (one core, no gaps). */
  readonly qps: number
  /** Events framed per answer (mean). */
  readonly events: number
  /** The window's plans: all from it, window and PostgreSQL, PostgreSQL only. */
  readonly plans?: { hit: number; partial: number; miss: number }
}

/** One shape: warm-up then measured, one answer per event-loop turn. */
const measure = async (queries: ReadonlyArray<Record<string, unknown>>, answer: (f: Filter) => Array<string>, plans?: { hit: number; partial: number; miss: number }): Promise<ShapeResult> => {
  const times = new Float64Array(MEASURED)
  let events = 0
  let sink = 0
  for (let i = 0; i < queries.length; i++) {
    if (i === WARMUP && plans !== undefined) plans.hit = plans.partial = plans.miss = 0
    await new Promise((r) => setImmediate(r))
    const t0 = performance.now()
    const frames = answer(prepare(queries[i]))
    const t = performance.now() - t0
    sink += frames.length
    if (i >= WARMUP) {
      times[i - WARMUP] = t
      events += frames.length - 1
    }
  }
  if (sink < 0) log("")
  const total = times.reduce((a, b) => a + b, 0)
  times.sort()
  return {
    p50Us: round(pct(times, 50) * 1000),
    p95Us: round(pct(times, 95) * 1000),
    p99Us: round(pct(times, 99) * 1000),
    qps: Math.round(MEASURED / (total / 1000)),
    events: round(events / MEASURED),
    ...(plans !== undefined ? { plans: { ...plans } } : {})
  }
}

const measureAll = async (queries: Queries, answer: (f: Filter) => Array<string>, plans?: () => { hit: number; partial: number; miss: number }) => {
  const out: Partial<Record<Shape, ShapeResult>> = {}
  for (const s of SHAPES) {
    out[s] = await measure(queries[s], answer, plans?.())
    log(`  ${s}: p50 ${out[s]!.p50Us} µs, p95 ${out[s]!.p95Us} µs, ${out[s]!.qps}/s${out[s]!.plans ? ` ${JSON.stringify(out[s]!.plans)}` : ""}`)
  }
  return out as Record<Shape, ShapeResult>
}

// ---------------------------------------------------------------- route A: the hot window

const windowAnswerer = (w: HotWindow, current: { plans: { hit: number; partial: number; miss: number } }) => (f: Filter): Array<string> => {
  const plan = w.plan([f], Math.floor(Date.now() / 1000))
  current.plans[plan.result]++
  const frames: Array<string> = []
  for (const e of plan.local) frames.push(PREFIX + e.json + "]")
  frames.push(EOSE)
  return frames
}

const childWindow = async (n: number, maxBytes: number) => {
  const load0 = performance.now()
  const data = await loadDataset(n)
  log(`window ${maxBytes === Infinity ? "all" : `${maxBytes / MiB} MiB`}, ${n}: loaded in ${Math.round(performance.now() - load0)} ms`)
  const queries = makeQueries(data)
  const budget = maxBytes === Infinity ? 2 ** 40 : maxBytes

  // The fill at start (withHotWindow's fillOnce without the store): newest first, each stored text parsed, until the budget is full.
  // Each add of an older event goes to the front of its lists (a splice): quadratic in the events held, so this stops after
  // START_FILL_MS (a window holding all of 1M would not finish).
  let startWindow: HotWindow | undefined = makeHotWindow({ maxBytes: budget })
  const s0 = performance.now()
  let startFilled = 0
  let stopped = false
  for (let i = data.events.length - 1; i >= 0; i--) {
    const json = data.jsons[i]!
    if (!startWindow.accepts(data.events[i]!.created_at)) break
    startWindow.add(JSON.parse(json) as NostrEvent, json, "fill")
    if (++startFilled % 1000 === 0 && performance.now() - s0 > START_FILL_MS) {
      stopped = true
      break
    }
  }
  startWindow.open(-Infinity)
  const startMs = performance.now() - s0
  if (stopped) log(`  start-up fill stopped after ${Math.round(startMs)} ms at ${startFilled} events`)
  startWindow = undefined
  gc()

  // In a function of its own, so that the window is garbage once it returns (its heap is the difference).
  const run = async () => {
    // The fill from commits, oldest first (each commit's add, and eviction once over budget).
    const w = makeHotWindow({ maxBytes: budget })
    w.open(-Infinity)
    const f0 = performance.now()
    for (let i = 0; i < data.events.length; i++) w.add(data.events[i]!, data.jsons[i]!, "local")
    const fillMs = performance.now() - f0
    const stats = w.stats()
    data.events.length = 0
    data.jsons.length = 0
    const mem = memory()
    log(`  filled ${stats.events} (${round(stats.bytes / MiB)} MiB estimated) in ${Math.round(fillMs)} ms; start-up fill ${startFilled} in ${Math.round(startMs)} ms; RSS ${mem.rssMB} MB, heap ${mem.heapUsedMB} MB`)
    const current = { plans: { hit: 0, partial: 0, miss: 0 } }
    const shapes = await measureAll(queries, windowAnswerer(w, current), () => (current.plans = { hit: 0, partial: 0, miss: 0 }))
    return { stats, fillMs, mem, shapes, memAfter: memory() }
  }
  const { stats, fillMs, mem, shapes, memAfter } = await run()
  const memWithout = memory()
  const windowHeapMB = round(memAfter.heapUsedMB - memWithout.heapUsedMB)
  log(`  the window's heap: ${windowHeapMB} MB (estimate ${round(stats.bytes / MiB)} MiB)`)
  return {
    route: "window",
    n,
    budgetBytes: maxBytes === Infinity ? "all" : maxBytes,
    held: stats.events,
    estimatedBytes: stats.bytes,
    floor: stats.floor,
    fillUsPerEvent: round((fillMs * 1000) / n, 2),
    fillMs: Math.round(fillMs),
    startFill: { events: startFilled, ms: Math.round(startMs), usPerEvent: round((startMs * 1000) / Math.max(1, startFilled), 2), stoppedAtTimeLimit: stopped },
    memoryAfterFill: mem,
    shapes,
    memoryAfterQueries: memAfter,
    memoryWithoutWindow: memWithout,
    windowHeapMB,
    load: loadavg().map((x) => round(x, 2))
  }
}

/** The window holding everything and the index must answer alike (the same frames, in the same order). */
const childCheck = async (n: number, envPath: string) => {
  const data = await loadDataset(n)
  const queries = makeQueries(data)
  const w = makeHotWindow({ maxBytes: 2 ** 40 })
  w.open(-Infinity)
  for (let i = 0; i < data.events.length; i++) w.add(data.events[i]!, data.jsons[i]!, "local")
  const ix = openIndex(loadLmdb(), envPath)
  const fromWindow = windowAnswerer(w, { plans: { hit: 0, partial: 0, miss: 0 } })
  const fromIndex = indexAnswerer(ix)
  let compared = 0
  let events = 0
  for (const s of SHAPES) {
    for (const q of queries[s].slice(0, 250)) {
      const a = fromWindow(prepare(q))
      const b = fromIndex(prepare(q))
      if (a.length !== b.length || a.some((x, i) => x !== b[i])) throw new Error(`the window and the index differ on ${JSON.stringify(q)}: ${a.length} against ${b.length} frames`)
      compared++
      events += a.length - 1
    }
  }
  await ix.env.close()
  log(`check, ${n}: ${compared} answers (${events} events) alike from the window holding all and from the LMDB index`)
  return { route: "check", n, compared, events }
}

// ---------------------------------------------------------------- route B: the LMDB read index

const ID_BYTES = 32
const TS_BYTES = 8
const MAX_TS = 2 ** 53 - 1

/** created_at inverted (big-endian, 8 bytes): newer sorts first. */
const writeTs = (b: Buffer, at: number, ts: number) => {
  b.writeUInt32BE(0xffffffff - Math.floor(ts / 4294967296), at)
  b.writeUInt32BE(0xffffffff - (ts >>> 0), at + 4)
}
const idBytes = (hex: string) => Buffer.from(hex, "hex")
const kindPrefix = (kind: number) => {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(kind, 0)
  return b
}
/** A tag's key prefix: letter, then 1 + 32 bytes for a 64-hex value, or 0 + its length (2 bytes) + its UTF-8. */
const tagPrefix = (letter: string, value: string): Buffer | undefined => {
  if (isHex64(value)) return Buffer.concat([Buffer.from(letter, "latin1"), Buffer.from([1]), Buffer.from(value, "hex")])
  const v = Buffer.from(value, "utf8")
  // PostgreSQL indexes a value up to 2,000 bytes; LMDB's keys stop at 1,978 bytes: longer values are the store's (as for the window).
  if (v.length > 1900) return undefined
  const head = Buffer.allocUnsafe(4)
  head.write(letter, 0, "latin1")
  head[1] = 0
  head.writeUInt16BE(v.length, 2)
  return Buffer.concat([head, v])
}
const indexKey = (prefix: Buffer, ts: number, id: Buffer) => {
  const b = Buffer.allocUnsafe(prefix.length + TS_BYTES + ID_BYTES)
  prefix.copy(b, 0)
  writeTs(b, prefix.length, ts)
  id.copy(b, prefix.length + TS_BYTES)
  return b
}
const EMPTY_PREFIX = Buffer.alloc(0)
const EMPTY_VALUE = Buffer.alloc(0)
const FF = Buffer.alloc(ID_BYTES + 1, 0xff)

interface Index {
  readonly env: LmdbEnv
  readonly events: LmdbDb
  readonly byKind: LmdbDb
  readonly byAuthor: LmdbDb
  readonly byTag: LmdbDb
  readonly byTime: LmdbDb
}

const openIndex = (lmdb: LmdbModule, path: string): Index => {
  const env = lmdb.open({ path, maxDbs: 8, mapSize: 16 * 1024 * MiB })
  const binary = { keyEncoding: "binary", encoding: "binary" }
  return {
    env,
    events: env.openDB("events", { keyEncoding: "binary", encoding: "string" }),
    byKind: env.openDB("kind", binary),
    byAuthor: env.openDB("pubkey", binary),
    byTag: env.openDB("tag", binary),
    byTime: env.openDB("created_at", binary)
  }
}

/** The puts for one event (a writer applying a commit): its text, then one key per index. */
const putEvent = (ix: Index, e: NostrEvent, json: string, put: (db: LmdbDb, k: Buffer, v: string | Buffer) => unknown) => {
  const id = idBytes(e.id)
  put(ix.events, id, json)
  put(ix.byKind, indexKey(kindPrefix(e.kind), e.created_at, id), EMPTY_VALUE)
  put(ix.byAuthor, indexKey(idBytes(e.pubkey), e.created_at, id), EMPTY_VALUE)
  put(ix.byTime, indexKey(EMPTY_PREFIX, e.created_at, id), EMPTY_VALUE)
  let seen: Set<string> | undefined
  for (const t of e.tags) {
    if (t.length < 2 || t[0]!.length !== 1) continue
    const p = tagPrefix(t[0]!, t[1]!)
    if (p === undefined) continue
    const k = p.toString("latin1")
    if (seen?.has(k)) continue
    ;(seen ??= new Set()).add(k)
    put(ix.byTag, indexKey(p, e.created_at, id), EMPTY_VALUE)
  }
}

type WriteMode = "sync" | "async"

/** Fills a fresh env in batches of TXN_EVENTS: one transactionSync each, or async puts of one event-loop turn each. */
const fillIndex = async (ix: Index, data: Dataset, mode: WriteMode) => {
  let mainMs = 0
  const t0 = performance.now()
  if (mode === "sync") {
    const put = (db: LmdbDb, k: Buffer, v: string | Buffer) => db.putSync(k, v)
    for (let i = 0; i < data.events.length; i += TXN_EVENTS) {
      const end = Math.min(data.events.length, i + TXN_EVENTS)
      ix.env.transactionSync(() => {
        for (let j = i; j < end; j++) putEvent(ix, data.events[j]!, data.jsons[j]!, put)
      })
    }
    mainMs = performance.now() - t0
  } else {
    let last: Promise<unknown> = Promise.resolve()
    const put = (db: LmdbDb, k: Buffer, v: string | Buffer) => (last = db.put(k, v))
    for (let i = 0; i < data.events.length; i += TXN_EVENTS) {
      const end = Math.min(data.events.length, i + TXN_EVENTS)
      const m0 = performance.now()
      for (let j = i; j < end; j++) putEvent(ix, data.events[j]!, data.jsons[j]!, put)
      mainMs += performance.now() - m0
      // The next batch in the next turn (lmdb-js commits one turn's puts together, on its write thread).
      await new Promise((r) => setImmediate(r))
    }
    await last
  }
  await ix.env.flushed
  const wallMs = performance.now() - t0
  return { mode, wallMs: Math.round(wallMs), usPerEvent: round((wallMs * 1000) / data.events.length, 2), mainThreadUsPerEvent: round((mainMs * 1000) / data.events.length, 2) }
}

interface Hit {
  readonly sort: Buffer
  readonly id: Buffer
  json: string | undefined
}

/** A filter's answer from the index: stored texts, newest first (ties by lowest id), at most its limit. */
const queryIndex = (ix: Index, f: Filter): Array<string> => {
  const limit = f.limit ?? DEFAULT_LIMIT
  if (limit <= 0) return []
  const textOf = (id: Buffer) => ix.events.get(id) as string | undefined
  if (f.ids !== undefined) {
    const found: Array<{ id: string; created_at: number; json: string; e?: NostrEvent }> = []
    for (const hex of f.ids.length === 1 ? f.ids : new Set(f.ids)) {
      const json = textOf(idBytes(hex))
      if (json === undefined) continue
      const single = f.authors === undefined && f.kinds === undefined && f.tags === undefined && f.since === undefined && f.until === undefined
      if (!single && !matchesFilter(f, JSON.parse(json) as NostrEvent)) continue
      // eventJson's layout: created_at follows the id and the pubkey.
      const at = json.indexOf('"created_at":') + 13
      found.push({ id: hex, created_at: Number(json.slice(at, json.indexOf(",", at))), json })
    }
    found.sort(compareNewestFirst)
    return found.slice(0, limit).map((x) => x.json)
  }
  // One index: a tag condition, else the authors, else the kinds, else created_at; the rest checked on the parsed event.
  let db: LmdbDb
  let prefixes: Array<Buffer>
  const firstTag = f.tags === undefined ? undefined : Object.keys(f.tags)[0]
  if (firstTag !== undefined) {
    db = ix.byTag
    prefixes = [...new Set(f.tags![firstTag]!)].map((v) => tagPrefix(firstTag, v)).filter((p): p is Buffer => p !== undefined)
  } else if (f.authors !== undefined) {
    db = ix.byAuthor
    prefixes = [...new Set(f.authors)].map(idBytes)
  } else if (f.kinds !== undefined) {
    db = ix.byKind
    prefixes = [...new Set(f.kinds)].map(kindPrefix)
  } else {
    db = ix.byTime
    prefixes = [EMPTY_PREFIX]
  }
  const conditions = (f.tags === undefined ? 0 : Object.keys(f.tags).length) + (f.authors ? 1 : 0) + (f.kinds ? 1 : 0)
  const residual = conditions > 1 || f.excludeKinds !== undefined || f.alsoTagged !== undefined || f.excludeTagged !== undefined
  const hits: Array<Hit> = []
  for (const prefix of prefixes) {
    const start = Buffer.allocUnsafe(prefix.length + TS_BYTES)
    prefix.copy(start, 0)
    writeTs(start, prefix.length, Math.min(f.until ?? MAX_TS, MAX_TS))
    const end = Buffer.allocUnsafe(prefix.length + TS_BYTES + FF.length)
    prefix.copy(end, 0)
    writeTs(end, prefix.length, f.since ?? 0)
    FF.copy(end, prefix.length + TS_BYTES)
    let got = 0
    for (const key of db.getKeys(residual ? { start, end } : { start, end, limit })) {
      const id = key.subarray(key.length - ID_BYTES)
      let json: string | undefined
      if (residual) {
        json = textOf(id)
        if (json === undefined || !matchesFilter(f, JSON.parse(json) as NostrEvent)) continue
      }
      hits.push({ sort: key.subarray(prefix.length), id, json })
      if (++got >= limit) break
    }
  }
  let out = hits
  if (prefixes.length > 1) {
    hits.sort((a, b) => Buffer.compare(a.sort, b.sort))
    out = []
    for (const h of hits) if (out.length === 0 || !out[out.length - 1]!.id.equals(h.id)) out.push(h)
    if (out.length > limit) out.length = limit
  }
  const texts: Array<string> = []
  for (const h of out) {
    const json = h.json ?? textOf(h.id)
    if (json !== undefined) texts.push(json)
  }
  return texts
}

const indexAnswerer = (ix: Index) => (f: Filter): Array<string> => {
  const frames: Array<string> = []
  for (const json of queryIndex(ix, f)) frames.push(PREFIX + json + "]")
  frames.push(EOSE)
  return frames
}

const diskUsage = (path: string) => {
  const s = statSync(join(path, "data.mdb"))
  return { fileMB: round(s.size / MiB), allocatedMB: round((s.blocks * 512) / MiB) }
}

const childLmdb = async (n: number, dir: string, modes: ReadonlyArray<WriteMode>) => {
  const load0 = performance.now()
  const data = await loadDataset(n)
  log(`lmdb ${modes.join("+")}, ${n}: loaded in ${Math.round(performance.now() - load0)} ms`)
  const queries = makeQueries(data)
  writeFileSync(join(dir, "queries.json"), JSON.stringify(queries))
  const lmdb = loadLmdb()
  const fills: Array<Awaited<ReturnType<typeof fillIndex>>> = []
  let best: { mode: WriteMode; ix: Index; path: string; usPerEvent: number } | undefined
  for (const mode of modes) {
    const path = join(dir, `env-${mode}`)
    mkdirSync(path, { recursive: true })
    const ix = openIndex(lmdb, path)
    const fill = await fillIndex(ix, data, mode)
    fills.push(fill)
    log(`  fill (${mode}): ${fill.usPerEvent} µs/event wall, ${fill.mainThreadUsPerEvent} µs/event on the main thread`)
    if (best === undefined || fill.usPerEvent < best.usPerEvent) {
      if (best !== undefined) (await best.ix.env.close(), rmSync(best.path, { recursive: true, force: true }))
      best = { mode, ix, path, usPerEvent: fill.usPerEvent }
    } else {
      await ix.env.close()
      rmSync(path, { recursive: true, force: true })
    }
  }
  const { ix, path, mode } = best!
  const disk = diskUsage(path)
  const stats = ix.env.getStats()
  data.events.length = 0
  data.jsons.length = 0
  const mem = memory()
  log(`  kept the ${mode} env: ${disk.fileMB} MB on disk; RSS ${mem.rssMB} MB (anon ${mem.rssAnonMB}, file ${mem.rssFileMB}), heap ${mem.heapUsedMB} MB`)
  const shapes = await measureAll(queries, indexAnswerer(ix))
  const memAfter = memory()
  await ix.env.close()
  return {
    route: "lmdb",
    n,
    fills,
    chosenWrite: mode,
    envPath: path,
    fillUsPerEvent: best!.usPerEvent,
    disk,
    stats: { pageSize: stats["pageSize"], treeDepth: stats["treeDepth"], entryCount: stats["entryCount"], lastPageNumber: stats["lastPageNumber"] },
    memoryAfterFill: mem,
    shapes,
    memoryAfterQueries: memAfter,
    load: loadavg().map((x) => round(x, 2))
  }
}

/** A restart: a fresh process opens the filled env; until the first REQ is answered, then every shape measured. */
const childReopen = async (path: string, queriesFile: string, cache: string) => {
  const t0 = performance.now()
  const lmdb = loadLmdb()
  const t1 = performance.now()
  const ix = openIndex(lmdb, path)
  const t2 = performance.now()
  const first = indexAnswerer(ix)(prepare({ kinds: [1], limit: 100 }))
  const t3 = performance.now()
  const queries = JSON.parse(readFileSync(queriesFile, "utf8")) as Queries
  // The first answer of each other shape in this process (cold code, maybe cold pages).
  const firsts: Partial<Record<Shape, number>> = {}
  for (const s of SHAPES) {
    const q0 = performance.now()
    indexAnswerer(ix)(prepare(queries[s][0]))
    firsts[s] = round((performance.now() - q0) * 1000)
  }
  const memFirst = memory()
  log(`reopen (${cache} cache): require ${round(t1 - t0, 2)} ms, open ${round(t2 - t1, 2)} ms, first REQ ${round(t3 - t2, 2)} ms (${first.length - 1} events); RSS ${memFirst.rssMB} MB`)
  const shapes = await measureAll(queries, indexAnswerer(ix))
  const memAfter = memory()
  await ix.env.close()
  return {
    route: "lmdb-reopen",
    cache,
    requireMs: round(t1 - t0, 2),
    openMs: round(t2 - t1, 2),
    firstReqMs: round(t3 - t2, 2),
    untilFirstAnswerMs: round(t3 - t0, 2),
    firstOfEachShapeUs: firsts,
    memoryAfterFirst: memFirst,
    shapes,
    memoryAfterQueries: memAfter,
    load: loadavg().map((x) => round(x, 2))
  }
}

/** The same process with only the query set: what the routes' memory figures compare to. */
const childBaseline = async (queriesFile: string) => {
  const queries = JSON.parse(readFileSync(queriesFile, "utf8")) as Queries
  const mem = memory()
  return { route: "baseline", queries: SHAPES.reduce((a, s) => a + queries[s].length, 0), memory: mem }
}

// ---------------------------------------------------------------- the parent

const self = fileURLToPath(import.meta.url)

/** Runs this file as a child; its last stdout line is its result. */
const child = (childArgs: ReadonlyArray<string>): Promise<Record<string, unknown>> =>
  new Promise((resolvePromise, reject) => {
    const p = spawn(process.execPath, ["--expose-gc", "--max-old-space-size=8192", self, ...childArgs], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    p.stdout.on("data", (d: Buffer) => (out += d.toString()))
    p.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`child ${childArgs.join(" ")} exited with ${code}`))
      const line = out.trim().split("\n").pop() ?? ""
      try {
        resolvePromise(JSON.parse(line) as Record<string, unknown>)
      } catch {
        reject(new Error(`child ${childArgs.join(" ")} printed no result`))
      }
    })
  })

/** Drops the env's file from the page cache (this file only: other work on the machine keeps its cache). */
const dropFromCache = (path: string) => {
  const file = join(path, "data.mdb")
  execFileSync("sync", [file])
  execFileSync("dd", [`if=${file}`, "iflag=nocache", "count=0", "status=none"])
  try {
    return execFileSync("fincore", ["--bytes", "--noheadings", "--output", "RES", file], { encoding: "utf8" }).trim()
  } catch {
    return "unknown"
  }
}

const uptime = () => {
  try {
    return execFileSync("uptime", { encoding: "utf8" }).trim()
  } catch {
    return loadavg().join(" ")
  }
}

type Row = Record<string, unknown>
const shapeCell = (r: Row | undefined, s: Shape) => {
  const x = (r?.["shapes"] as Record<Shape, ShapeResult> | undefined)?.[s]
  if (x === undefined) return "–"
  const plans = x.plans === undefined ? "" : x.plans.hit === MEASURED ? "" : ` (${Math.round((100 * x.plans.hit) / MEASURED)}% whole)`
  return `${x.p50Us} / ${x.p95Us}${plans}`
}

const printTable = (results: ReadonlyArray<{ n: number; rows: Record<string, Row | undefined> }>) => {
  const header = ["N", "route", "fill µs/ev", "kinds p50/p95 µs", "author p50/p95", "#p p50/p95", "20 ids p50/p95", "memory", "restart until 1st answer"]
  const lines: Array<Array<string>> = [header]
  for (const { n, rows } of results) {
    const base = rows["baseline"]?.["memory"] as Memory | undefined
    for (const name of ["window 32 MiB", "window all", "lmdb", "reopen-warm"]) {
      const r = rows[name]
      if (r === undefined) continue
      const mem = r["memoryAfterQueries"] as Memory
      let memoryCell: string
      let restart = "–"
      if (r["route"] === "window") {
        const s = r["startFill"] as { events: number; ms: number; stoppedAtTimeLimit: boolean }
        restart = s.stoppedAtTimeLimit ? `> ${s.ms} ms fill (stopped at ${s.events} of ${r["held"]} ev)` : `${s.ms} ms fill (${s.events} ev) + PostgreSQL`
        memoryCell = `heap +${r["windowHeapMB"]} MB; RSS ${mem.rssMB}`
      } else if (r["route"] === "lmdb") {
        const disk = r["disk"] as { fileMB: number }
        const cold = rows["reopen-cold"]
        restart = `${rows["reopen-warm"]?.["untilFirstAnswerMs"] ?? "?"} ms warm, ${cold?.["untilFirstAnswerMs"] ?? "?"} ms cold`
        memoryCell = `disk ${disk.fileMB} MB; RSS ${mem.rssMB} (with dataset garbage)`
      } else {
        memoryCell = `RSS ${mem.rssMB} (anon ${mem.rssAnonMB}, file ${mem.rssFileMB}), ext ${mem.externalMB}`
      }
      lines.push([
        String(n),
        name === "reopen-warm" ? "lmdb reopened" : name,
        String(r["fillUsPerEvent"] ?? ""),
        shapeCell(r, "kinds"),
        shapeCell(r, "author"),
        shapeCell(r, "p"),
        shapeCell(r, "ids"),
        memoryCell,
        restart
      ])
    }
    if (base !== undefined) lines.push([String(n), "baseline", "", "", "", "", "", `RSS ${base.rssMB} (anon ${base.rssAnonMB}, file ${base.rssFileMB}), heap ${base.heapUsedMB}`, "(the query set only)"])
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)))
  for (const l of lines) console.log(l.map((c, i) => c.padEnd(widths[i]!)).join("  "))
}

const parent = async () => {
  const sizes = (args.get("sizes") ?? "20000,100000,1000000").split(",").map(Number)
  const forced = args.get("write")
  const keep = args.has("keep")
  loadLmdb()
  const dir = mkdtempSync(join(tmpdir(), "parrhesia-proto-lmdb-"))
  const started = new Date()
  const reportName = `proto-lmdb-${started.toISOString().slice(0, 16).replace(":", "-")}.json`
  const reportFile = join(BENCH, reportName)
  const report: Record<string, unknown> = {
    prototype: "scripts/proto/lmdb-read-index.ts",
    lmdb: LMDB_VERSION,
    node: process.version,
    commit: execFileSync("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim(),
    started: started.toISOString(),
    uptimeBefore: uptime(),
    warmup: WARMUP,
    measured: MEASURED,
    txnEvents: TXN_EVENTS
  }
  log(`uptime: ${report["uptimeBefore"]}; temp dir ${dir}`)
  const results: Array<{ n: number; rows: Record<string, Row | undefined> }> = []
  let chosen: WriteMode | undefined = forced === "sync" || forced === "async" ? forced : undefined
  try {
    for (const n of sizes) {
      const rows: Record<string, Row | undefined> = {}
      results.push({ n, rows })
      report["results"] = results
      const run = async (name: string, childArgs: ReadonlyArray<string>) => {
        rows[name] = await child(childArgs)
        report["uptimeAfter"] = uptime()
        writeFileSync(reportFile, JSON.stringify(report, null, 2) + "\n")
        return rows[name]!
      }
      const at = join(dir, String(n))
      mkdirSync(at, { recursive: true })
      // Both write modes where cheap; at 1M the faster one of the last size (or --write).
      const modes: Array<WriteMode> = chosen !== undefined && (forced !== undefined || n > 100_000) ? [chosen] : ["sync", "async"]
      const lmdbRow = await run("lmdb", ["--child", "lmdb", "--n", String(n), "--dir", at, "--modes", modes.join(",")])
      chosen = forced === "sync" || forced === "async" ? forced : (lmdbRow["chosenWrite"] as WriteMode)
      const envPath = lmdbRow["envPath"] as string
      const queriesFile = join(at, "queries.json")
      await run("reopen-warm", ["--child", "reopen", "--env", envPath, "--queries", queriesFile, "--cache", "warm"])
      const resident = dropFromCache(envPath)
      log(`  data.mdb dropped from the page cache (resident after: ${resident})`)
      await run("reopen-cold", ["--child", "reopen", "--env", envPath, "--queries", queriesFile, "--cache", "cold"])
      await run("baseline", ["--child", "baseline", "--queries", queriesFile])
      await run("window 32 MiB", ["--child", "window", "--n", String(n), "--bytes", String(32 * MiB)])
      await run("window all", ["--child", "window", "--n", String(n), "--bytes", "all"])
      await run("check", ["--child", "check", "--n", String(n), "--env", envPath])
      if (!keep) rmSync(at, { recursive: true, force: true })
    }
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true })
  }
  log(`uptime: ${report["uptimeAfter"]}`)
  printTable(results)
  console.log(`\nwrote .bench/${reportName}`)
}

const main = async () => {
  const which = args.get("child")
  if (which === undefined) return parent()
  let result: unknown
  if (which === "window") {
    const bytes = args.get("bytes")!
    result = await childWindow(Number(args.get("n")), bytes === "all" ? Infinity : Number(bytes))
  } else if (which === "check") {
    result = await childCheck(Number(args.get("n")), args.get("env")!)
  } else if (which === "lmdb") {
    result = await childLmdb(Number(args.get("n")), args.get("dir")!, args.get("modes")!.split(",") as Array<WriteMode>)
  } else if (which === "reopen") {
    result = await childReopen(args.get("env")!, args.get("queries")!, args.get("cache")!)
  } else if (which === "baseline") {
    result = await childBaseline(args.get("queries")!)
  } else throw new Error(`unknown child ${which}`)
  process.stdout.write(JSON.stringify(result) + "\n")
}

await main()
