/**
 * NIP-19 keys in bech32 (BIP-173): `npub1...` and `nsec1...` decoded to their
 * 32 bytes, checksum verified. People paste keys in this form, so the tools
 * that take a key (admin's secret key, backup's user) accept it; one decoder
 * here, with the protocol, instead of one per command. Decoding only: the
 * relay never needs to print a bech32 key.
 */
import { bytesToHex } from "@noble/hashes/utils.js"

const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]

const polymod = (values: ReadonlyArray<number>): number => {
  let chk = 1
  for (const v of values) {
    const top = chk >> 25
    chk = ((chk & 0x1ffffff) << 5) ^ v
    for (let i = 0; i < 5; i++) if ((top >> i) & 1) chk ^= GENERATOR[i]!
  }
  return chk
}

/**
 * The 32-byte key of a NIP-19 `<prefix>1...` string, or why it is not one
 * (the messages name the prefix: "the npub checksum is wrong").
 */
export const decodeNip19Key = (text: string, prefix: "npub" | "nsec"): { readonly key: Uint8Array } | { readonly error: string } => {
  const t = text.trim()
  if (t !== t.toLowerCase() && t !== t.toUpperCase()) return { error: `the ${prefix} mixes upper and lower case` }
  const s = t.toLowerCase()
  if (!s.startsWith(`${prefix}1`) || s.lastIndexOf("1") !== prefix.length) return { error: `not an ${prefix}1... string` }
  const values: Array<number> = []
  for (const c of s.slice(prefix.length + 1)) {
    const v = CHARSET.indexOf(c)
    if (v === -1) return { error: `the ${prefix} contains a character bech32 does not use` }
    values.push(v)
  }
  if (values.length < 6) return { error: `the ${prefix} is too short` }
  const expanded = [...[...prefix].map((c) => c.charCodeAt(0) >> 5), 0, ...[...prefix].map((c) => c.charCodeAt(0) & 31)]
  if (polymod([...expanded, ...values]) !== 1) return { error: `the ${prefix} checksum is wrong` }
  // 5-bit groups to bytes; the padding left over must be fewer than 5 zero bits.
  let acc = 0
  let bits = 0
  const out: Array<number> = []
  for (const v of values.slice(0, -6)) {
    acc = ((acc << 5) | v) & 0xfff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out.push((acc >> bits) & 0xff)
    }
  }
  if (out.length !== 32 || bits >= 5 || (acc & ((1 << bits) - 1)) !== 0) return { error: `the ${prefix} does not hold a 32-byte key` }
  return { key: Uint8Array.from(out) }
}

/** A public key given as 64 hex characters or an npub, as lower-case hex; or why it is neither. */
export const parsePubkey = (text: string): { readonly pubkey: string } | { readonly error: string } => {
  const t = text.trim()
  if (/^[0-9a-fA-F]{64}$/.test(t)) return { pubkey: t.toLowerCase() }
  if (!/^npub1/i.test(t)) return { error: `${JSON.stringify(text)} is neither an npub1... nor 64 hex characters` }
  const r = decodeNip19Key(t, "npub")
  return "error" in r ? { error: r.error } : { pubkey: bytesToHex(r.key) }
}
