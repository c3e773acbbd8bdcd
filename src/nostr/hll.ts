/**
 * NIP-45 HyperLogLog: 256 one-byte registers over the pubkeys of the counted
 * events, at an offset derived from the filter's first tag value.
 */
import { createHash } from "node:crypto"
import { isHex64 } from "./event.ts"
import type { Filter } from "./filter.ts"

export const HLL_REGISTERS = 256

/**
 * The offset for a filter, or undefined when the filter has no tag attribute
 * (HLL is not defined for it). From the first tag attribute's first value: a
 * 64-hex id or pubkey as is, an address's pubkey, else its SHA-256; the hex
 * digit at position 32, plus 8.
 */
export const hllOffset = (f: Filter): number | undefined => {
  if (f.tags === undefined) return undefined
  const first = Object.values(f.tags)[0]
  const value = first?.[0]
  if (value === undefined) return undefined
  let hex: string
  if (isHex64(value)) hex = value
  else {
    const m = /^\d+:([0-9a-f]{64}):/.exec(value)
    hex = m !== null ? m[1]! : createHash("sha256").update(value, "utf8").digest("hex")
  }
  return parseInt(hex[32]!, 16) + 8
}

/** The register and value one pubkey contributes: (byte at `offset`, leading zero bits after it + 1). */
export const hllContribution = (pubkey: Uint8Array, offset: number): readonly [number, number] => {
  let zeros = 0
  for (let i = offset + 1; i < pubkey.length; i++) {
    const b = pubkey[i]!
    if (b === 0) {
      zeros += 8
      continue
    }
    zeros += Math.clz32(b) - 24
    break
  }
  return [pubkey[offset]!, zeros + 1]
}

/** Adds one pubkey (hex) to the registers. */
export const hllAdd = (registers: Uint8Array, pubkeyHex: string, offset: number): void => {
  const [ri, rho] = hllContribution(Buffer.from(pubkeyHex, "hex"), offset)
  if (rho > registers[ri]!) registers[ri] = rho
}

export const hllHex = (registers: Uint8Array): string => Buffer.from(registers).toString("hex")
