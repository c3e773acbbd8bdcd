/**
 * `npm run bench:compare -- <git-ref> [--rounds 3] [--scenarios ingest,query] [--events 20000] [--store postgres|memory]
 *  [--rate R] [--seconds S] [--connections N]`
 *
 * A regression guard: builds <git-ref> in a temporary `git worktree` with its own `npm ci` (never a
 * linked node_modules; the install is kept per lockfile and Node version in the temp folder and
 * moved back in next time), then benchmarks that commit's relay (A, the base) and the working
 * tree's (B) alternately, A B A B ..., each run a fresh relay on a fresh data folder. The load
 * generator is always the working tree's `parrhesia bench`, with one cached pre-signed dataset
 * for every run. Prints each figure's median and min–max per side and the ratio working / base,
 * marked "better" or "worse" when the two sides' ranges do not overlap.
 *
 * Exit codes: 0 compared, 1 the worktree, install, a relay or a bench run failed, 2 usage or a bad ref,
 * 130 interrupted. The worktree is removed in every case.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process"
import { createHash } from "node:crypto"
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { wholeNumber } from "../src/client/args.ts"
import { spawnRelay } from "./relay-process.ts"

// ---------------------------------------------------------------- pure part (tested)

export const COMPARE_USAGE =
  "usage: npm run bench:compare -- <git-ref> [--rounds N] [--scenarios ingest,query,fanout,connections|all] [--events N] [--store postgres|memory] [--rate R] [--seconds S] [--connections N]"

export class UsageError extends Error {}

export interface CompareOptions {
  readonly ref: string
  readonly rounds: number
  readonly scenarios: ReadonlyArray<string>
  readonly store: "postgres" | "memory"
  /** Handed to `parrhesia bench` unchanged (--events, --rate, --seconds, --connections). */
  readonly benchFlags: ReadonlyArray<string>
}

const SCENARIOS = ["ingest", "query", "fanout", "connections"]

export const parseCompareArgs = (argv: ReadonlyArray<string>): CompareOptions => {
  let ref: string | undefined
  let rounds = 3
  let scenarios = ["ingest", "query"]
  let store: "postgres" | "memory" = "postgres"
  const benchFlags: Array<string> = []
  const num = (name: string, v: string | undefined, min: number, max: number) => wholeNumber(name, v, min, max, (m) => new UsageError(m))
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    switch (a) {
      case "--rounds":
        rounds = num(a, argv[++i], 1, 50)
        break
      case "--scenarios": {
        const v = argv[++i] ?? ""
        scenarios = v === "all" ? SCENARIOS : v.split(",").filter((s) => s !== "")
        for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new UsageError(`unknown scenario ${s} (${SCENARIOS.join(", ")}, all)`)
        if (scenarios.length === 0) throw new UsageError("--scenarios names at least one scenario")
        break
      }
      case "--store": {
        const v = argv[++i]
        if (v !== "postgres" && v !== "memory") throw new UsageError("--store is postgres or memory")
        store = v
        break
      }
      case "--events":
        benchFlags.push(a, String(num(a, argv[++i], 10, 1_000_000)))
        break
      case "--rate":
        benchFlags.push(a, String(num(a, argv[++i], 1, 100_000)))
        break
      case "--seconds":
        benchFlags.push(a, String(num(a, argv[++i], 1, 3600)))
        break
      case "--connections":
        benchFlags.push(a, String(num(a, argv[++i], 1, 100_000)))
        break
      default:
        if (a.startsWith("-")) throw new UsageError(`unknown option ${a}`)
        if (ref !== undefined) throw new UsageError(`one git ref only (got ${ref} and ${a})`)
        ref = a
    }
  }
  if (ref === undefined) throw new UsageError(COMPARE_USAGE)
  return { ref, rounds, scenarios, store, benchFlags }
}

/** One figure of a `parrhesia bench` JSON result, and which way is better. */
export interface Figure {
  readonly name: string
  readonly better: "higher" | "lower"
  readonly get: (r: BenchResult) => unknown
}

// The JSON line `parrhesia bench` prints per relay (src/client/bench.ts).
export type BenchResult = Record<string, any>

const SHAPES: ReadonlyArray<[string, string]> = [
  ["kinds", "kinds limit 100"],
  ["author", "one author limit 50"],
  ["#p", "#p limit 50"],
  ["ids", "20 ids"]
]

export const FIGURES: ReadonlyArray<Figure> = [
  { name: "ingest events/s", better: "higher", get: (r) => r["ingest"]?.eventsPerSecond },
  { name: "ingest OK p50 ms", better: "lower", get: (r) => r["ingest"]?.okP50Ms },
  { name: "ingest OK p99 ms", better: "lower", get: (r) => r["ingest"]?.okP99Ms },
  { name: "ingest OK p99 2nd half ms", better: "lower", get: (r) => r["ingest"]?.okP99SecondHalfMs },
  { name: "REQs/s", better: "higher", get: (r) => r["query"]?.reqsPerSecond },
  { name: "REQ p50 ms", better: "lower", get: (r) => r["query"]?.p50Ms },
  { name: "REQ p95 ms", better: "lower", get: (r) => r["query"]?.p95Ms },
  { name: "first 500 REQs p95 ms", better: "lower", get: (r) => r["query"]?.first?.p95Ms },
  ...SHAPES.flatMap(([short, shape]): Array<Figure> => [
    { name: `REQ ${short} p50 ms`, better: "lower", get: (r) => r["query"]?.shapes?.[shape]?.p50Ms },
    { name: `REQ ${short} p95 ms`, better: "lower", get: (r) => r["query"]?.shapes?.[shape]?.p95Ms }
  ]),
  { name: "fanout delivery p50 ms", better: "lower", get: (r) => r["fanout"]?.deliveryP50Ms },
  { name: "fanout delivery p99 ms", better: "lower", get: (r) => r["fanout"]?.deliveryP99Ms },
  { name: "fanout lost", better: "lower", get: (r) => r["fanout"]?.lost },
  { name: "idle-connection REQ p50 ms", better: "lower", get: (r) => r["connections"]?.idleReqP50Ms },
  { name: "fresh-connection REQ p50 ms", better: "lower", get: (r) => r["connections"]?.reqP50Ms },
  { name: "RSS per connection KB", better: "lower", get: (r) => r["connections"]?.rssPerConnectionKb },
  { name: "relay CPU s", better: "lower", get: (r) => r["process"]?.cpuSeconds },
  { name: "relay RSS max MB", better: "lower", get: (r) => r["process"]?.rssMaxMb }
]

export const median = (xs: ReadonlyArray<number>): number => {
  if (xs.length === 0) throw new Error("median of nothing")
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

export interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly n: number
}

export const summarize = (xs: ReadonlyArray<number>): Summary => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length })

export interface Row {
  readonly figure: string
  readonly better: "higher" | "lower"
  readonly base: Summary
  readonly working: Summary
  /** working median / base median; undefined when the base median is 0. */
  readonly ratio: number | undefined
  /** Set when both sides have at least two runs and their min–max ranges do not overlap. */
  readonly verdict: "better" | "worse" | undefined
}

const numbers = (results: ReadonlyArray<BenchResult>, f: Figure): Array<number> =>
  results.map((r) => f.get(r)).filter((v): v is number => typeof v === "number" && Number.isFinite(v))

/** One row per figure that both sides produced. */
export const compareResults = (base: ReadonlyArray<BenchResult>, working: ReadonlyArray<BenchResult>, figures: ReadonlyArray<Figure> = FIGURES): Array<Row> => {
  const rows: Array<Row> = []
  for (const f of figures) {
    const a = numbers(base, f)
    const b = numbers(working, f)
    if (a.length === 0 || b.length === 0) continue
    const sa = summarize(a)
    const sb = summarize(b)
    const ratio = sa.median === 0 ? undefined : sb.median / sa.median
    let verdict: Row["verdict"]
    if (sa.n >= 2 && sb.n >= 2 && (sb.min > sa.max || sb.max < sa.min)) {
      const higher = sb.min > sa.max
      verdict = higher === (f.better === "higher") ? "better" : "worse"
    }
    rows.push({ figure: f.name, better: f.better, base: sa, working: sb, ratio, verdict })
  }
  return rows
}

/**
 * The chance that two sides of nBase and nWorking runs of one unchanged figure (runs exchangeable,
 * no ties) come out with ranges apart anyway: all base runs below all working runs or above them,
 * 2 of the C(nBase + nWorking, nBase) orders. 1/3 for 2 rounds, 1/10 for 3, 1/126 for 5.
 */
export const chanceApart = (nBase: number, nWorking: number): number => {
  let orders = 1
  for (let i = 1; i <= nBase; i++) orders = (orders * (nWorking + i)) / i
  return Math.min(1, 2 / orders)
}

const fmt = (x: number): string => (Math.abs(x) >= 100 ? String(Math.round(x)) : String(Math.round(x * 100) / 100))

const cell = (s: Summary): string => (s.n === 1 ? fmt(s.median) : `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`)

export const formatCompareTable = (rows: ReadonlyArray<Row>): string => {
  const cells = [
    ["figure", "base", "working", "ratio", ""],
    ...rows.map((r) => [`${r.figure} ${r.better === "higher" ? "↑" : "↓"}`, cell(r.base), cell(r.working), r.ratio === undefined ? "–" : r.ratio.toFixed(2), r.verdict ?? ""])
  ]
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((row) => row[c]!.length)))
  return cells.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") + "\n"
}

/** What must hold in every run whatever the speed: all events accepted and served back, no REQ refused. */
export const resultProblems = (r: BenchResult): Array<string> => {
  const problems: Array<string> = []
  const ingest = r["ingest"]
  if (ingest !== undefined) {
    if (ingest.accepted !== ingest.events) problems.push(`${ingest.accepted} of ${ingest.events} events accepted`)
    if (ingest.servedBack !== ingest.sampled) problems.push(`${ingest.servedBack} of ${ingest.sampled} sampled events served back`)
  }
  const shapes = r["query"]?.shapes
  if (shapes !== undefined) for (const [name, s] of Object.entries<any>(shapes)) if (s.refused > 0) problems.push(`${s.refused} "${name}" REQs refused`)
  if (r["fanout"]?.lost > 0) problems.push(`${r["fanout"].lost} fanout deliveries lost`)
  return problems
}

// ---------------------------------------------------------------- running it

class Failure extends Error {}

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const children = new Set<ChildProcess>()
let interrupted = false

const log = (s: string) => process.stderr.write(`bench:compare: ${s}\n`)

const git = (args: ReadonlyArray<string>): string => execFileSync("git", args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim()

/** Runs a child to its end; stdout collected, stderr passed through. */
const run = (cmd: string, args: ReadonlyArray<string>, opts: { cwd: string; env?: NodeJS.ProcessEnv; stdoutToStderr?: boolean }): Promise<{ code: number | null; stdout: string }> =>
  new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "inherit"] })
    // With stdoutToStderr the child's stdout goes to our stderr: our stdout carries only the table.
    if (opts.stdoutToStderr) child.stdout!.pipe(process.stderr, { end: false })
    children.add(child)
    let stdout = ""
    if (!opts.stdoutToStderr) child.stdout!.on("data", (d: Buffer) => void (stdout += d.toString()))
    child.once("error", (e) => {
      children.delete(child)
      reject(e)
    })
    child.once("close", (code) => {
      children.delete(child)
      resolveRun({ code, stdout })
    })
  })

const stopRelay = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once("exit", r))
  child.kill("SIGTERM")
  const killer = setTimeout(() => child.kill("SIGKILL"), 20_000)
  await exited
  clearTimeout(killer)
}

/** The installed node_modules of a base, kept between runs: keyed by its lockfile and the Node that built it. */
const modulesCache = join(tmpdir(), "parrhesia-bench-compare-modules")
const modulesKey = (tree: string): string | undefined => {
  const lock = join(tree, "package-lock.json")
  if (!existsSync(lock)) return undefined
  return createHash("sha256").update(readFileSync(lock)).update(`\0${process.version}\0${process.arch}`).digest("hex").slice(0, 24)
}

const install = async (tree: string): Promise<void> => {
  const key = modulesKey(tree)
  const cached = key === undefined ? undefined : join(modulesCache, key, "node_modules")
  if (cached !== undefined && existsSync(cached)) {
    try {
      renameSync(cached, join(tree, "node_modules")) // claimed: a concurrent compare installs its own
      log(`using the install cached for this lockfile (${key})`)
      return
    } catch {
      /* taken meanwhile: install */
    }
  }
  const env = { ...process.env }
  // As scripts/node-env.sh does: node-gyp builds bcrypto against the headers of the Node that runs it.
  const nodeDir = resolve(dirname(process.execPath), "..")
  if (env["npm_config_nodedir"] === undefined && existsSync(join(nodeDir, "include", "node"))) env["npm_config_nodedir"] = nodeDir
  log(`npm ci in ${tree} (Node ${process.version}${env["npm_config_nodedir"] ? `, nodedir ${env["npm_config_nodedir"]}` : ""})`)
  const { code } = await run("npm", ["ci", "--no-audit", "--no-fund"], { cwd: tree, env, stdoutToStderr: true })
  if (code !== 0) throw new Failure(`npm ci failed in the worktree of the base (exit ${code})`)
}

/** Keeps the base's install for the next compare of the same lockfile (one kept at a time). */
const keepInstall = (tree: string) => {
  const key = modulesKey(tree)
  const modules = join(tree, "node_modules")
  if (key === undefined || !existsSync(join(modules, ".package-lock.json"))) return
  try {
    mkdirSync(modulesCache, { recursive: true })
    for (const old of readdirSync(modulesCache)) if (old !== key) rmSync(join(modulesCache, old), { recursive: true, force: true })
    if (existsSync(join(modulesCache, key, "node_modules"))) return
    mkdirSync(join(modulesCache, key), { recursive: true })
    renameSync(modules, join(modulesCache, key, "node_modules"))
  } catch (e) {
    log(`could not keep the install: ${e instanceof Error ? e.message : String(e)}`)
  }
}

interface Side {
  readonly label: string
  readonly root: string
}

const benchOnce = async (side: Side, o: CompareOptions, cache: string): Promise<BenchResult> => {
  const dataDir = mkdtempSync(join(tmpdir(), "parrhesia-compare-data-"))
  let relay: ChildProcess | undefined
  try {
    const started = await spawnRelay({ PARRHESIA_STORE: o.store, PARRHESIA_DATA_DIR: join(dataDir, "data") }, { root: side.root, timeoutMs: 120_000 }).catch(
      (e: unknown) => {
        throw new Failure(`the ${side.label} relay did not start: ${e instanceof Error ? e.message : String(e)}`)
      }
    )
    relay = started.child
    children.add(relay)
    if (interrupted) throw new Failure("interrupted")
    // The client is always the working tree's (scripts/bench.ts --url: src/client/bench.ts without the
    // relay's modules): the same load generator and dataset for both sides.
    const args = [join(root, "scripts/bench.ts"), "--url", started.url, "--scenarios", o.scenarios.join(","), ...o.benchFlags, "--pid", String(relay.pid), "--cache", cache]
    const { code, stdout } = await run(process.execPath, args, { cwd: root })
    if (code !== 0) throw new Failure(`parrhesia bench against the ${side.label} relay failed (exit ${code})`)
    const line = stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop()
    if (line === undefined) throw new Failure(`parrhesia bench against the ${side.label} relay printed no result`)
    return JSON.parse(line) as BenchResult
  } finally {
    if (relay !== undefined) {
      await stopRelay(relay)
      children.delete(relay)
    }
    rmSync(dataDir, { recursive: true, force: true })
  }
}

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  let o: CompareOptions
  try {
    o = parseCompareArgs(argv)
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`bench:compare: ${e.message}\n`)
      return 2
    }
    throw e
  }
  let sha: string
  try {
    sha = git(["rev-parse", "--verify", "--quiet", `${o.ref}^{commit}`])
  } catch {
    process.stderr.write(`bench:compare: ${o.ref} is not a commit of this repository\n`)
    return 2
  }
  const head = git(["rev-parse", "--short", "HEAD"])
  const dirty = git(["status", "--porcelain", "--untracked-files=no"]) !== ""
  const cache = process.env["PARRHESIA_BENCH_CACHE"] || join(root, ".bench")

  // The postgres user of the embedded PostgreSQL (when run as root) must reach the base's binaries: not 0700.
  const tmp = mkdtempSync(join(tmpdir(), "parrhesia-compare-"))
  chmodSync(tmp, 0o755)
  const tree = join(tmp, "base")
  let added = false
  let installed = false
  try {
    log(`base ${o.ref} = ${sha.slice(0, 12)}: worktree in ${tree}`)
    try {
      git(["worktree", "add", "--detach", tree, sha])
      added = true
    } catch (e) {
      throw new Failure(`git worktree add failed: ${(e as { stderr?: string }).stderr?.trim() || String(e)}`)
    }
    await install(tree)
    installed = true
    if (interrupted) return 130
    const sides: ReadonlyArray<Side> = [
      { label: `base (${sha.slice(0, 12)})`, root: tree },
      { label: "working tree", root }
    ]
    const results: [Array<BenchResult>, Array<BenchResult>] = [[], []]
    for (let round = 1; round <= o.rounds; round++) {
      for (const [i, side] of sides.entries()) {
        log(`round ${round} of ${o.rounds}: ${side.label}`)
        const r = await benchOnce(side, o, cache)
        for (const p of resultProblems(r)) log(`WARNING ${side.label}, round ${round}: ${p}`)
        results[i]!.push(r)
        if (interrupted) return 130
      }
    }
    const events = o.benchFlags.includes("--events") ? o.benchFlags[o.benchFlags.indexOf("--events") + 1] : "20000"
    process.stdout.write(
      `\nbase: ${o.ref} (${sha.slice(0, 12)})   working: the working tree (HEAD ${head}${dirty ? " with uncommitted changes" : ""})\n` +
        `${o.rounds} round${o.rounds === 1 ? "" : "s"} (${Array.from({ length: o.rounds }, () => "A B").join(" ")}), scenarios ${o.scenarios.join(",")}, ${events} events, store ${o.store}; median (min–max) per side\n\n` +
        formatCompareTable(compareResults(...results)) +
        `\n↑ higher is better, ↓ lower is better; ratio = working / base. "better"/"worse": the two sides' ranges do not overlap` +
        (o.rounds < 2
          ? " (needs 2+ rounds: one round has no spread, so no ratio is marked)"
          : `; an unchanged figure is marked so by chance 1 time in ${Math.round(1 / chanceApart(o.rounds, o.rounds))}`) +
        "\n"
    )
    return 0
  } catch (e) {
    if (interrupted) return 130
    if (e instanceof Failure) {
      process.stderr.write(`bench:compare: ${e.message}\n`)
      return 1
    }
    throw e
  } finally {
    if (added) {
      if (installed) keepInstall(tree)
      try {
        git(["worktree", "remove", "--force", tree])
      } catch (e) {
        log(`git worktree remove failed: ${(e as { stderr?: string }).stderr?.trim() || String(e)}`)
      }
    }
    rmSync(tmp, { recursive: true, force: true })
    if (added) {
      try {
        git(["worktree", "prune"])
      } catch {
        /* best effort */
      }
    }
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130) // a second ^C: leave now
    interrupted = true
    log(`${signal}: stopping, then removing the worktree (again to leave at once)`)
    for (const child of children) child.kill("SIGTERM")
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  process.exitCode = await main(process.argv.slice(2))
}
