/**
 * BIP-340 verification backends, and the packed form events travel in
 * between the I/O thread and the verifier workers.
 *
 * - "native": bcrypto's C addon (libsecp256k1's schnorrsig module, built by
 *   node-gyp at install), ~20,000 verifies/s per core here.
 * - "noble": @noble/curves, pure JS, ~600-750 verifies/s per core: the
 *   reference, and the fallback where the addon did not build (noble.ts,
 *   kept apart so native workers do not load it).
 *
 * This file must run as-is under Node's type stripping (worker threads load
 * it without any bundler): erasable syntax only, `.ts` import extensions.
 */
import { createRequire } from "node:module"

export type BackendName = "native" | "noble"

/** `msg` is the 32-byte event id, `sig` 64 bytes, `pub` the 32-byte x-only key. Never throws. */
export type VerifyFn = (msg: Buffer, sig: Buffer, pub: Buffer) => boolean

/** Bytes per packed event: id (32) | pubkey (32) | sig (64). */
export const PACKED_SIZE = 128

interface BcryptoSchnorr {
  readonly native: number
  readonly verify: (msg: Buffer, sig: Buffer, key: Buffer) => boolean
}

let nativeCache: { readonly ok: true; readonly verify: VerifyFn } | { readonly ok: false; readonly reason: string } | undefined

/**
 * Loads bcrypto's native schnorr module. `bcrypto/lib/native/schnorr` needs
 * the compiled addon (it throws when build/Release/bcrypto.node is missing:
 * there is no silent JS fallback on this path), and `native === 2` is
 * bcrypto's own mark of a native backend. The result is cached.
 * PARRHESIA_NO_NATIVE_VERIFIER=1 makes it report "not loadable" (to try the
 * fallback path).
 */
export const loadNative = (): { readonly ok: true; readonly verify: VerifyFn } | { readonly ok: false; readonly reason: string } => {
  if (process.env["PARRHESIA_NO_NATIVE_VERIFIER"] === "1") {
    return { ok: false, reason: "the native backend is disabled by PARRHESIA_NO_NATIVE_VERIFIER=1" }
  }
  if (nativeCache !== undefined) return nativeCache
  try {
    const require = createRequire(import.meta.url)
    const mod = require("bcrypto/lib/native/schnorr") as BcryptoSchnorr
    if (mod.native !== 2 || typeof mod.verify !== "function") {
      nativeCache = { ok: false, reason: "bcrypto/lib/native/schnorr loaded but is not the native backend" }
      return nativeCache
    }
    const verify: VerifyFn = (msg, sig, pub) => {
      try {
        return mod.verify(msg, sig, pub)
      } catch {
        return false
      }
    }
    const st = selfTest(verify)
    nativeCache = st === undefined ? { ok: true, verify } : { ok: false, reason: `native backend failed its self-test: ${st}` }
  } catch (e) {
    const msg = e instanceof Error ? e.message.split("\n")[0] : String(e)
    nativeCache = {
      ok: false,
      reason: `the optional package bcrypto (native libsecp256k1) is not installed or its addon did not build (${msg}); run \`npm ci\` with g++ and make available`
    }
  }
  return nativeCache
}

// BIP-340 test vector 1 (valid); the same with one bit of `s` flipped must fail.
const TV_PUB = "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659"
const TV_MSG = "243f6a8885a308d313198a2e03707344a4093822299f31d0082efa98ec4e6c89"
const TV_SIG =
  "6896bd60eeae296db48a229ff71dfe071bde413e6d43f917dc8dcf8c78de33418906d11ac976abccb20b091292bff4ea897efcb639ea871cfa95f6de339e4b0a"

/** Undefined when `verify` accepts the BIP-340 vector and rejects a corrupted one; else what went wrong. */
export const selfTest = (verify: VerifyFn): string | undefined => {
  const msg = Buffer.from(TV_MSG, "hex")
  const pub = Buffer.from(TV_PUB, "hex")
  const sig = Buffer.from(TV_SIG, "hex")
  if (!verify(msg, sig, pub)) return "rejected the BIP-340 test vector"
  const bad = Buffer.from(sig)
  bad[63] = (bad[63] ?? 0) ^ 1
  if (verify(msg, bad, pub)) return "accepted a corrupted signature"
  return undefined
}

/**
 * Writes one event's id, pubkey and sig into `buf` at `offset`. False when a
 * field is not exactly the right length of hex (such an event is simply not
 * valid and is not sent to a worker).
 */
export const packInto = (buf: Buffer, offset: number, id: string, pubkey: string, sig: string): boolean =>
  typeof id === "string" && id.length === 64 && typeof pubkey === "string" && pubkey.length === 64 &&
  typeof sig === "string" && sig.length === 128 &&
  buf.write(id, offset, 32, "hex") === 32 &&
  buf.write(pubkey, offset + 32, 32, "hex") === 32 &&
  buf.write(sig, offset + 64, 64, "hex") === 64

/** Verifies `n` packed events; out[i] = 1 when event i is valid. */
export const verifyPacked = (verify: VerifyFn, buf: Buffer, n: number, out: Uint8Array): void => {
  for (let i = 0; i < n; i++) {
    const o = i * PACKED_SIZE
    out[i] = verify(buf.subarray(o, o + 32), buf.subarray(o + 64, o + 128), buf.subarray(o + 32, o + 64)) ? 1 : 0
  }
}
