import { describe, expect, it } from "vitest"
import {
  AuthRequired,
  Blocked,
  Duplicate,
  encodeClosed,
  encodeOk,
  Invalid,
  Mute,
  Pow,
  RateLimited,
  reasonOf,
  Restricted,
  ServerError,
  Unsupported,
  type Rejection
} from "../../src/nostr/index.ts"

describe("rejections", () => {
  const all: ReadonlyArray<readonly [Rejection, string]> = [
    [new Invalid({ message: "bad id" }), "invalid: bad id"],
    [new Duplicate({ message: "already have this event" }), "duplicate: already have this event"],
    [new Blocked({ message: "you are banned from posting here" }), "blocked: you are banned from posting here"],
    [new RateLimited({ message: "slow down there chief" }), "rate-limited: slow down there chief"],
    [new Pow({ message: "difficulty 26 is less than 30" }), "pow: difficulty 26 is less than 30"],
    [new Restricted({ message: "not allowed to write." }), "restricted: not allowed to write."],
    [new AuthRequired({ message: "we only serve DMs to their recipients" }), "auth-required: we only serve DMs to their recipients"],
    [new Mute({ message: "no one was listening" }), "mute: no one was listening"],
    [new Unsupported({ message: "filter contains unknown elements" }), "unsupported: filter contains unknown elements"],
    [new ServerError({ message: "could not connect to the database" }), "error: could not connect to the database"]
  ]

  it("reasonOf renders the NIP-01 `prefix: message` form", () => {
    for (const [r, text] of all) expect(reasonOf(r)).toBe(text)
  })

  it("the prefixes are NIP-01's standard ones plus auth-required (NIP-42) and unsupported", () => {
    const nip01 = ["duplicate", "pow", "blocked", "rate-limited", "invalid", "restricted", "mute", "error"]
    expect(all.map(([r]) => r.prefix).sort()).toEqual([...nip01, "auth-required", "unsupported"].sort())
    // Machine-readable: one word, no colon or space inside.
    for (const [r] of all) expect(r.prefix).toMatch(/^[a-z]+(-[a-z]+)*$/)
  })

  it("each rejection has its own tag, usable with Effect.catchTag", () => {
    const tags = all.map(([r]) => r._tag)
    expect(new Set(tags).size).toBe(all.length)
  })

  it("goes into OK and CLOSED frames", () => {
    const r = new Blocked({ message: 'pubkey "x" banned' })
    expect(encodeOk("a".repeat(64), false, reasonOf(r))).toBe(`["OK","${"a".repeat(64)}",false,"blocked: pubkey \\"x\\" banned"]`)
    expect(encodeClosed("s", reasonOf(new Unsupported({ message: "nope" })))).toBe(`["CLOSED","s","unsupported: nope"]`)
  })
})
