/**
 * Where the relay's CPU goes, per ingested event or per REQ, in microseconds.
 *
 * Starts the relay (`src/main.ts serve` of this checkout or of `--root`, the embedded PostgreSQL in a
 * temp folder) under `node --cpu-prof`, runs one `parrhesia bench` scenario against it, and reports:
 * - CPU of each kind of thread from /proc over the scenario: the main thread, the signature verifier
 *   (WorkerThread), V8's helpers (garbage collection and compilation: V8Worker), libuv's pool, and
 *   PostgreSQL (every process under the relay);
 * - the main thread's time split by what it was doing (the CPU profile's samples inside the
 *   scenario, each given to the nearest frame on its stack that names a part of the relay: leaf
 *   first, Node's and V8's own frames looked through).
 *
 * Usage (after `. scripts/node-env.sh`):
 *   node scripts/cpu-breakdown.ts [--scenario ingest|query] [--events 20000] [--root DIR] [--runs N] [--json FILE]
 * `query` stores the events first (not measured), then measures the 2,500 REQs of the query scenario.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { runBenchCli } from "../src/client/bench.ts"
import { spawnRelay } from "./relay-process.ts"

// ---------------------------------------------------------------- categories (pure)

/** Leaf first, the first frame matching a rule names the sample's part; Node/V8 frames (url "" or node:) are looked through. */
export const RULES: ReadonlyArray<readonly [string, RegExp]> = [
  ["decode: WebSocket frames, JSON, shape", /nm\/ws\/lib\/(receiver|buffer-util|validation)|decodeClientMessage|parseEventShape|^(onWsMessage|toText) src\/relay\/WsTransport/],
  ["event id: canonical JSON + SHA-256", /computeEventId|serializeForId|hasValidId/],
  ["signature check: hand-off to the verifier thread", /src\/verify\//],
  ["policy, limits, groups", /src\/policy\/|src\/groups\/|src\/membership\/|src\/ingest\/requests/],
  ["hot window", /src\/storage\/hotWindow\/|src\/storage\/withHotWindow/],
  ["store: writer, SQL parameters, wire, rows", /src\/storage\/|@effect\/sql-pg/],
  ["fanout and live subscriptions", /src\/subscriptions\//],
  ["answers: OK/EVENT/EOSE frames, socket writes", /encodeOk|encodeEvent|encodeEose|encodeServed|nm\/ws\/lib\/sender|src\/relay\/WsTransport|src\/relay\/Outbound/],
  ["REQ handling", /src\/relay\/handlers\/(req|count)|src\/query\//],
  ["EVENT pipeline and routing", /src\/ingest\/|src\/relay\//],
  ["metrics and status history", /src\/observability\//],
  ["Effect runtime: fibers, scheduling, async context", /nm\/effect\//],
  ["other JavaScript", /nm\/|src\//]
]

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}
interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const frameName = (n: ProfileNode): string => {
  const url = n.callFrame.url.replace(/.*\/node_modules\//, "nm/").replace(/^file:\/\/.*?\/(src|scripts)\//, "src/").replace(/^.*?\/src\//, "src/")
  return `${n.callFrame.functionName || "(anonymous)"} ${url}:${n.callFrame.lineNumber + 1}`
}

const transparent = (n: ProfileNode): boolean => n.callFrame.url === "" || n.callFrame.url.startsWith("node:")

/** Milliseconds per part of the samples taken between fromUs and toUs (the profile's clock, µs). */
export const categorize = (p: Profile, fromUs: number, toUs: number): Map<string, number> => {
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const memo = new Map<number, string>()
  const classify = (leaf: number): string => {
    const known = memo.get(leaf)
    if (known !== undefined) return known
    const leafNode = byId.get(leaf)!
    let part: string | undefined
    const special = leafNode.callFrame.functionName
    if (special === "(idle)") part = "idle"
    else if (special === "(garbage collector)") part = "garbage collection (main thread)"
    else if (special === "(program)") part = "V8 and Node (no JavaScript on the stack)"
    for (let id: number | undefined = leaf; part === undefined && id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!
      if (transparent(n)) continue
      const name = frameName(n)
      for (const [label, re] of RULES) {
        if (re.test(name)) {
          part = label
          break
        }
      }
    }
    part ??= "Node internals (timers, streams, workers)"
    memo.set(leaf, part)
    return part
  }
  const out = new Map<string, number>()
  let t = p.startTime
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0
    if (t < fromUs || t > toUs) continue
    const part = classify(p.samples[i]!)
    out.set(part, (out.get(part) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000)
  }
  return out
}

// ---------------------------------------------------------------- /proc

const HZ = 100
const cpuOf = (statPath: string): number => {
  const s = readFileSync(statPath, "utf8")
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ")
  return (Number(f[11]) + Number(f[12])) / HZ
}

/** CPU seconds so far by thread kind (comm) of `pid`, and of every process below it. */
const sampleCpu = (pid: number): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim()
      const kind = comm === "MainThread" ? "relay main thread" : comm === "WorkerThread" ? "signature verifier thread" : comm === "V8Worker" ? "V8 helper threads (GC, compiler)" : comm.startsWith("libuv") ? "libuv pool" : "other relay threads"
      out[kind] = (out[kind] ?? 0) + cpuOf(`/proc/${pid}/task/${tid}/stat`)
    } catch {
      /* ended */
    }
  }
  const parents = new Map<number, number>()
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue
    try {
      const s = readFileSync(`/proc/${d}/stat`, "utf8")
      parents.set(Number(d), Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[1]))
    } catch {
      /* ended */
    }
  }
  let pg = 0
  for (const [p] of parents) {
    let q = parents.get(p)
    while (q !== undefined && q > 1 && q !== pid) q = parents.get(q)
    if (q !== pid) continue
    try {
      const s = readFileSync(`/proc/${p}/stat`, "utf8")
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ")
      pg += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / HZ
    } catch {
      /* ended */
    }
  }
  out["PostgreSQL (all its processes)"] = pg
  return out
}

// ---------------------------------------------------------------- one run

interface RunResult {
  readonly units: number
  readonly unit: string
  readonly threads: Record<string, number>
  readonly parts: Record<string, number>
  readonly bench: Record<string, unknown>
}

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n)

const bench = async (url: string, flags: ReadonlyArray<string>): Promise<Record<string, any>> => {
  let out = ""
  const code = await runBenchCli([url, ...flags], process.env, { out: (s) => (out += s), err: () => {} })
  if (code !== 0) throw new Error(`parrhesia bench exited ${code}`)
  return JSON.parse(out.trim().split("\n").pop()!)
}

const runOnce = async (root: string, scenario: "ingest" | "query", events: number): Promise<RunResult> => {
  const dir = mkdtempSync(join(tmpdir(), "parrhesia-cpu-"))
  const profDir = join(dir, "prof")
  const { url, child } = await spawnRelay(
    { PARRHESIA_STORE: "postgres", PARRHESIA_DATA_DIR: join(dir, "data") },
    { root, timeoutMs: 120_000, nodeArgs: ["--cpu-prof", "--cpu-prof-dir", profDir] }
  )
  const pid = child.pid!
  try {
    if (scenario === "query") await bench(url, ["--scenarios", "ingest", "--events", String(events)])
    const before = sampleCpu(pid)
    const from = nowUs()
    const result = await bench(url, ["--scenarios", scenario, "--events", String(events)])
    const to = nowUs()
    const after = sampleCpu(pid)
    child.kill("SIGTERM")
    await new Promise((r) => child.once("exit", r))
    const main = readdirSync(profDir)
      .filter((f) => f.endsWith(".cpuprofile"))
      .map((f) => JSON.parse(readFileSync(join(profDir, f), "utf8")) as Profile)
      .sort((a, b) => b.samples.length - a.samples.length)[0]!
    const threads = Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - (before[k] ?? 0)]))
    // The profiler samples by wall time, also while the thread waits for a core (2 cores, 4 busy
    // processes): its shares are scaled to the main thread's CPU time from /proc.
    const sampled = categorize(main, from, to)
    sampled.delete("idle")
    const busyMs = [...sampled.values()].reduce((a, b) => a + b, 0)
    const scale = busyMs > 0 ? ((threads["relay main thread"] ?? 0) * 1000) / busyMs : 0
    const parts = Object.fromEntries([...sampled].map(([k, ms]) => [k, ms * scale]))
    const units = scenario === "ingest" ? events : 2_500
    return { units, unit: scenario === "ingest" ? "event" : "REQ", threads, parts, bench: result }
  } finally {
    if (child.exitCode === null) child.kill("SIGTERM")
    rmSync(dir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------- main

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const main = async () => {
  const args = new Map<string, string>()
  for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "")
  const scenario = (args.get("scenario") ?? "ingest") as "ingest" | "query"
  if (scenario !== "ingest" && scenario !== "query") throw new Error("--scenario ingest|query")
  const events = Number(args.get("events") ?? 20_000)
  const runs = Number(args.get("runs") ?? 1)
  const root = resolve(args.get("root") ?? ".")
  const results: Array<RunResult> = []
  for (let i = 0; i < runs; i++) {
    process.stderr.write(`cpu-breakdown: ${scenario} run ${i + 1}/${runs} (${root})\n`)
    results.push(await runOnce(root, scenario, events))
  }
  const unit = results[0]!.unit
  const us = (r: RunResult, sec: number) => (sec * 1e6) / r.units
  const line = (label: string, xs: ReadonlyArray<number>) => `| ${label} | ${Math.round(median(xs))}${xs.length > 1 ? ` (${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))})` : ""} |`
  const out: Array<string> = [`CPU per ${unit}, µs (median of ${runs}${runs > 1 ? ", range" : ""}), ${root}`, "", `| thread | µs per ${unit} |`, "|---|---|"]
  for (const k of Object.keys(results[0]!.threads)) out.push(line(k, results.map((r) => us(r, r.threads[k] ?? 0))))
  out.push(line("all of it", results.map((r) => us(r, Object.values(r.threads).reduce((a, b) => a + b, 0)))))
  out.push("", `| main thread, by part (profile shares of its /proc CPU) | µs per ${unit} |`, "|---|---|")
  const parts = [...new Set(results.flatMap((r) => Object.keys(r.parts)))]
  const partUs = (r: RunResult, p: string) => ((r.parts[p] ?? 0) * 1000) / r.units
  parts.sort((a, b) => median(results.map((r) => partUs(r, b))) - median(results.map((r) => partUs(r, a))))
  for (const p of parts) out.push(line(p, results.map((r) => partUs(r, p))))
  process.stdout.write(out.join("\n") + "\n")
  const json = args.get("json")
  if (json) writeFileSync(json, JSON.stringify({ scenario, events, root, results }, null, 1))
}

if (import.meta.main) await main()
