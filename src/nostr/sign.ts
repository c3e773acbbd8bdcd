/** Signing an event template with a secret key (BIP-340 Schnorr, as NIP-01 asks). */
import { schnorr } from "@noble/curves/secp256k1.js"
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js"
import { computeEventId, type NostrEvent } from "./event.ts"

export interface EventTemplate {
  readonly kind: number
  readonly created_at: number
  readonly tags: ReadonlyArray<ReadonlyArray<string>>
  readonly content: string
}

/** BIP-340 signature (hex) of an event id (hex) with a secret key. */
export type SchnorrSign = (sk: Uint8Array, id: string) => string

const nobleSign: SchnorrSign = (sk, id) => bytesToHex(schnorr.sign(hexToBytes(id), sk))

/**
 * The signed event; `pubkey` may be given when the caller has it already (deriving it costs a scalar
 * multiplication), and `sign` when a faster signer than noble's is at hand (a native library).
 */
export const signEvent = (
  sk: Uint8Array,
  t: EventTemplate,
  pubkey: string = bytesToHex(schnorr.getPublicKey(sk)),
  sign: SchnorrSign = nobleSign
): NostrEvent => {
  const body = { pubkey, created_at: t.created_at, kind: t.kind, tags: t.tags.map((x) => [...x]), content: t.content }
  const id = computeEventId(body)
  return { ...body, id, sig: sign(sk, id) }
}
