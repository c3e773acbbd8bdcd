import { describe, expect, it } from "vitest"
import { dTagOf, expirationOf, isAddressable, isEphemeral, isReplaceable, kindClass, replacementKey, supersedes } from "../../src/nostr/kinds.ts"
import { makeEvent, newKey, sameSecond } from "../support/nostr.ts"

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

describe("kind class predicates", () => {
  it("match the NIP-01 ranges at every boundary", () => {
    const replaceable = (n: number) => n === 0 || n === 3 || (10000 <= n && n < 20000)
    const ephemeral = (n: number) => 20000 <= n && n < 30000
    const addressable = (n: number) => 30000 <= n && n < 40000
    const wrong: Array<number> = []
    for (let n = 0; n <= 65535; n++) {
      const want = replaceable(n) ? "replaceable" : ephemeral(n) ? "ephemeral" : addressable(n) ? "addressable" : "regular"
      if (
        kindClass(n) !== want ||
        isReplaceable(n) !== replaceable(n) ||
        isEphemeral(n) !== ephemeral(n) ||
        isAddressable(n) !== addressable(n)
      ) wrong.push(n)
    }
    expect(wrong).toEqual([])
  })
})

describe("dTagOf / replacementKey", () => {
  const k = newKey()
  it("missing, valueless and empty d are all the empty address", () => {
    expect(dTagOf(makeEvent({ kind: 30000 }, k))).toBe("")
    expect(dTagOf(makeEvent({ kind: 30000, tags: [["d"]] }, k))).toBe("")
    expect(dTagOf(makeEvent({ kind: 30000, tags: [["d", ""]] }, k))).toBe("")
    expect(dTagOf(makeEvent({ kind: 30000, tags: [["d", "x", "y"], ["d", "z"]] }, k))).toBe("x")
  })

  it("is kind:pubkey: for replaceable, kind:pubkey:d for addressable, undefined otherwise", () => {
    expect(replacementKey(makeEvent({ kind: 0, tags: [["d", "ignored"]] }, k))).toBe(`0:${k.pk}:`)
    expect(replacementKey(makeEvent({ kind: 10002 }, k))).toBe(`10002:${k.pk}:`)
    expect(replacementKey(makeEvent({ kind: 30023, tags: [["d", "slug"]] }, k))).toBe(`30023:${k.pk}:slug`)
    expect(replacementKey(makeEvent({ kind: 30023 }, k))).toBe(`30023:${k.pk}:`)
    // A d value may contain ':'; the address still keeps it whole.
    expect(replacementKey(makeEvent({ kind: 30023, tags: [["d", "a:b"]] }, k))).toBe(`30023:${k.pk}:a:b`)
    expect(replacementKey(makeEvent({ kind: 1 }, k))).toBeUndefined()
    expect(replacementKey(makeEvent({ kind: 20001 }, k))).toBeUndefined()
    expect(replacementKey(makeEvent({ kind: 40000 }, k))).toBeUndefined()
  })
})

describe("supersedes", () => {
  it("newer wins; in the same second the lowest id wins; never itself", () => {
    const k = newKey()
    const older = makeEvent({ kind: 0, created_at: 10 }, k)
    const newer = makeEvent({ kind: 0, created_at: 11 }, k)
    const [low, high] = sameSecond({ kind: 0, created_at: 10 }, k)
    expect(supersedes(newer, older)).toBe(true)
    expect(supersedes(older, newer)).toBe(false)
    expect(supersedes(low!, high!)).toBe(true)
    expect(supersedes(high!, low!)).toBe(false)
    expect(supersedes(low!, low!)).toBe(false)
  })
})

describe("expirationOf (NIP-40)", () => {
  it("reads the first expiration tag as unix seconds", () => {
    expect(expirationOf(makeEvent({ tags: [["expiration", "1600000000"]] }))).toBe(1600000000)
    expect(expirationOf(makeEvent({ tags: [["expiration", "0"]] }))).toBe(0)
    expect(expirationOf(makeEvent({ tags: [["expiration", "5"], ["expiration", "9"]] }))).toBe(5)
    expect(expirationOf(makeEvent({}))).toBeUndefined()
  })

  it("ignores malformed values", () => {
    for (const v of ["", "soon", "-1", "1.5", " 16", "1e9", "0x10", "9".repeat(16)]) {
      expect(expirationOf(makeEvent({ tags: [["expiration", v]] }))).toBeUndefined()
    }
    expect(expirationOf(makeEvent({ tags: [["expiration"]] }))).toBeUndefined()
  })
})
