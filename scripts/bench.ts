/**
 * `parrhesia bench` (src/client/bench.ts) against a relay this script starts:
 * `node src/main.ts serve` on a free port, with the embedded PostgreSQL in a
 * temp folder (or `--store memory`), its CPU and memory sampled (--pid).
 *
 * Usage: node scripts/bench.ts [--store postgres|memory] [--url ws://...] [--events 20000]
 *        [--scenarios ingest,query,fanout,connections|all] [--rate 200] [--seconds 10] [--connections 10000]
 * (`--scenarios idle --idle N`, the older names, still work.) With --url the relay is not started.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runBenchCli } from "../src/client/bench.ts"
import { spawnRelay } from "./relay-process.ts"

const args = new Map<string, string>()
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "")

const flags: Array<string> = []
for (const [k, v] of args) {
  if (k === "store" || k === "url") continue
  if (k === "scenarios") flags.push("--scenarios", v.replace(/\bidle\b/, "connections"))
  else if (k === "idle") flags.push("--connections", v)
  else flags.push(`--${k}`, v)
}

const main = async () => {
  if (args.has("url")) {
    process.exitCode = await runBenchCli([args.get("url")!, ...flags], process.env, { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) })
    return
  }
  const store = args.get("store") ?? "postgres"
  const dataDir = mkdtempSync(join(tmpdir(), "parrhesia-bench-"))
  const { url, child } = await spawnRelay({ PARRHESIA_STORE: store, PARRHESIA_DATA_DIR: join(dataDir, "data") })
  console.error(`relay: ${url} (store ${store}, pid ${child.pid})`)
  try {
    process.exitCode = await runBenchCli([url, ...flags, "--pid", String(child.pid)], process.env, {
      out: (s) => process.stdout.write(s),
      err: (s) => process.stderr.write(s)
    })
  } finally {
    child.kill("SIGTERM")
    await new Promise((r) => child.once("exit", r))
    rmSync(dataDir, { recursive: true, force: true })
  }
}

await main()
