/**
 * BIP-340 verification throughput: @noble/curves and the native backend on
 * the main thread, and layerWorkers with 1 and 2 threads.
 *
 *   node scripts/bench-verify.ts [N=20000] [--noble=2000]
 *
 * Events are signed up front (natively when the addon loads). Worker runs
 * submit the events the way the relay does: batches of 50 from many callers
 * at once ("batches"), and single `verify` calls, 400 in flight ("singles").
 * "main ELU" is the main thread's event-loop utilisation during the run:
 * what the hand-off costs the thread that serves the sockets. "per CPU-s"
 * divides by the CPU time the process used (all threads), which holds up
 * better than wall-clock rates on a busy machine.
 */
import { createRequire } from "node:module"
import { performance } from "node:perf_hooks"
import { Effect, Exit, Scope } from "effect"
import { getEventHash } from "nostr-tools/pure"
import { schnorr } from "@noble/curves/secp256k1.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { makeWorkers, nativeBackendStatus, verifyNoble } from "../src/verify/SignatureVerifier.ts"
import { loadNative, PACKED_SIZE, packInto } from "../src/verify/backends.ts"
import type { NostrEvent } from "../src/nostr/index.ts"

const args = process.argv.slice(2)
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 20_000)
const NOBLE_N = Number(args.find((a) => a.startsWith("--noble="))?.slice(8) ?? 2_000)

const rate = (n: number, ms: number) => Math.round((n / ms) * 1000)
const fmt = (n: number) => n.toLocaleString("en-US")
const row = (name: string, n: number, ms: number, cpuMs: number, extra = "") =>
  console.log(
    `${name.padEnd(36)} ${fmt(rate(n, ms)).padStart(7)} verifies/s  ${fmt(rate(n, cpuMs)).padStart(7)} per CPU-s  (${fmt(n)} in ${ms.toFixed(0)} ms)${extra}`
  )
const cpuMsSince = (u: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(u)
  return (d.user + d.system) / 1000
}

// ------------------------------------------------------------ events
const native = loadNative()
const nativeSign = (() => {
  if (!native.ok) return undefined
  const mod = createRequire(import.meta.url)("bcrypto/lib/native/schnorr") as {
    sign: (msg: Buffer, key: Buffer, aux?: Buffer) => Buffer
    publicKeyCreate: (key: Buffer) => Buffer
  }
  return mod
})()

const keys = Array.from({ length: 64 }, (_, i) => Buffer.from(sha256(new TextEncoder().encode(`bench key ${i}`))))
const pubs = keys.map((k) => (nativeSign ? nativeSign.publicKeyCreate(k).toString("hex") : bytesToHex(schnorr.getPublicKey(k))))

const t0 = performance.now()
const events: Array<NostrEvent> = []
for (let i = 0; i < N; i++) {
  const k = i % keys.length
  const unsigned = {
    pubkey: pubs[k] as string,
    created_at: 1_700_000_000 + i,
    kind: 1,
    tags: [["t", "bench"]],
    content: `bench event ${i} ${"x".repeat(i % 200)}`
  }
  const id = getEventHash(unsigned)
  const msg = Buffer.from(id, "hex")
  const sig = nativeSign ? nativeSign.sign(msg, keys[k] as Buffer).toString("hex") : bytesToHex(schnorr.sign(msg, keys[k] as Buffer))
  events.push({ ...unsigned, id, sig })
}
console.log(`signed ${fmt(N)} events in ${(performance.now() - t0).toFixed(0)} ms (${nativeSign ? "native" : "noble"} signer)`)
console.log(`native backend: ${native.ok ? "bcrypto libsecp256k1 (native binding)" : `not available: ${native.reason}`}`)
console.log(`cores: ${(await import("node:os")).availableParallelism()}, load average: ${(await import("node:os")).loadavg().map((l) => l.toFixed(2)).join(" ")}`)
console.log("")

// ------------------------------------------------------------ main thread
{
  const sample = events.slice(0, Math.min(NOBLE_N, N))
  const u = process.cpuUsage()
  const t = performance.now()
  let ok = 0
  for (const e of sample) if (verifyNoble(e)) ok++
  row("noble, main thread", sample.length, performance.now() - t, cpuMsSince(u), ok === sample.length ? "" : `  !! ${sample.length - ok} rejected`)
}
if (native.ok) {
  const buf = Buffer.alloc(PACKED_SIZE)
  const run = () => {
    const u = process.cpuUsage()
    const t = performance.now()
    let ok = 0
    for (const e of events) {
      if (packInto(buf, 0, e.id, e.pubkey, e.sig) && native.verify(buf.subarray(0, 32), buf.subarray(64, 128), buf.subarray(32, 64))) ok++
    }
    return { ms: performance.now() - t, cpu: cpuMsSince(u), ok }
  }
  run() // warm-up
  const { ms, cpu, ok } = run()
  row("native, main thread", N, ms, cpu, ok === N ? "" : `  !! ${N - ok} rejected`)
}

// ------------------------------------------------------------ workers
const workerRun = (threads: number, backend: "native" | "noble", count: number) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const { service } = yield* makeWorkers({ threads, backend }).pipe(Scope.provide(scope))
    const sample = events.slice(0, count)
    // warm-up (JIT in the workers)
    yield* service.verifyBatch(sample.slice(0, Math.min(500, count)))

    const batches: Array<ReadonlyArray<NostrEvent>> = []
    for (let i = 0; i < sample.length; i += 50) batches.push(sample.slice(i, i + 50))
    let elu0 = performance.eventLoopUtilization()
    let u = process.cpuUsage()
    let mainU = process.threadCpuUsage()
    let t = performance.now()
    const res = yield* Effect.all(batches.map((b) => service.verifyBatch(b)), { concurrency: "unbounded" })
    let ms = performance.now() - t
    let elu = performance.eventLoopUtilization(elu0).utilization
    let mainCpu = process.threadCpuUsage(mainU)
    const okB = res.reduce((a, r) => a + r.filter(Boolean).length, 0)
    const extra = (ok: number, mainCpu: NodeJS.CpuUsage) =>
      `  main thread: ELU ${(elu * 100).toFixed(0)}%, ${(((mainCpu.user + mainCpu.system) / sample.length) | 0)} µs CPU/event` +
      (ok === sample.length ? "" : `  !! ${sample.length - ok} rejected`)
    row(`workers x${threads} (${backend}), batches of 50`, sample.length, ms, cpuMsSince(u), extra(okB, mainCpu))

    elu0 = performance.eventLoopUtilization()
    u = process.cpuUsage()
    mainU = process.threadCpuUsage()
    t = performance.now()
    const singles = yield* Effect.all(sample.map((e) => service.verify(e)), { concurrency: 400 })
    ms = performance.now() - t
    elu = performance.eventLoopUtilization(elu0).utilization
    mainCpu = process.threadCpuUsage(mainU)
    row(`workers x${threads} (${backend}), singles`, sample.length, ms, cpuMsSince(u), extra(singles.filter(Boolean).length, mainCpu))
    yield* Scope.close(scope, Exit.void)
  })

const backend = nativeBackendStatus().available ? "native" : "noble"
const count = backend === "native" ? N : Math.min(N, NOBLE_N)
for (const threads of [1, 2]) {
  await Effect.runPromise(workerRun(threads, backend, count))
}
