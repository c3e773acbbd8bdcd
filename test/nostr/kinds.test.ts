import { describe, expect, it } from "vitest"
import { kindClass } from "../../src/nostr/kinds.ts"

describe("kindClass", () => {
  it("classifies NIP-01 ranges", () => {
    expect(kindClass(1)).toBe("regular")
    expect(kindClass(2)).toBe("regular")
    expect(kindClass(0)).toBe("replaceable")
    expect(kindClass(3)).toBe("replaceable")
    expect(kindClass(10002)).toBe("replaceable")
    expect(kindClass(19999)).toBe("replaceable")
    expect(kindClass(20000)).toBe("ephemeral")
    expect(kindClass(29999)).toBe("ephemeral")
    expect(kindClass(30000)).toBe("addressable")
    expect(kindClass(39999)).toBe("addressable")
    expect(kindClass(40000)).toBe("regular")
    expect(kindClass(1000)).toBe("regular")
  })
})
