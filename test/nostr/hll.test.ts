import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { HLL_REGISTERS, hllAdd, hllHex, hllOffset } from "../../src/nostr/index.ts"
import { referenceHll, referenceOffset } from "../support/hll.ts"

const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString("hex"))

describe("NIP-45 HLL", () => {
  it("derives the offset from the first tag attribute's first value", () => {
    const id = "ab".repeat(16) + "7" + "c".repeat(31)
    expect(hllOffset({ tags: { e: [id] } })).toBe(7 + 8)
    expect(hllOffset({ tags: { a: [`30023:${id}:post`] } })).toBe(15)
    expect(hllOffset({ tags: { t: ["nostr"] } })).toBe(referenceOffset("nostr"))
    expect(hllOffset({ tags: { p: [id], e: ["0".repeat(64)] } })).toBe(15)
    expect(hllOffset({ kinds: [1] })).toBeUndefined()
    expect(hllOffset({ tags: { e: [] } })).toBeUndefined()
    fc.assert(fc.property(fc.string(), (v) => hllOffset({ tags: { t: [v] } }) === referenceOffset(v)))
  })

  it("fills registers exactly as the NIP's algorithm does", () => {
    fc.assert(
      fc.property(fc.array(hex64, { maxLength: 300 }), fc.integer({ min: 8, max: 23 }), (pubkeys, offset) => {
        const r = new Uint8Array(HLL_REGISTERS)
        for (const pk of pubkeys) hllAdd(r, pk, offset)
        expect(hllHex(r)).toBe(referenceHll(pubkeys, offset))
      })
    )
    // All-zero tail: every bit after the offset is zero.
    const r = new Uint8Array(HLL_REGISTERS)
    hllAdd(r, "11".repeat(8) + "05" + "00".repeat(23), 8)
    expect(r[5]).toBe(23 * 8 + 1)
  })
})
