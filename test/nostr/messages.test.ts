import { describe, expect, it } from "vitest"
import {
  decodeClientMessage,
  encodeAuth,
  encodeClosed,
  encodeCount,
  encodeEose,
  encodeEvent,
  encodeNegErr,
  encodeNegMsg,
  encodeNotice,
  encodeOk,
  eventFramePrefix,
  eventJson,
  type ClientMessage,
  type DecodeFailure
} from "../../src/nostr/index.ts"
import { makeEvent } from "../support/nostr.ts"

const message = (text: string): ClientMessage => {
  const d = decodeClientMessage(text)
  if (!("message" in d)) throw new Error(`unexpected failure for ${text}: ${d.failure.error}`)
  return d.message
}
const failure = (text: string): DecodeFailure => {
  const d = decodeClientMessage(text)
  if (!("failure" in d)) throw new Error(`expected ${text} to fail, got ${JSON.stringify(d.message)}`)
  return d.failure
}

describe("decodeClientMessage", () => {
  const ev = makeEvent({ tags: [["t", "x"]] })
  const evText = JSON.stringify(ev)

  it("EVENT", () => {
    expect(message(`["EVENT",${evText}]`)).toEqual({ type: "EVENT", event: ev })
    // Whitespace between tokens is fine: it is JSON.
    expect(message(` [ "EVENT" , ${evText} ] `)).toEqual({ type: "EVENT", event: ev })
    // The event is not checked here (the ingest pipeline does that).
    expect(message(`["EVENT","not an event"]`)).toEqual({ type: "EVENT", event: "not an event" })
  })

  it("EVENT with the wrong number of elements fails, with the event id when it can be read", () => {
    expect(failure(`["EVENT"]`)).toEqual({ error: expect.stringContaining("EVENT") })
    expect(failure(`["EVENT"]`).eventId).toBeUndefined()
    const extra = failure(`["EVENT",${evText},{}]`)
    expect(extra.eventId).toBe(ev.id)
    expect(extra.error).toContain("EVENT")
    expect(failure(`["EVENT",{"id":5},1]`).eventId).toBeUndefined()
    expect(failure(`["EVENT","x",1]`).eventId).toBeUndefined()
    expect(failure(`["EVENT",null,1]`).eventId).toBeUndefined()
  })

  it("REQ and COUNT: subscription id and one or more filters, kept unparsed", () => {
    for (const t of ["REQ", "COUNT"] as const) {
      expect(message(`["${t}","sub1",{}]`)).toEqual({ type: t, subId: "sub1", filters: [{}] })
      expect(message(`["${t}","s",{"kinds":[1]},{"authors":[]},7]`)).toEqual({ type: t, subId: "s", filters: [{ kinds: [1] }, { authors: [] }, 7] })
      expect(failure(`["${t}","sub1"]`)).toMatchObject({ subId: "sub1", error: expect.stringContaining("filter") })
      for (const bad of [`["${t}"]`, `["${t}","",{}]`, `["${t}",1,{}]`, `["${t}",null,{}]`, `["${t}",["s"],{}]`]) {
        const f = failure(bad)
        expect(f.subId).toBeUndefined()
        expect(f.error).toContain("subscription id")
      }
    }
  })

  it("CLOSE: exactly a subscription id", () => {
    expect(message(`["CLOSE","sub1"]`)).toEqual({ type: "CLOSE", subId: "sub1" })
    for (const bad of [`["CLOSE"]`, `["CLOSE",""]`, `["CLOSE",1]`, `["CLOSE","s","t"]`]) expect(failure(bad).error).toContain("CLOSE")
  })

  it("AUTH: exactly one event", () => {
    expect(message(`["AUTH",${evText}]`)).toEqual({ type: "AUTH", event: ev })
    expect(failure(`["AUTH"]`).error).toContain("AUTH")
    expect(failure(`["AUTH",${evText},1]`).error).toContain("AUTH")
  })

  it("NEG-OPEN, NEG-MSG, NEG-CLOSE (NIP-77)", () => {
    expect(message(`["NEG-OPEN","n",{"kinds":[1]},"6100"]`)).toEqual({ type: "NEG-OPEN", subId: "n", filter: { kinds: [1] }, message: "6100" })
    expect(message(`["NEG-MSG","n","61"]`)).toEqual({ type: "NEG-MSG", subId: "n", message: "61" })
    expect(message(`["NEG-CLOSE","n"]`)).toEqual({ type: "NEG-CLOSE", subId: "n" })
    expect(failure(`["NEG-OPEN","n",{}]`)).toMatchObject({ subId: "n", error: expect.stringContaining("NEG-OPEN") })
    expect(failure(`["NEG-OPEN","n",{},61]`)).toMatchObject({ subId: "n" })
    expect(failure(`["NEG-OPEN","n",{},"61","x"]`)).toMatchObject({ subId: "n" })
    expect(failure(`["NEG-OPEN","",{},"61"]`).subId).toBeUndefined()
    expect(failure(`["NEG-MSG","n"]`)).toMatchObject({ subId: "n", error: expect.stringContaining("NEG-MSG") })
    expect(failure(`["NEG-MSG","n",{}]`)).toMatchObject({ subId: "n" })
    expect(failure(`["NEG-MSG",1,"61"]`).subId).toBeUndefined()
    expect(failure(`["NEG-CLOSE"]`).error).toContain("NEG-CLOSE")
    expect(failure(`["NEG-CLOSE","n","x"]`).error).toContain("NEG-CLOSE")
  })

  it("malformed frames fail with a reason", () => {
    expect(failure(``).error).toMatch(/JSON/)
    expect(failure(`["REQ","s",{}`).error).toMatch(/JSON/)
    expect(failure(`not json`).error).toMatch(/JSON/)
    expect(failure(`{"type":"EVENT"}`).error).toMatch(/array/)
    expect(failure(`"EVENT"`).error).toMatch(/array/)
    expect(failure(`null`).error).toMatch(/array/)
    expect(failure(`[]`).error).toMatch(/array/)
    expect(failure(`[1,"s"]`).error).toMatch(/type/)
    expect(failure(`[null]`).error).toMatch(/type/)
    expect(failure(`["event",{}]`).error).toContain("unknown message type")
    expect(failure(`["PUBLISH",{}]`).error).toContain("PUBLISH")
    // A huge unknown tag is not echoed back whole.
    expect(failure(JSON.stringify(["X".repeat(10_000)])).error.length).toBeLessThan(100)
  })
})

describe("relay frames", () => {
  const e = makeEvent({ kind: 1, tags: [["p", "a".repeat(64)]], content: 'He said "hi"\n' })
  const json =
    `{"id":"${e.id}","pubkey":"${e.pubkey}","created_at":${e.created_at},"kind":1,` +
    `"tags":[["p","${"a".repeat(64)}"]],"content":"He said \\"hi\\"\\n","sig":"${e.sig}"}`

  it("EVENT", () => {
    expect(encodeEvent("sub1", e)).toBe(`["EVENT","sub1",${json}]`)
    expect(JSON.parse(encodeEvent("sub1", e))).toEqual(["EVENT", "sub1", e])
    expect(eventFramePrefix("sub1") + eventJson(e) + "]").toBe(encodeEvent("sub1", e))
    expect(encodeEvent('a"b\\', e)).toBe(`["EVENT","a\\"b\\\\",${json}]`)
  })

  it("OK", () => {
    expect(encodeOk(e.id, true, "")).toBe(`["OK","${e.id}",true,""]`)
    expect(encodeOk(e.id, false, "blocked: you are banned")).toBe(`["OK","${e.id}",false,"blocked: you are banned"]`)
    expect(encodeOk(e.id, true, 'duplicate: "x"')).toBe(`["OK","${e.id}",true,"duplicate: \\"x\\""]`)
  })

  it("EOSE, CLOSED, NOTICE, AUTH", () => {
    expect(encodeEose("s")).toBe(`["EOSE","s"]`)
    expect(encodeClosed("s", "error: shutting down idle subscription")).toBe(`["CLOSED","s","error: shutting down idle subscription"]`)
    expect(encodeNotice("bad\nthing")).toBe(`["NOTICE","bad\\nthing"]`)
    expect(encodeAuth("challenge-123")).toBe(`["AUTH","challenge-123"]`)
  })

  it("COUNT (NIP-45)", () => {
    expect(encodeCount("c", 0)).toBe(`["COUNT","c",{"count":0}]`)
    expect(encodeCount("c", 238)).toBe(`["COUNT","c",{"count":238}]`)
    expect(encodeCount("c", 238, false)).toBe(`["COUNT","c",{"count":238}]`)
    expect(encodeCount("c", 93412452, true)).toBe(`["COUNT","c",{"count":93412452,"approximate":true}]`)
  })

  it("NEG-MSG, NEG-ERR (NIP-77)", () => {
    expect(encodeNegMsg("n", "6100")).toBe(`["NEG-MSG","n","6100"]`)
    expect(encodeNegErr("n", "closed: too slow")).toBe(`["NEG-ERR","n","closed: too slow"]`)
  })
})
