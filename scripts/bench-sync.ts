/**
 * NIP-77 sync benchmark: two relay processes on PostgreSQL (one embedded
 * server, a database each) holding N events (default 100,000) that differ by
 * 1% (half only at A, half only at B), then `parrhesia sync A B --both`:
 * round trips, wall time, what was copied. Then relay A's memory with 100
 * concurrent negentropy sessions over all its records.
 *
 * The shared events go straight into both stores (stores do not check
 * signatures, and signing 100,000 events in JS takes minutes); the differing
 * ones are signed, since the relays verify what sync publishes to them.
 *
 * Usage: node scripts/bench-sync.ts [--events 100000] [--sessions 100]
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { schnorr } from "@noble/curves/secp256k1.js"
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js"
import { Effect, Exit, Scope } from "effect"
import WebSocket from "ws"
import { defaults } from "../src/config/RelayConfig.ts"
import { Negentropy, Storage } from "../src/negentropy/engine.ts"
import { computeEventId, type NostrEvent } from "../src/nostr/index.ts"
import { startEmbedded } from "../src/storage/postgres/EmbeddedPostgres.ts"
import { makeFromSettings } from "../src/storage/postgres/layer.ts"
import { spawnRelay } from "./relay-process.ts"

const args = new Map<string, string>()
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "")
const N = Number(args.get("events") ?? 100_000)
const SESSIONS = Number(args.get("sessions") ?? 100)
const DIFF = Math.round(N * 0.01)

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024
const withDb = (url: string, db: string) => {
  const u = new URL(url)
  u.pathname = `/${db}`
  return u.toString()
}

const main = async () => {
  const dir = mkdtempSync(join(tmpdir(), "parrhesia-bench-sync-"))
  const pg = await startEmbedded({ dataDir: join(dir, "pg"), port: 0, database: "postgres", warn: () => {} })
  try {
    // ---------------------------------------------------------------- data
    const t0 = performance.now()
    const base = Math.floor(Date.now() / 1000) - 2 * N
    const pubkeys = Array.from({ length: 100 }, (_, i) => i.toString(16).padStart(2, "0").repeat(32))
    const shared: Array<NostrEvent> = Array.from({ length: N - DIFF }, (_, i) => {
      const body = { pubkey: pubkeys[i % pubkeys.length]!, created_at: base + 2 * i, kind: 1, tags: [], content: `shared ${i}` }
      return { ...body, id: computeEventId(body), sig: "0".repeat(128) }
    })
    const sk = schnorr.utils.randomSecretKey()
    const signed = (i: number): NostrEvent => {
      const body = { pubkey: bytesToHex(schnorr.getPublicKey(sk)), created_at: base + Math.floor(Math.random() * 2 * N), kind: 1, tags: [], content: `only ${i}` }
      const id = computeEventId(body)
      return { ...body, id, sig: bytesToHex(schnorr.sign(hexToBytes(id), sk)) }
    }
    const onlyA = Array.from({ length: DIFF / 2 }, (_, i) => signed(i))
    const onlyB = Array.from({ length: DIFF / 2 }, (_, i) => signed(DIFF + i))
    const urls: Array<string> = []
    for (const [db, events] of [["bench_a", [...shared, ...onlyA]], ["bench_b", [...shared, ...onlyB]]] as const) {
      const scope = Effect.runSync(Scope.make())
      const root = await Effect.runPromise(Scope.provide(makeFromSettings({ ...defaults(), databaseUrl: pg.url }), scope))
      await Effect.runPromise(root.internals.admin.unsafe(`CREATE DATABASE ${db}`))
      await Effect.runPromise(Scope.close(scope, Exit.void))
      const url = withDb(pg.url, db)
      const scope2 = Effect.runSync(Scope.make())
      const { store, internals } = await Effect.runPromise(Scope.provide(makeFromSettings({ ...defaults(), databaseUrl: url }), scope2))
      await Effect.runPromise(Effect.forEach(events, (e) => store.put(e), { concurrency: 400, discard: true }))
      await Effect.runPromise(internals.admin.unsafe("ANALYZE events"))
      await Effect.runPromise(Scope.close(scope2, Exit.void))
      urls.push(url)
    }
    console.log(`loaded ${N} events into each of two databases (${DIFF / 2} only in A, ${DIFF / 2} only in B) in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

    // ---------------------------------------------------------------- relays
    const a = await spawnRelay({ PARRHESIA_DATABASE_URL: urls[0]!, PARRHESIA_MAX_LIMIT: "5000" })
    const b = await spawnRelay({ PARRHESIA_DATABASE_URL: urls[1]! })
    try {
      const sync = () =>
        new Promise<{ code: number | null; out: string; err: string; ms: number }>((resolve) => {
          const t = performance.now()
          const child = spawn(process.execPath, ["src/main.ts", "sync", a.url, b.url, "--both", "--json"], { stdio: ["ignore", "pipe", "pipe"] })
          let out = ""
          let err = ""
          child.stdout.on("data", (d) => (out += d))
          child.stderr.on("data", (d) => (err += d))
          child.once("exit", (code) => resolve({ code, out, err, ms: performance.now() - t }))
        })
      const first = await sync()
      if (first.code !== 0) throw new Error(`sync failed (${first.code}): ${first.err}`)
      const r = JSON.parse(first.out)
      console.log(
        `sync --both of ${N} events with 1% apart: ${r.rounds} round trips, ${r.compared} ids compared, ` +
          `${r.directions.map((d: { missing: number; accepted: number }) => `${d.accepted}/${d.missing}`).join(" and ")} copied, ` +
          `${(first.ms / 1000).toFixed(2)} s wall (process start included; ${r.seconds.toFixed(2)} s inside)`
      )
      const second = JSON.parse((await sync()).out)
      console.log(`second sync: ${second.rounds} round trips, missing ${second.directions.map((d: { missing: number }) => d.missing).join("/")}, ${second.seconds.toFixed(2)} s`)

      // ---------------------------------------------------------------- memory with concurrent sessions
      const pid = a.child.pid!
      const before = rssMb(pid)
      const sockets: Array<WebSocket> = []
      const t1 = performance.now()
      const answers = await Promise.all(
        Array.from({ length: SESSIONS }, (_, i) =>
          new Promise<string>((resolve, reject) => {
            const ws = new WebSocket(a.url, { perMessageDeflate: false })
            sockets.push(ws)
            ws.once("error", reject)
            ws.once("open", () => ws.send(JSON.stringify(["NEG-OPEN", `n${i}`, {}, bytesToHex(new Negentropy(new Storage([])).initiate())])))
            ws.on("message", (d) => {
              const m = JSON.parse(d.toString())
              if (m[0] === "NEG-MSG" || m[0] === "NEG-ERR") resolve(m[0] === "NEG-MSG" ? "open" : m[2])
            })
          })
        )
      )
      const open = answers.filter((x) => x === "open").length
      const during = rssMb(pid)
      for (const ws of sockets) ws.close()
      await new Promise((r) => setTimeout(r, 2000))
      const after = rssMb(pid)
      console.log(
        `${SESSIONS} concurrent NEG-OPEN over all ${N} records: ${open} opened in ${((performance.now() - t1) / 1000).toFixed(1)} s` +
          `${open < SESSIONS ? ` (${SESSIONS - open} refused: ${answers.find((x) => x !== "open")})` : ""}; relay RSS ${before.toFixed(0)} MB before, ` +
          `${during.toFixed(0)} MB with them open, ${after.toFixed(0)} MB 2 s after they closed`
      )
    } finally {
      for (const r of [a, b]) {
        r.child.kill("SIGTERM")
        await new Promise((res) => r.child.once("exit", res))
      }
    }
  } finally {
    await pg.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
