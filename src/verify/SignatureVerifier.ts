/**
 * BIP-340 signature checks as a service. The interface takes batches so an
 * implementation can move the work off the I/O thread (worker threads) and
 * amortise the hand-off; `layerNoble` is the pure-JS reference every other
 * implementation is tested against.
 *
 * - `layerNoble`: @noble/curves on the calling thread (~700/s per core).
 * - `layerWorkers`: a pool of worker threads (see pool.ts) running
 *   the native libsecp256k1 backend from the optional package bcrypto
 *   (~20,000/s per core), or noble where asked.
 * - `layerFromConfig`: picks one from the `signatureVerifier` and
 *   `verifierThreads` settings.
 */
import { schnorr } from "@noble/curves/secp256k1.js"
import { hexToBytes } from "@noble/hashes/utils.js"
import { Context, Data, Effect, Layer, type Scope } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import type { NostrEvent } from "../nostr/index.ts"
import { type BackendName, loadNative } from "./backends.ts"
import { createPool, type VerifierPool } from "./pool.ts"

export interface SignatureVerifierShape {
  /** One result per event, in order: true when `sig` is a valid BIP-340 signature of `id` by `pubkey`. */
  readonly verifyBatch: (events: ReadonlyArray<NostrEvent>) => Effect.Effect<ReadonlyArray<boolean>>
  readonly verify: (event: NostrEvent) => Effect.Effect<boolean>
}

export class SignatureVerifier extends Context.Service<SignatureVerifier, SignatureVerifierShape>()(
  "parrhesia/verify/SignatureVerifier"
) {}

/** Reference check with @noble/curves; malformed input is simply "not valid". */
export const verifyNoble = (e: NostrEvent): boolean => {
  try {
    return schnorr.verify(hexToBytes(e.sig), hexToBytes(e.id), hexToBytes(e.pubkey))
  } catch {
    return false
  }
}

export const layerNoble = Layer.succeed(
  SignatureVerifier,
  SignatureVerifier.of({
    verify: (e) => Effect.sync(() => verifyNoble(e)),
    verifyBatch: (es) => Effect.sync(() => es.map(verifyNoble))
  })
)

/** Takes every signature as valid: only for `parrhesia import --no-verify` (a file the operator trusts). */
export const layerUnchecked = Layer.succeed(
  SignatureVerifier,
  SignatureVerifier.of({
    verify: () => Effect.succeed(true),
    verifyBatch: (es) => Effect.succeed(es.map(() => true))
  })
)

/** The worker pool could not start (backend not loadable, worker failed to boot). */
export class VerifierStartError extends Data.TaggedError("VerifierStartError")<{ readonly message: string }> {}

export interface WorkersOptions {
  /** Worker threads (at least 1). */
  readonly threads: number
  /** "native" (default): bcrypto's libsecp256k1 addon; "noble": @noble/curves in the workers. */
  readonly backend?: BackendName
  readonly startTimeoutMs?: number
  /** Test hook: see PoolOptions.crashOnBatch. */
  readonly crashOnBatch?: boolean
}

/** Whether the native backend loads in this process, and why not when it does not. */
export const nativeBackendStatus = (): { readonly available: true } | { readonly available: false; readonly reason: string } => {
  const r = loadNative()
  return r.ok ? { available: true } : { available: false, reason: r.reason }
}

const shapeOfPool = (pool: VerifierPool): SignatureVerifierShape => ({
  verifyBatch: (events) =>
    events.length === 0
      ? Effect.succeed([])
      : Effect.callback<ReadonlyArray<boolean>>((resume) => {
        pool.submit(events, (results) => resume(Effect.succeed(results)))
      }),
  verify: (event) =>
    Effect.callback<boolean>((resume) => {
      pool.submit([event], (results) => resume(Effect.succeed(results[0] === true)))
    })
})

/**
 * A scoped worker pool and the service on top of it; closing the scope
 * terminates the workers. The pool itself is returned too (stats, test hooks).
 */
export const makeWorkers = (
  options: WorkersOptions
): Effect.Effect<{ readonly service: SignatureVerifierShape; readonly pool: VerifierPool }, VerifierStartError, Scope.Scope> =>
  Effect.gen(function* () {
    const backend = options.backend ?? "native"
    if (backend === "native") {
      const st = nativeBackendStatus()
      if (!st.available) return yield* new VerifierStartError({ message: st.reason })
    }
    const context = yield* Effect.context<never>()
    const log = Effect.runForkWith(context)
    const pool = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          createPool({
            threads: options.threads,
            backend,
            ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
            crashOnBatch: options.crashOnBatch === true,
            onWarning: (message) => {
              log(Effect.logWarning(message))
            }
          }),
        catch: (e) => new VerifierStartError({ message: e instanceof Error ? e.message : String(e) })
      }),
      (pool) => Effect.promise(() => pool.close())
    )
    return { service: shapeOfPool(pool), pool }
  })

/** Worker-thread verification; fails with VerifierStartError when the backend cannot be loaded. */
export const layerWorkers = (options: WorkersOptions): Layer.Layer<SignatureVerifier, VerifierStartError> =>
  Layer.effect(SignatureVerifier, Effect.map(makeWorkers(options), ({ service }) => SignatureVerifier.of(service)))

/**
 * The verifier the settings ask for:
 * - "noble": `layerNoble`;
 * - "workers": native backend in `verifierThreads` workers; start-up stops
 *   with a clear message when the native backend is not loadable;
 * - "auto": the same when the native backend loads, else @noble/curves in the
 *   workers, with a warning that says so.
 */
export const layerFromConfig: Layer.Layer<SignatureVerifier, never, RelayConfig> = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* RelayConfig
    const threads = config.verifierThreads
    const mode = config.signatureVerifier
    if (mode === "noble") {
      yield* Effect.logInfo("signature verifier: @noble/curves on the main thread")
      return layerNoble
    }
    const st = nativeBackendStatus()
    if (mode === "workers") {
      if (!st.available) {
        return yield* Effect.die(
          new Error(
            `setting "signatureVerifier" is "workers" but the native BIP-340 backend is not loadable: ${st.reason}. ` +
              `Use "auto" (falls back to @noble/curves in worker threads) or "noble".`
          )
        )
      }
      yield* Effect.logInfo(`signature verifier: native libsecp256k1 (bcrypto) in ${threads} worker thread(s)`)
      return layerWorkers({ threads, backend: "native" }).pipe(Layer.orDie)
    }
    if (st.available) {
      yield* Effect.logInfo(`signature verifier: native libsecp256k1 (bcrypto) in ${threads} worker thread(s)`)
      return layerWorkers({ threads, backend: "native" }).pipe(Layer.orDie)
    }
    yield* Effect.logWarning(
      `signature verifier: native backend not available (${st.reason}); using @noble/curves in ${threads} worker thread(s), ` +
        `about 30 times slower`
    )
    return layerWorkers({ threads, backend: "noble" }).pipe(Layer.orDie)
  })
)
