import { describe, expect, it } from "vitest"
import { eventJson, firstTagValue, parseEventShape, type NostrEvent } from "../../src/nostr/index.ts"
import { makeEvent } from "../support/nostr.ts"

const good = (): Record<string, unknown> => ({ ...makeEvent({ tags: [["e", "a".repeat(64)], ["t", "x"]] }) })

const rejects = (u: unknown, mention?: RegExp) => {
  const r = parseEventShape(u)
  expect("error" in r, `expected rejection of ${JSON.stringify(u)}`).toBe(true)
  if ("error" in r && mention) expect(r.error).toMatch(mention)
}
const accepts = (u: unknown): NostrEvent => {
  const r = parseEventShape(u)
  if ("error" in r) throw new Error(`unexpected rejection: ${r.error}`)
  return r.event
}

describe("parseEventShape", () => {
  it("accepts a signed event and returns its seven fields unchanged", () => {
    const e = makeEvent({ kind: 30023, tags: [["d", "x"], ["alt", "a", "b"]], content: "hi\n" })
    expect(accepts(JSON.parse(JSON.stringify(e)))).toEqual(e)
  })

  it("rejects anything that is not a JSON object", () => {
    for (const u of [null, undefined, 1, "event", true, [], [good()]]) rejects(u)
  })

  for (const [field, len] of [
    ["id", 64],
    ["pubkey", 64],
    ["sig", 128]
  ] as const) {
    it(`${field}: must be exactly ${len} lowercase hex characters`, () => {
      const base = good()
      const valid = base[field] as string
      const bad: Array<unknown> = [
        undefined,
        null,
        42,
        valid.slice(1), // too short
        valid + "0", // too long
        "",
        valid.toUpperCase().replace(/^[0-9]+/, "A"), // uppercase hex
        "A" + valid.slice(1),
        "g" + valid.slice(1), // not hex
        " " + valid.slice(1),
        valid.slice(1) + "\n",
        [valid]
      ]
      for (const v of bad) {
        const u = { ...base }
        if (v === undefined) delete u[field]
        else u[field] = v
        rejects(u, new RegExp(field))
      }
      accepts({ ...base, [field]: "0".repeat(len) })
      accepts({ ...base, [field]: "abcdef0123456789".repeat(len / 16) })
    })
  }

  it("created_at: a non-negative integer", () => {
    for (const v of [undefined, null, "1700000000", 1.5, -1, NaN, Infinity, -Infinity, 2 ** 53, 1e300, true]) {
      const u = good()
      if (v === undefined) delete u.created_at
      else u.created_at = v
      rejects(u, /created_at/)
    }
    expect(accepts({ ...good(), created_at: 0 }).created_at).toBe(0)
    expect(accepts({ ...good(), created_at: 2 ** 53 - 1 }).created_at).toBe(2 ** 53 - 1)
  })

  it("kind: an integer between 0 and 65535", () => {
    for (const v of [undefined, null, "1", 1.5, -1, 65536, 2 ** 32, NaN, Infinity]) {
      const u = good()
      if (v === undefined) delete u.kind
      else u.kind = v
      rejects(u, /kind/)
    }
    expect(accepts({ ...good(), kind: 0 }).kind).toBe(0)
    expect(accepts({ ...good(), kind: 65535 }).kind).toBe(65535)
  })

  it("content: a string", () => {
    for (const v of [undefined, null, 1, ["x"], { text: "x" }, true]) {
      const u = good()
      if (v === undefined) delete u.content
      else u.content = v
      rejects(u, /content/)
    }
    expect(accepts({ ...good(), content: "" }).content).toBe("")
  })

  it("tags: an array of non-empty arrays of strings", () => {
    const bad: Array<unknown> = [
      undefined,
      null,
      "e",
      { 0: ["e", "x"] },
      ["e"],
      [[]],
      [["e", "x"], []],
      [["e", 1]],
      [["e", null]],
      [[1]],
      [["e", "x"], ["p", ["nested"]]],
      [["t", "x"], "t"],
      [null]
    ]
    for (const v of bad) {
      const u = good()
      if (v === undefined) delete u.tags
      else u.tags = v
      rejects(u, /tag/)
    }
    expect(accepts({ ...good(), tags: [] }).tags).toEqual([])
    expect(accepts({ ...good(), tags: [["x"], ["", ""], ["e", "a", "b", "c"]] }).tags).toEqual([["x"], ["", ""], ["e", "a", "b", "c"]])
  })

  it("drops fields outside NIP-01", () => {
    const e = makeEvent({})
    const r = accepts({ ...e, seenOn: ["wss://x"], relays: 1, id2: "x", __proto_like: {} })
    expect(Object.keys(r).sort()).toEqual(["content", "created_at", "id", "kind", "pubkey", "sig", "tags"])
    expect(r).toEqual(e)
  })
})

describe("eventJson", () => {
  it("is the event's JSON with exactly the seven fields, in NIP-01 order", () => {
    const e = makeEvent({ tags: [["t", "a\"b"]], content: "x\ny" })
    const withExtra = { ...e, extra: 1 } as NostrEvent
    const expected =
      `{"id":"${e.id}","pubkey":"${e.pubkey}","created_at":${e.created_at},"kind":${e.kind},` +
      `"tags":[["t","a\\"b"]],"content":"x\\ny","sig":"${e.sig}"}`
    expect(eventJson(withExtra)).toBe(expected)
    expect(JSON.parse(eventJson(e))).toEqual(e)
    // Cached per object: asking again gives the same text.
    expect(eventJson(withExtra)).toBe(expected)
  })
})

describe("firstTagValue", () => {
  it("returns the first value of the first tag with that name", () => {
    const e = makeEvent({ tags: [["x"], ["d", "one", "two"], ["d", "three"]] })
    expect(firstTagValue(e, "d")).toBe("one")
    expect(firstTagValue(e, "x")).toBeUndefined()
    expect(firstTagValue(e, "p")).toBeUndefined()
  })
})

describe("parseEventShape: text that has no UTF-8 form", () => {
  const base = {
    id: "a".repeat(64),
    pubkey: "b".repeat(64),
    sig: "c".repeat(128),
    created_at: 1,
    kind: 1,
    tags: [] as Array<Array<string>>,
    content: ""
  }
  it("refuses a lone surrogate in content", () => {
    expect(parseEventShape({ ...base, content: "x\ud800y" })).toEqual({ error: "content contains an unpaired UTF-16 surrogate" })
  })
  it("refuses a lone surrogate in a tag", () => {
    expect(parseEventShape({ ...base, tags: [["t", "\udc00"]] })).toEqual({ error: "tag 0 contains an unpaired UTF-16 surrogate" })
  })
  it("accepts paired surrogates (emoji)", () => {
    expect("event" in parseEventShape({ ...base, content: "😀", tags: [["t", "😀"]] })).toBe(true)
  })
})
