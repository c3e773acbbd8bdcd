import { describe, expect, it } from "vitest"
import { committedTarget, powDifficulty } from "../../src/nostr/index.ts"
import { makeEvent } from "../support/nostr.ts"

describe("NIP-13", () => {
  it("counts leading zero bits as the NIP's examples do", () => {
    expect(powDifficulty("000000000e9d97a1ab09fc381030b346cdd7a142ad57e6df0b46dc9bef6c7e2d")).toBe(36)
    expect(powDifficulty("002f" + "f".repeat(60))).toBe(10)
    expect(powDifficulty("8" + "0".repeat(63))).toBe(0)
    expect(powDifficulty("1" + "0".repeat(63))).toBe(3)
    expect(powDifficulty("0".repeat(64))).toBe(256)
  })

  it("reads the committed target from the nonce tag", () => {
    expect(committedTarget(makeEvent({ tags: [["nonce", "776797", "20"]] }))).toBe(20)
    expect(committedTarget(makeEvent({ tags: [["nonce", "776797"]] }))).toBeUndefined()
    expect(committedTarget(makeEvent({ tags: [["nonce", "1", "x"]] }))).toBeUndefined()
    expect(committedTarget(makeEvent({}))).toBeUndefined()
  })
})
