import { secp256k1 } from "@noble/curves/secp256k1.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { assert, describe, expect, it, layer } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Logger, Scope } from "effect"
import { finalizeEvent } from "nostr-tools/pure"
import { RelayConfig } from "../../src/config/RelayConfig.ts"
import {
  layerFromConfig,
  layerNoble,
  layerWorkers,
  makeWorkers,
  nativeBackendStatus,
  SignatureVerifier,
  type SignatureVerifierShape,
  verifyNoble,
  type WorkersOptions
} from "../../src/verify/SignatureVerifier.ts"
import { loadNative, PACKED_SIZE, packInto } from "../../src/verify/backends.ts"
import { verifyWithNoble } from "../../src/verify/noble.ts"
import type { VerifierPool } from "../../src/verify/pool.ts"
import type { NostrEvent } from "../../src/nostr/index.ts"

// ------------------------------------------------------------------ fixtures
// Keys come from a fixed seed; signatures carry random aux bytes, but whether
// each event is valid is fixed, so every run checks the same cases.
const secretKey = (i: number): Uint8Array => sha256(new TextEncoder().encode(`parrhesia verifier test key ${i}`))
const KEYS = Array.from({ length: 8 }, (_, i) => secretKey(i))

const signed = (i: number): NostrEvent =>
  finalizeEvent({ kind: 1, created_at: 1_700_000_000 + i, tags: [["t", `n${i}`]], content: `event ${i}` }, KEYS[i % KEYS.length] as Uint8Array)

const SECP_N = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
const SECP_P = "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f"

/** An x coordinate with no point on the curve (x^3 + 7 is not a square mod p). */
const notOnCurveX = (() => {
  for (let i = 0; ; i++) {
    const x = bytesToHex(sha256(new TextEncoder().encode(`not on curve ${i}`)))
    try {
      secp256k1.Point.fromHex(`02${x}`)
    } catch {
      return x
    }
  }
})()

const flipHex = (hex: string, at: number): string => {
  const c = parseInt(hex[at] as string, 16) ^ 1
  return hex.slice(0, at) + c.toString(16) + hex.slice(at + 1)
}

/** Invalid (and a few odd but valid) variants of a valid event, each named. */
const variants = (e: NostrEvent, other: NostrEvent): Array<[string, NostrEvent]> => [
  ["valid", e],
  ["sig s bit flipped", { ...e, sig: flipHex(e.sig, 127) }],
  ["sig r bit flipped", { ...e, sig: flipHex(e.sig, 10) }],
  ["id bit flipped", { ...e, id: flipHex(e.id, 5) }],
  ["someone else's pubkey", { ...e, pubkey: other.pubkey }],
  ["someone else's sig", { ...e, sig: other.sig }],
  ["pubkey not on curve", { ...e, pubkey: notOnCurveX }],
  ["pubkey x = p", { ...e, pubkey: SECP_P }],
  ["pubkey x = 2^256-1", { ...e, pubkey: "f".repeat(64) }],
  ["pubkey zero", { ...e, pubkey: "0".repeat(64) }],
  ["s = n", { ...e, sig: e.sig.slice(0, 64) + SECP_N }],
  ["s = 2^256-1", { ...e, sig: e.sig.slice(0, 64) + "f".repeat(64) }],
  ["r = p", { ...e, sig: SECP_P + e.sig.slice(64) }],
  ["r = 2^256-1", { ...e, sig: "f".repeat(64) + e.sig.slice(64) }],
  ["sig all zero", { ...e, sig: "0".repeat(128) }],
  ["sig short", { ...e, sig: e.sig.slice(0, 126) }],
  ["sig long", { ...e, sig: e.sig + "00" }],
  ["sig not hex", { ...e, sig: "zz" + e.sig.slice(2) }],
  ["pubkey odd hex", { ...e, pubkey: e.pubkey.slice(0, 63) + "g" }],
  ["id empty", { ...e, id: "" }],
  ["uppercase hex (valid bytes)", { ...e, sig: e.sig.toUpperCase(), pubkey: e.pubkey.toUpperCase(), id: e.id.toUpperCase() }]
]

const VALID = Array.from({ length: 60 }, (_, i) => signed(i))
const BASES = 8
const CASES: Array<[string, NostrEvent]> = VALID.slice(0, BASES).flatMap((e, i) => variants(e, VALID[i + BASES + 1] as NostrEvent))
const EXPECTED = CASES.map(([, e]) => verifyNoble(e))

/** Deterministic shuffle of valid and invalid events. */
const mixed = (n: number): Array<NostrEvent> => {
  const out: Array<NostrEvent> = []
  for (let i = 0; i < n; i++) {
    const e = VALID[i % VALID.length] as NostrEvent
    out.push(i % 3 === 1 ? { ...e, sig: flipHex(e.sig, (i * 7) % 128) } : e)
  }
  return out
}

/** A worker pool shared by the tests of one block (started once: worker start-up is the slow part). */
class TestPool extends Context.Service<TestPool, { readonly service: SignatureVerifierShape; readonly pool: VerifierPool }>()(
  "test/ingest/TestPool"
) {}
const testPool = (options: WorkersOptions) => Layer.effect(TestPool, makeWorkers(options))

const native = nativeBackendStatus()
if (!native.available) {
  console.warn(`verifier tests: native backend not loadable, its tests are skipped (${native.reason})`)
}
const BACKENDS = native.available ? (["native", "noble"] as const) : (["noble"] as const)

const directCheck = (verify: (m: Buffer, s: Buffer, p: Buffer) => boolean, e: NostrEvent): boolean => {
  const buf = Buffer.alloc(PACKED_SIZE)
  return packInto(buf, 0, e.id, e.pubkey, e.sig) && verify(buf.subarray(0, 32), buf.subarray(64, 128), buf.subarray(32, 64))
}

// ------------------------------------------------------------------ tests
describe("reference and fixtures", () => {
  it("noble accepts the signed events and rejects every corrupted variant", () => {
    const summary = CASES.map(([name, e], i) => `${name}:${EXPECTED[i]}`)
    for (let i = 0; i < CASES.length; i++) {
      const [name] = CASES[i] as [string, NostrEvent]
      expect(EXPECTED[i], name).toBe(name === "valid" || name.startsWith("uppercase"))
    }
    expect(summary.length).toBe(BASES * 21)
  })
})

describe.skipIf(!native.available)("native backend (bcrypto libsecp256k1)", () => {
  it("is bcrypto's native binding and passes the BIP-340 self-test", () => {
    const r = loadNative()
    assert(r.ok, r.ok ? "" : r.reason)
  })

  it("agrees with noble on valid and invalid signatures, on the calling thread", () => {
    const r = loadNative()
    assert(r.ok)
    const got = CASES.map(([, e]) => directCheck(r.verify, e))
    expect(got).toEqual(EXPECTED)
    const many = mixed(300)
    expect(many.map((e) => directCheck(r.verify, e))).toEqual(many.map((_, i) => i % 3 !== 1))
    expect(many.slice(0, 30).map(verifyNoble)).toEqual(many.slice(0, 30).map((_, i) => i % 3 !== 1))
  })
})

describe.each(BACKENDS)("layerWorkers (%s backend)", (backend) => {
  layer(testPool({ threads: 2, backend }))((it) => {
    it.effect("agrees with noble on every case, in order", () =>
      Effect.gen(function* () {
        const { service } = yield* TestPool
        const got = yield* service.verifyBatch(CASES.map(([, e]) => e))
        expect(got).toEqual(EXPECTED)
      }))

    it.effect("keeps the order of a large mixed batch (split over both workers)", () =>
      Effect.gen(function* () {
        const { pool, service } = yield* TestPool
        const events = backend === "native" ? mixed(3000) : mixed(200)
        const before = pool.stats().messages
        const got = yield* service.verifyBatch(events)
        expect(got).toEqual(events.map((_, i) => i % 3 !== 1))
        expect(pool.stats().messages - before).toBeGreaterThanOrEqual(2)
      }))

    it.effect("answers an empty batch", () =>
      Effect.gen(function* () {
        const { service } = yield* TestPool
        expect(yield* service.verifyBatch([])).toEqual([])
      }))

    it.effect("concurrent single verifies are coalesced and each gets its own answer", () =>
      Effect.gen(function* () {
        const { pool, service } = yield* TestPool
        const events = mixed(backend === "native" ? 120 : 40)
        const before = pool.stats().messages
        const singles = yield* Effect.all(events.map((e) => service.verify(e)), { concurrency: "unbounded" })
        expect(singles).toEqual(events.map((_, i) => i % 3 !== 1))
        // all callers in one turn of the event loop: a couple of messages, not 120.
        expect(pool.stats().messages - before).toBeLessThanOrEqual(4)
      }))

    it.effect("concurrent batches and singles all get their own answers", () =>
      Effect.gen(function* () {
        const { service } = yield* TestPool
        const jobs = Array.from({ length: backend === "native" ? 30 : 12 }, (_, j) => {
          const events = mixed(j + 1).map((e, i) => (j % 2 === 0 && i === 0 ? { ...e, sig: flipHex(e.sig, 1) } : e))
          const want = events.map((_, i) => !(j % 2 === 0 && i === 0) && i % 3 !== 1)
          return j % 5 === 4
            ? Effect.map(service.verify(events[0] as NostrEvent), (ok) => expect([ok]).toEqual(want.slice(0, 1)))
            : Effect.map(service.verifyBatch(events), (got) => expect(got).toEqual(want))
        })
        yield* Effect.all(jobs, { concurrency: "unbounded" })
      }))
  })
})

describe("layerWorkers failures and shutdown", () => {
  const backend = BACKENDS[0]

  it.effect("a worker that dies with a batch in flight is replaced and the batch is answered", () =>
    Effect.gen(function* () {
      const { pool, service } = yield* makeWorkers({ threads: 1, backend })
      // The crash message reaches the worker before the batch (sent on the next
      // turn), so the batch is in flight on a dead worker.
      pool.crashWorker(0)
      const events = mixed(50)
      const got = yield* service.verifyBatch(events)
      expect(got).toEqual(events.map((_, i) => i % 3 !== 1))
      const s = pool.stats()
      expect(s.crashed).toBe(1)
      expect(s.started).toBe(2)
      expect(s.live).toBe(1)
      expect(s.fallbackEvents).toBe(0)
      // and the replacement keeps working
      expect(yield* service.verify(VALID[0] as NostrEvent)).toBe(true)
    }))

  it.effect("a batch that keeps killing workers is answered on the calling thread", () =>
    Effect.gen(function* () {
      const { pool, service } = yield* makeWorkers({ threads: 1, backend, crashOnBatch: true })
      const events = mixed(10)
      const got = yield* service.verifyBatch(events)
      expect(got).toEqual(events.map((_, i) => i % 3 !== 1))
      const s = pool.stats()
      expect(s.crashed).toBe(3)
      expect(s.fallbackEvents).toBe(10)
    }))

  it.effect("closing the layer terminates every worker and leaves no handle open", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const ctx = yield* Layer.buildWithScope(Layer.merge(layerWorkers({ threads: 2, backend }), testPool({ threads: 1, backend })), scope)
      const v = Context.get(ctx, SignatureVerifier)
      const { pool } = Context.get(ctx, TestPool)
      expect(yield* v.verifyBatch(VALID.slice(0, 4))).toEqual([true, true, true, true])
      expect(pool.stats().live).toBe(1)
      yield* Scope.close(scope, Exit.void)
      const s = pool.stats()
      expect(s.live).toBe(0)
      expect(s.exited).toBe(s.started)
      expect(process.getActiveResourcesInfo().filter((r) => r === "Worker" || r === "MessagePort")).toEqual([])
    }))

  it.effect("requests still pending when the layer closes are answered, and later ones too", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { pool } = yield* makeWorkers({ threads: 1, backend }).pipe(Scope.provide(scope))
      const events = mixed(30)
      let answer: Array<boolean> | undefined
      pool.submit(events, (r) => {
        answer = r
      })
      yield* Scope.close(scope, Exit.void)
      expect(answer).toEqual(events.map((_, i) => i % 3 !== 1))
      let late: Array<boolean> | undefined
      pool.submit(events.slice(0, 2), (r) => {
        late = r
      })
      expect(late).toEqual([true, false])
      expect(pool.stats().live).toBe(0)
    }))
})

describe("layerFromConfig", () => {
  const run = (settings: Parameters<typeof RelayConfig.layerWith>[0], logs: Array<string>) =>
    Effect.gen(function* () {
      const v = yield* SignatureVerifier
      return yield* v.verifyBatch(CASES.slice(0, 21).map(([, e]) => e))
    }).pipe(
      Effect.provide(layerFromConfig.pipe(Layer.provide(RelayConfig.layerWith(settings)))),
      Effect.provide(
        Logger.layer([
          Logger.make(({ logLevel, message }) => {
            logs.push(`${logLevel}: ${Array.isArray(message) ? message.join(" ") : String(message)}`)
          })
        ])
      )
    )

  it.effect("noble", () =>
    Effect.gen(function* () {
      const logs: Array<string> = []
      expect(yield* run({ signatureVerifier: "noble" }, logs)).toEqual(EXPECTED.slice(0, 21))
      expect(logs.join("\n")).toContain("@noble/curves on the main thread")
    }))

  it.effect.skipIf(!native.available)("auto and workers use the native backend when it loads", () =>
    Effect.gen(function* () {
      for (const mode of ["auto", "workers"] as const) {
        const logs: Array<string> = []
        expect(yield* run({ signatureVerifier: mode, verifierThreads: 2 }, logs)).toEqual(EXPECTED.slice(0, 21))
        expect(logs.join("\n")).toContain("native libsecp256k1 (bcrypto) in 2 worker thread(s)")
      }
    }))

  it.effect("without the native backend: auto falls back to noble workers with a warning, workers refuses to start", () =>
    Effect.gen(function* () {
      const saved = process.env["PARRHESIA_NO_NATIVE_VERIFIER"]
      process.env["PARRHESIA_NO_NATIVE_VERIFIER"] = "1"
      try {
        const logs: Array<string> = []
        expect(yield* run({ signatureVerifier: "auto" }, logs)).toEqual(EXPECTED.slice(0, 21))
        expect(logs.join("\n")).toMatch(/Warn.*native backend not available.*@noble\/curves in 1 worker thread/i)
        const exit = yield* Effect.exit(run({ signatureVerifier: "workers" }, []))
        assert(Exit.isFailure(exit))
        expect(String(Exit.isFailure(exit) ? exit.cause : "")).toContain('"signatureVerifier" is "workers" but the native BIP-340 backend is not loadable')
      } finally {
        if (saved === undefined) delete process.env["PARRHESIA_NO_NATIVE_VERIFIER"]
        else process.env["PARRHESIA_NO_NATIVE_VERIFIER"] = saved
      }
    }))
})

describe("layerNoble (unchanged reference)", () => {
  it.effect("agrees with verifyNoble", () =>
    Effect.gen(function* () {
      const v = yield* SignatureVerifier
      expect(yield* v.verifyBatch(CASES.map(([, e]) => e))).toEqual(EXPECTED)
      expect(yield* v.verify(VALID[3] as NostrEvent)).toBe(true)
    }).pipe(Effect.provide(layerNoble)))

  it("the noble backend used in workers agrees too", () => {
    expect(CASES.map(([, e]) => directCheck(verifyWithNoble, e))).toEqual(EXPECTED)
  })
})
