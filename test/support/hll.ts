/**
 * NIP-45 HyperLogLog written from the NIP's text with strings and bits, as a
 * reference independent of src/nostr/hll.ts.
 */
import { createHash } from "node:crypto"

export const referenceOffset = (firstTagValue: string): number => {
  let hex: string
  if (/^[0-9a-f]{64}$/.test(firstTagValue)) hex = firstTagValue
  else if (/^\d+:[0-9a-f]{64}:/.test(firstTagValue)) hex = firstTagValue.split(":")[1]!
  else hex = createHash("sha256").update(firstTagValue).digest("hex")
  return parseInt(hex.charAt(32), 16) + 8
}

/** 512 hex characters: the registers over these pubkeys (hex). */
export const referenceHll = (pubkeys: Iterable<string>, offset: number): string => {
  const registers = new Array<number>(256).fill(0)
  for (const pk of pubkeys) {
    const bytes = pk.match(/../g)!.map((b) => parseInt(b, 16))
    const ri = bytes[offset]!
    const bits = bytes.slice(offset + 1).map((b) => b.toString(2).padStart(8, "0")).join("")
    const firstOne = bits.indexOf("1")
    const value = (firstOne === -1 ? bits.length : firstOne) + 1
    registers[ri] = Math.max(registers[ri]!, value)
  }
  return registers.map((r) => r.toString(16).padStart(2, "0")).join("")
}

/** Merges register strings by taking the highest value of each register. */
export const mergeHll = (...hlls: ReadonlyArray<string>): string => {
  const out = new Array<number>(256).fill(0)
  for (const h of hlls) for (let i = 0; i < 256; i++) out[i] = Math.max(out[i]!, parseInt(h.slice(i * 2, i * 2 + 2), 16))
  return out.map((r) => r.toString(16).padStart(2, "0")).join("")
}
