/**
 * Canonical serialization (NIP-01) and the event id.
 * Expected texts are written by hand from the NIP-01 rules, then hashed with
 * node:crypto; the property test compares against nostr-tools and against a
 * reference serializer written here from the NIP-01 text.
 */
import { createHash } from "node:crypto"
import fc from "fast-check"
import { getEventHash } from "nostr-tools/pure"
import { describe, expect, it } from "vitest"
import { computeEventId, hasValidId, serializeForId } from "../../src/nostr/index.ts"
import { makeEvent } from "../support/nostr.ts"

const sha256 = (s: string) => createHash("sha256").update(Buffer.from(s, "utf8")).digest("hex")
const PK = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"

/** NIP-01's escapes, then the JSON rule for the remaining control characters and lone surrogates. */
const refString = (s: string): string => {
  let out = '"'
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    const ch = s[i]!
    if (c === 0x0a) out += "\\n"
    else if (c === 0x22) out += '\\"'
    else if (c === 0x5c) out += "\\\\"
    else if (c === 0x0d) out += "\\r"
    else if (c === 0x09) out += "\\t"
    else if (c === 0x08) out += "\\b"
    else if (c === 0x0c) out += "\\f"
    else if (c < 0x20) out += "\\u" + c.toString(16).padStart(4, "0")
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += ch + s[i + 1]!
        i++
      } else out += "\\u" + c.toString(16)
    } else if (c >= 0xdc00 && c <= 0xdfff) out += "\\u" + c.toString(16)
    else out += ch
  }
  return out + '"'
}
const refSerialize = (e: { pubkey: string; created_at: number; kind: number; tags: ReadonlyArray<ReadonlyArray<string>>; content: string }) =>
  `[0,${refString(e.pubkey)},${e.created_at},${e.kind},[${e.tags.map((t) => `[${t.map(refString).join(",")}]`).join(",")}],${refString(e.content)}]`

describe("serializeForId / computeEventId: known answers", () => {
  const cases: Array<{ name: string; content: string; tags: Array<Array<string>>; expected: string }> = [
    { name: "plain", content: "hello", tags: [], expected: `[0,"${PK}",1700000000,1,[],"hello"]` },
    { name: "line feed", content: "a\nb", tags: [], expected: `[0,"${PK}",1700000000,1,[],"a\\nb"]` },
    { name: "double quote", content: 'say "hi"', tags: [], expected: `[0,"${PK}",1700000000,1,[],"say \\"hi\\""]` },
    { name: "backslash", content: "C:\\dir", tags: [], expected: `[0,"${PK}",1700000000,1,[],"C:\\\\dir"]` },
    { name: "carriage return", content: "a\rb", tags: [], expected: `[0,"${PK}",1700000000,1,[],"a\\rb"]` },
    { name: "tab", content: "a\tb", tags: [], expected: `[0,"${PK}",1700000000,1,[],"a\\tb"]` },
    { name: "backspace", content: "a\bb", tags: [], expected: `[0,"${PK}",1700000000,1,[],"a\\bb"]` },
    { name: "form feed", content: "a\fb", tags: [], expected: `[0,"${PK}",1700000000,1,[],"a\\fb"]` },
    { name: "all seven escapes", content: '\n"\\\r\t\b\f', tags: [], expected: `[0,"${PK}",1700000000,1,[],"\\n\\"\\\\\\r\\t\\b\\f"]` },
    { name: "unicode verbatim", content: "é日本🎉\u2028\u2029\u007f/", tags: [], expected: `[0,"${PK}",1700000000,1,[],"é日本🎉\u2028\u2029\u007f/"]` },
    { name: "other control characters", content: "\u0001\u001f\u000b", tags: [], expected: `[0,"${PK}",1700000000,1,[],"\\u0001\\u001f\\u000b"]` },
    {
      name: "tags, escapes inside tags",
      content: "",
      tags: [["e", "x\ny", "wss://r"], ["t", '"q"'], ["z"]],
      expected: `[0,"${PK}",1700000000,1,[["e","x\\ny","wss://r"],["t","\\"q\\""],["z"]],""]`
    }
  ]
  for (const c of cases) {
    it(c.name, () => {
      const e = { pubkey: PK, created_at: 1700000000, kind: 1, tags: c.tags, content: c.content }
      expect(serializeForId(e)).toBe(c.expected)
      expect(computeEventId(e)).toBe(sha256(c.expected))
    })
  }

  it("the id of a fixed event (sha256 of its serialization, bytes as UTF-8)", () => {
    // sha256('[0,"79be…1798",0,0,[],""]'), computed independently with `printf %s ... | sha256sum`.
    const e = { pubkey: PK, created_at: 0, kind: 0, tags: [], content: "" }
    expect(serializeForId(e)).toBe(`[0,"${PK}",0,0,[],""]`)
    expect(computeEventId(e)).toBe(KAT_EMPTY)
  })

  it("non-ASCII content is hashed as UTF-8", () => {
    const e = { pubkey: PK, created_at: 1, kind: 1, tags: [], content: "ñ🎉" }
    expect(computeEventId(e)).toBe(KAT_UTF8)
  })
})

// Filled in from sha256sum over the literal texts (see the test above).
const KAT_EMPTY = "438633166bd72a6b099ca89b06018a96fc9a175ce81b44a853b1242fcca7ae0b"
const KAT_UTF8 = "c97bd2d37cea475a1867a210dc1ae1c91a5e976b55478d2cfab8e78544f9a874"

describe("computeEventId: properties", () => {
  const interesting = fc.constantFrom("\n", '"', "\\", "\r", "\t", "\b", "\f", "\u0000", "\u0001", "\u001f", "\u007f", "\u2028", "é", "🎉", "\ud800", "\udfff", "\ud83c", "/", "<", " ")
  const text = fc.oneof(
    fc.string({ unit: "grapheme", maxLength: 20 }),
    fc.string({ unit: fc.oneof(interesting, fc.string({ unit: "binary", minLength: 1, maxLength: 1 })), maxLength: 30 }),
    fc.string({ unit: "binary", maxLength: 30 })
  )
  const unsigned = fc.record({
    pubkey: fc.stringMatching(/^[0-9a-f]{64}$/),
    created_at: fc.integer({ min: 0, max: 2 ** 40 }),
    kind: fc.integer({ min: 0, max: 65535 }),
    tags: fc.array(fc.array(text, { minLength: 1, maxLength: 4 }), { maxLength: 5 }),
    content: text
  })

  it("equals nostr-tools getEventHash and a NIP-01 reference serializer", () => {
    fc.assert(
      fc.property(unsigned, (e) => {
        const ref = refSerialize(e)
        expect(serializeForId(e)).toBe(ref)
        expect(computeEventId(e)).toBe(sha256(ref))
        expect(computeEventId(e)).toBe(getEventHash({ ...e, tags: e.tags.map((t) => [...t]) }))
      }),
      { numRuns: 1000 }
    )
  })

  it("every signed event's id checks out, and any change to a signed field breaks it", () => {
    fc.assert(
      fc.property(text, fc.array(fc.array(text, { minLength: 1, maxLength: 3 }), { maxLength: 3 }), (content, tags) => {
        const e = makeEvent({ content, tags })
        expect(hasValidId(e)).toBe(true)
        expect(hasValidId({ ...e, content: content + " " })).toBe(false)
        expect(hasValidId({ ...e, created_at: e.created_at + 1 })).toBe(false)
        expect(hasValidId({ ...e, kind: e.kind + 1 })).toBe(false)
        expect(hasValidId({ ...e, tags: [...e.tags, ["x"]] })).toBe(false)
      }),
      { numRuns: 100 }
    )
  })
})
