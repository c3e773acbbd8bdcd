/**
 * BIP-340 signature checks as a service. The interface takes batches so an
 * implementation can move the work off the I/O thread (worker threads) and
 * amortise the hand-off; `layerNoble` is the pure-JS reference every other
 * implementation is tested against.
 */
import { schnorr } from "@noble/curves/secp256k1.js"
import { hexToBytes } from "@noble/hashes/utils.js"
import { Context, Effect, Layer } from "effect"
import type { NostrEvent } from "../nostr/index.ts"

export interface SignatureVerifierShape {
  /** One result per event, in order: true when `sig` is a valid BIP-340 signature of `id` by `pubkey`. */
  readonly verifyBatch: (events: ReadonlyArray<NostrEvent>) => Effect.Effect<ReadonlyArray<boolean>>
  readonly verify: (event: NostrEvent) => Effect.Effect<boolean>
}

export class SignatureVerifier extends Context.Service<SignatureVerifier, SignatureVerifierShape>()(
  "parrhesia/ingest/SignatureVerifier"
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
