/** The @noble/curves backend (pure JS); in its own file so native workers never load it. */
import { schnorr } from "@noble/curves/secp256k1.js"
import type { VerifyFn } from "./backends.ts"

export const verifyWithNoble: VerifyFn = (msg, sig, pub) => {
  try {
    return schnorr.verify(sig, msg, pub)
  } catch {
    return false
  }
}
