/**
 * Quick throughput check of the Postgres adapter alone (no relay, no
 * signature checks): `node test/storage/postgres/putBench.ts` with optional
 * N (events, default 20000), B (writeBatchSize), DIR (embedded data folder,
 * default a temp folder). 400 puts in flight, like 8 connections x 50.
 * Prints events/s, batches, and p50/p95 of four REQ shapes afterwards.
 */
import { randomBytes } from "node:crypto"
import { rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { defaults } from "../../../src/config/RelayConfig.ts"
import type { Filter, NostrEvent } from "../../../src/nostr/index.ts"
import { makeFromSettings } from "../../../src/storage/postgres/layer.ts"

const N = Number(process.env.N ?? 20000)
const dir = process.env.DIR ?? join(tmpdir(), `parrhesia-bench-${randomBytes(4).toString("hex")}`)
const hex = (n: number) => randomBytes(n).toString("hex")
const pk = Array.from({ length: 100 }, () => hex(32))
const now = Math.floor(Date.now() / 1000)
const events: Array<NostrEvent> = Array.from({ length: N }, (_, i) => ({
  id: hex(32),
  pubkey: pk[i % 100]!,
  created_at: now - (i % 5000),
  kind: 1,
  tags: [["p", pk[(i * 7) % 100]!], ["e", hex(32)], ["t", "bench"]],
  content: `hello world ${i} `.repeat(5),
  sig: hex(64)
}))

const program = Effect.scoped(
  Effect.gen(function* () {
    const { store, internals } = yield* makeFromSettings({
      ...defaults(),
      dataDir: dir,
      writeBatchSize: Number(process.env.B ?? defaults().writeBatchSize)
    })
    yield* Effect.orDie(internals.admin.unsafe("CHECKPOINT"))
    const t0 = performance.now()
    yield* Effect.forEach(events, (e) => store.put(e), { concurrency: 400, discard: true })
    const dt = (performance.now() - t0) / 1000
    console.log(
      `put ${N} events: ${(N / dt).toFixed(0)} events/s, ${internals.stats.batches} batches (avg ${(internals.stats.batchedEvents / internals.stats.batches).toFixed(1)})`
    )
    yield* Effect.orDie(internals.admin.unsafe("ANALYZE"))
    const shapes: ReadonlyArray<ReadonlyArray<Filter>> = [
      [{ kinds: [1], limit: 100 }],
      [{ authors: [pk[3]!], limit: 50 }],
      [{ tags: { p: [pk[5]!] }, limit: 50 }],
      [{ ids: events.slice(100, 120).map((e) => e.id) }]
    ]
    for (const q of shapes) {
      const times: Array<number> = []
      for (let i = 0; i < 200; i++) {
        const s = performance.now()
        yield* store.query(q)
        times.push(performance.now() - s)
      }
      times.sort((a, b) => a - b)
      console.log(`${JSON.stringify(q).slice(0, 50)}… p50 ${times[100]!.toFixed(2)} ms, p95 ${times[190]!.toFixed(2)} ms`)
    }
  })
)

await Effect.runPromise(program).finally(() => {
  if (process.env.DIR === undefined) rmSync(dir, { recursive: true, force: true })
})
