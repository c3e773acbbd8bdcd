/**
 * `parrhesia import` throughput into a fresh embedded store: N pre-signed
 * events as JSON lines (a mix like a real relay's: notes, reactions, reposts,
 * profiles and contact lists with several versions, long-form articles),
 * imported by the real command in its own process. Prints events/s (the
 * command's own timing, start-up excluded) and where the CPU went: the
 * importer's threads by name (main thread, signature workers, GC, libuv) and
 * PostgreSQL's processes, from /proc, sampled every 200 ms.
 *
 *   node scripts/bench-import.ts [--events 100000] [--cache .bench] [--runs 1] [--again] [-- <import flags, e.g. --no-verify>]
 *
 * --again imports the same file a second time into the same store: what an interrupted import
 * run again goes through (every event already stored). --relay runs `parrhesia serve` on the data
 * folder first, so the import goes into a running relay's embedded PostgreSQL (what it stores is
 * then announced on the cluster bus, with each commit), and prints the relay's CPU too.
 *
 * The dataset is signed once (natively when bcrypto's addon loads) and kept
 * as .bench/import-events-N.jsonl; each run gets a new data folder whose
 * embedded PostgreSQL is initialised before the clock starts.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs"
import { availableParallelism, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { schnorr } from "@noble/curves/secp256k1.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { nativeSigner } from "../src/client/benchKit.ts"
import { signEvent, type NostrEvent } from "../src/nostr/index.ts"

const argv = process.argv.slice(2)
const dash = argv.indexOf("--")
const own = dash < 0 ? argv : argv.slice(0, dash)
const importFlags = dash < 0 ? [] : argv.slice(dash + 1)
const opt = (name: string, dflt: string) => {
  const i = own.indexOf(`--${name}`)
  return i >= 0 && own[i + 1] !== undefined ? own[i + 1]! : dflt
}
const N = Number(opt("events", "100000"))
const cache = opt("cache", process.env["PARRHESIA_BENCH_CACHE"] || ".bench")
const runs = Number(opt("runs", "1"))
const again = own.includes("--again")
const withRelay = own.includes("--relay")
const root = join(import.meta.dirname, "..")
const fmt = (x: number) => Math.round(x).toLocaleString("en-US")

/** N events oldest first, as `parrhesia export` writes them. */
const dataset = (n: number): string => {
  const file = join(cache, `import-events-${n}.jsonl`)
  if (existsSync(file)) return file
  console.error(`signing ${fmt(n)} events into ${file} ...`)
  mkdirSync(cache, { recursive: true })
  const sign = nativeSigner()
  const AUTHORS = 1000
  const sks = Array.from({ length: AUTHORS }, () => schnorr.utils.randomSecretKey())
  const pubs = sks.map((sk) => bytesToHex(schnorr.getPublicKey(sk)))
  const base = Math.floor(Date.now() / 1000) - 30 * 86400
  const ids: Array<string> = []
  const fd = openSync(`${file}.tmp`, "w")
  let out: Array<string> = []
  for (let i = 0; i < n; i++) {
    const a = (i * 7919) % AUTHORS
    const created_at = base + Math.floor((i * 30 * 86400) / n)
    const r = i % 100
    const someId = ids.length > 0 ? ids[(i * 31) % ids.length]! : "0".repeat(64)
    const template =
      r < 65
        ? { kind: 1, created_at, tags: [["p", pubs[(a + 1) % AUTHORS]!], ["t", `topic${i % 50}`]], content: `note ${i} ${"lorem ipsum ".repeat(i % 20)}` }
        : r < 80
          ? { kind: 7, created_at, tags: [["e", someId], ["p", pubs[(a + 3) % AUTHORS]!]], content: "+" }
          : r < 88
            ? { kind: 6, created_at, tags: [["e", someId], ["p", pubs[(a + 5) % AUTHORS]!]], content: "" }
            : r < 92
              ? { kind: 0, created_at, tags: [], content: JSON.stringify({ name: `user${a}`, about: `version ${i}` }) }
              : r < 96
                ? { kind: 3, created_at, tags: Array.from({ length: 20 }, (_, k) => ["p", pubs[(a + k * 13) % AUTHORS]!]), content: "" }
                : { kind: 30023, created_at, tags: [["d", `article-${a % 5}`], ["title", `Article ${i}`]], content: "long form ".repeat(100) }
    const e: NostrEvent = signEvent(sks[a]!, template, pubs[a]!, sign)
    if (e.kind === 1) ids.push(e.id)
    out.push(JSON.stringify(e))
    if (out.length === 10_000) {
      writeSync(fd, out.join("\n") + "\n")
      out = []
    }
  }
  if (out.length > 0) writeSync(fd, out.join("\n") + "\n")
  closeSync(fd)
  renameSync(`${file}.tmp`, file)
  return file
}

/** CPU seconds per thread name of a process, and of its child processes' names. */
const cpuByThread = (pid: number): Map<string, number> => {
  const m = new Map<string, number>()
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      m.set(comm, (m.get(comm) ?? 0) + (Number(f[11]) + Number(f[12])) / 100)
    }
  } catch {
    /* gone */
  }
  return m
}

/** CPU seconds of the PostgreSQL server `postmaster` and its backends (its child processes). */
const cpuOfServer = (postmaster: number): Map<number, number> => {
  const m = new Map<number, number>()
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8")
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      if (Number(d) === postmaster || Number(f[1]) === postmaster) m.set(Number(d), (Number(f[11]) + Number(f[12])) / 100)
    } catch {
      /* gone */
    }
  }
  return m
}

/** One import of `file` into `dataDir`, its CPU by thread and PostgreSQL's, printed under `title`. */
const importOnce = async (title: string, file: string, dataDir: string, env: NodeJS.ProcessEnv) => {
  const main = join(root, "src/main.ts")
  const started = performance.now()
  const child = spawn(process.execPath, [main, "import", file, "--json", ...importFlags], { env, stdio: ["ignore", "pipe", "inherit"] })
  let out = ""
  child.stdout.on("data", (c: Buffer) => (out += c.toString()))
  const threads = new Map<string, number>()
  const pg = new Map<number, number>()
  const sample = (into: Map<number, number>) => {
    for (const [name, s] of cpuByThread(child.pid!)) threads.set(name, s)
    const pm = Number(readFileSync(join(dataDir, "pg", "postmaster.pid"), "utf8").split("\n")[0])
    for (const [pid, s] of cpuOfServer(pm)) into.set(pid, Math.max(into.get(pid) ?? 0, s))
  }
  const timer = setInterval(() => {
    try {
      sample(pg)
    } catch {
      /* the server starts or stops between two reads */
    }
  }, 200)
  const code = await new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? 1)))
  clearInterval(timer)
  const wall = (performance.now() - started) / 1000
  const r = JSON.parse(out) as { seconds: number; events: number; stored: number; duplicate: number; superseded: number; refusedTotal: number; malformed: number }
  let pgCpu = 0
  for (const s of pg.values()) pgCpu += s
  let nodeCpu = 0
  for (const s of threads.values()) nodeCpu += s
  console.log(
    `${title}: exit ${code}, ${fmt(r.events)} events in ${r.seconds.toFixed(1)} s = ${fmt(r.events / r.seconds)} events/s ` +
      `(stored ${fmt(r.stored)}, duplicate ${fmt(r.duplicate)}, superseded ${fmt(r.superseded)}, refused ${fmt(r.refusedTotal)}, malformed ${fmt(r.malformed)}); wall ${wall.toFixed(1)} s with start-up`
  )
  const perEvent = (s: number) => `${((s / r.events) * 1e6).toFixed(0)} µs/event`
  console.log(`  importer CPU ${nodeCpu.toFixed(1)} s (${perEvent(nodeCpu)}), by thread:`)
  for (const [name, s] of [...threads].sort((a, b) => b[1] - a[1])) if (s >= 0.05) console.log(`    ${name.padEnd(18)} ${s.toFixed(1)} s  ${perEvent(s)}`)
  console.log(`  PostgreSQL CPU ${pgCpu.toFixed(1)} s (${perEvent(pgCpu)}), ${pg.size} processes (start-up and migrations included)`)
  console.log(`  machine: ${(nodeCpu + pgCpu).toFixed(1)} CPU-s over ${r.seconds.toFixed(1)} s on ${availableParallelism()} cores; load average ${loadavg()[0]!.toFixed(1)}`)
}

/** `parrhesia serve` on the data folder (its embedded PostgreSQL); resolves once it listens. */
const startRelay = (env: NodeJS.ProcessEnv) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, "src/main.ts"), "serve", "--port", "0", "--host", "127.0.0.1"], { env, stdio: ["ignore", "pipe", "inherit"] })
    child.stdout.on("data", (c: Buffer) => (/listening on/.test(c.toString()) ? resolve(child) : undefined))
    child.once("exit", (code) => reject(new Error(`the relay exited (${code}) before listening`)))
  })

const relayCpu = (pid: number) => [...cpuByThread(pid).values()].reduce((a, b) => a + b, 0)

const oneRun = async (file: string, k: number) => {
  const dataDir = mkdtempSync(join(tmpdir(), "parrhesia-import-"))
  const env = { ...process.env, PARRHESIA_DATA_DIR: dataDir, PARRHESIA_LOG_LEVEL: "warn" }
  let relay: ChildProcess | undefined
  try {
    // Initialise the embedded PostgreSQL before the clock starts (initdb takes seconds).
    spawnSync(process.execPath, [join(root, "src/main.ts"), "import", "/dev/null"], { env, stdio: "ignore" })
    relay = withRelay ? await startRelay(env) : undefined
    const before = relay === undefined ? 0 : relayCpu(relay.pid!)
    await importOnce(`run ${k}${relay === undefined ? "" : ", into a running relay"}`, file, dataDir, env)
    if (relay !== undefined) console.log(`  the relay's own CPU meanwhile (the commits' notices: hot window, subscriptions): ${(relayCpu(relay.pid!) - before).toFixed(1)} s`)
    // The same file again: what an interrupted import run again goes through (everything stored already).
    if (again) await importOnce(`run ${k}, again`, file, dataDir, env)
  } finally {
    if (relay !== undefined) {
      relay.kill("SIGTERM")
      await new Promise((r) => relay!.once("exit", r))
    }
    rmSync(dataDir, { recursive: true, force: true })
  }
}

const file = dataset(N)
for (let k = 1; k <= runs; k++) await oneRun(file, k)
