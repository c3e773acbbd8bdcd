/**
 * NIP-50 search benchmark: N stored kind-1 notes (default 100,000) of
 * natural-looking text, then sequential search REQs over real sockets, time
 * to EOSE. The events go straight into the Postgres store (stores do not
 * check signatures, and signing 100,000 events in JS takes minutes); the
 * relay then serves that database like any external one.
 *
 * Usage: node scripts/bench-search.ts [--events 100000] [--queries 2000]
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Scope, Exit } from "effect"
import WebSocket from "ws"
import { spawnRelay } from "./relay-process.ts"
import { defaults } from "../src/config/RelayConfig.ts"
import { computeEventId, type NostrEvent } from "../src/nostr/index.ts"
import { makeFromSettings } from "../src/storage/postgres/layer.ts"
import { startEmbedded } from "../src/storage/postgres/EmbeddedPostgres.ts"

const args = new Map<string, string>()
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "")
const N = Number(args.get("events") ?? 100_000)
const QUERIES = Number(args.get("queries") ?? 2000)
const WARMUP = 300

// A vocabulary with a natural (Zipf-like) frequency: a few very common words, many rare ones.
let seed = 42
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
const syllables = ["no", "str", "re", "lay", "ka", "mi", "to", "za", "be", "ru", "el", "an", "so", "vi", "pe", "du", "qu", "ix", "om", "ta"]
const VOCAB = Array.from({ length: 5000 }, () => Array.from({ length: 2 + Math.floor(random() * 3) }, () => syllables[Math.floor(random() * syllables.length)]).join(""))
const word = () => VOCAB[Math.floor(VOCAB.length * random() ** 3)]!
const sentence = () => Array.from({ length: 8 + Math.floor(random() * 30) }, word).join(" ")

const pct = (xs: Array<number>, p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!

const main = async () => {
  const dir = mkdtempSync(join(tmpdir(), "parrhesia-bench-search-"))
  const pg = await startEmbedded({ dataDir: join(dir, "pg"), port: 0, database: "postgres", warn: () => {} })
  try {
    // ---------------------------------------------------------------- load
    const t0 = performance.now()
    const scope = Effect.runSync(Scope.make())
    const { store, internals } = await Effect.runPromise(Scope.provide(makeFromSettings({ ...defaults(), databaseUrl: pg.url }), scope))
    const pubkeys = Array.from({ length: 200 }, (_, i) => i.toString(16).padStart(2, "0").repeat(32))
    const base = Math.floor(Date.now() / 1000) - N
    const events = function* (): Generator<NostrEvent> {
      for (let i = 0; i < N; i++) {
        const body = { pubkey: pubkeys[i % pubkeys.length]!, created_at: base + i, kind: 1, tags: [], content: sentence() }
        yield { ...body, id: computeEventId(body), sig: "0".repeat(128) }
      }
    }
    const all = [...events()]
    await Effect.runPromise(Effect.forEach(all, (e) => store.put(e), { concurrency: 400, discard: true }))
    // What autovacuum would do soon after a bulk load: planner statistics, including the tsvector's.
    if (!args.has("no-analyze")) await Effect.runPromise(internals.admin.unsafe("ANALYZE events"))
    await Effect.runPromise(Scope.close(scope, Exit.void))
    console.log(`loaded ${N} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

    // ---------------------------------------------------------------- relay
    const { url, child } = await spawnRelay({ PARRHESIA_DATABASE_URL: pg.url })
    try {
      const ws = await new Promise<WebSocket>((resolve, reject) => {
        const s = new WebSocket(url, { perMessageDeflate: false })
        s.once("open", () => resolve(s))
        s.once("error", reject)
      })
      const run = (i: number, search: string) =>
        new Promise<{ ms: number; n: number }>((resolve) => {
          const t = performance.now()
          let n = 0
          const on = (data: WebSocket.RawData) => {
            const text = data.toString()
            if (text.startsWith('["EVENT"')) n++
            else if (text.startsWith('["EOSE"') || text.startsWith('["CLOSED"')) {
              if (text.startsWith('["CLOSED"')) throw new Error(`refused: ${text}`)
              ws.off("message", on)
              ws.send(JSON.stringify(["CLOSE", `s${i}`]))
              resolve({ ms: performance.now() - t, n })
            }
          }
          ws.on("message", on)
          ws.send(JSON.stringify(["REQ", `s${i}`, { kinds: [1], search, limit: 50 }]))
        })
      const shapes: Array<[string, () => string]> = [
        ["one common word", () => VOCAB[Math.floor(random() * 20)]!],
        ["one rare word", () => VOCAB[1000 + Math.floor(random() * 4000)]!],
        ["two words", () => `${word()} ${word()}`]
      ]
      for (let i = 0; i < WARMUP; i++) await run(i, shapes[i % shapes.length]![1]())
      for (const [name, make] of shapes) {
        const times: Array<number> = []
        let rows = 0
        for (let i = 0; i < QUERIES / shapes.length; i++) {
          const r = await run(i, make())
          times.push(r.ms)
          rows += r.n
        }
        console.log(
          `search ${name}: time to EOSE p50 ${pct(times, 50).toFixed(2)} ms, p95 ${pct(times, 95).toFixed(2)} ms ` +
            `(avg ${(rows / times.length).toFixed(1)} events, limit 50, over ${N} events)`
        )
      }
      ws.close()
    } finally {
      child.kill("SIGTERM")
      await new Promise((r) => child.once("exit", r))
    }
  } finally {
    await pg.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
