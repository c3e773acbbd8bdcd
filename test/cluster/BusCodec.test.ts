/**
 * The ClusterBus wire format: events packed into notifications under the
 * payload limit (counted in UTF-8 bytes), big ones cut into pieces that
 * never split a character, and put back together by the receiver in any
 * order, per origin and message, bounded in time and memory.
 */
import { Buffer } from "node:buffer"
import { describe, expect, it } from "vitest"
import { cutUtf8, makePacker, MAX_PAYLOAD, Reassembler, TAIL, type Received } from "../../src/cluster/BusCodec.ts"
import { eventJson, type NostrEvent } from "../../src/nostr/index.ts"
import { makeEvent, newKey } from "../support/nostr.ts"

const key = newKey()
const ev = (content: string, kind = 1): NostrEvent => makeEvent({ kind, created_at: 1_700_000_000, content }, key)
const ORIGIN_A = "aaaaaaaaaaaaaaaa"
const ORIGIN_B = "bbbbbbbbbbbbbbbb"
const ORIGIN_ME = "0123456789abcdef"

const eventsOf = (r: Received): ReadonlyArray<NostrEvent> => (r._tag === "Events" ? r.events : [])
const receiveAll = (rx: Reassembler, payloads: ReadonlyArray<string>, now = 0) => payloads.flatMap((p) => eventsOf(rx.push(p, now)))

describe("BusCodec", () => {
  it("packs small events into as few messages as fit the limit, each under it in bytes", () => {
    const events = Array.from({ length: 60 }, (_, i) => ev(`€${i}`.repeat(40)))
    const packer = makePacker(ORIGIN_A)
    const payloads = packer.payloads(events.map(eventJson))
    expect(payloads.length).toBeGreaterThan(1)
    expect(payloads.length).toBeLessThan(events.length)
    for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(MAX_PAYLOAD)
    expect(receiveAll(new Reassembler(ORIGIN_ME), payloads)).toEqual(events)
  })

  it("plans groups the SQL can rebuild: head + events of one group joined by ',' + tail", () => {
    const events = [ev("a"), ev("x".repeat(20_000)), ev("b")]
    const jsons = events.map(eventJson)
    const plan = makePacker(ORIGIN_A).plan(jsons)
    expect(plan.groups).toEqual([0, -1, 0])
    expect(new Set(plan.pieces.map((p) => p.event))).toEqual(new Set([1]))
    const rebuilt = plan.head + [jsons[0], jsons[2]].join(",") + TAIL
    expect(receiveAll(new Reassembler(ORIGIN_ME), [rebuilt, ...plan.pieces.map((p) => p.payload)])).toEqual([events[0], events[2], events[1]])
  })

  it("cuts at character boundaries: multibyte characters straddling every cut survive", () => {
    // 1-, 2-, 3- and 4-byte characters in a rotating pattern put every kind of character across the cuts.
    const text = Array.from({ length: 12_000 }, (_, i) => ["a", "é", "€", "😀"][i % 4]).join("")
    for (const room of [4, 5, 6, 7, 100, 7001]) {
      const pieces = cutUtf8(text, room)
      for (const p of pieces) {
        expect(Buffer.byteLength(p)).toBeLessThanOrEqual(room)
        expect(p.isWellFormed()).toBe(true)
      }
      expect(pieces.join("")).toBe(text)
    }
    const big = ev(text)
    const payloads = makePacker(ORIGIN_A).payloads([eventJson(big)])
    expect(payloads.length).toBeGreaterThanOrEqual(4)
    for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(MAX_PAYLOAD)
    expect(receiveAll(new Reassembler(ORIGIN_ME), payloads)).toEqual([big])
  })

  it("reassembles interleaved messages from two origins, pieces in any order", () => {
    const big1 = ev("1".repeat(30_000))
    const big2 = ev("2".repeat(25_000))
    const big3 = ev("3€".repeat(9_000))
    const fromA = makePacker(ORIGIN_A).payloads([eventJson(big1), eventJson(big3)])
    const fromB = makePacker(ORIGIN_B).payloads([eventJson(big2)])
    // Both origins use message number 0: they must not be confused.
    expect(fromA[0]!.split(":")[1]).toBe("0")
    expect(fromB[0]!.split(":")[1]).toBe("0")
    const mixed: Array<string> = []
    for (let i = 0; i < Math.max(fromA.length, fromB.length); i++) {
      if (i < fromB.length) mixed.push(fromB[fromB.length - 1 - i]!) // B's in reverse
      if (i < fromA.length) mixed.push(fromA[i]!)
    }
    const rx = new Reassembler(ORIGIN_ME)
    const got = receiveAll(rx, mixed)
    expect(got.map((e) => e.id).sort()).toEqual([big1, big2, big3].map((e) => e.id).sort())
    expect(rx.pending).toEqual({ messages: 0, chars: 0 })
  })

  it("skips its own origin, whole messages and pieces alike", () => {
    const packer = makePacker(ORIGIN_ME)
    const payloads = packer.payloads([eventJson(ev("small")), eventJson(ev("y".repeat(20_000)))])
    const rx = new Reassembler(ORIGIN_ME)
    for (const p of payloads) expect(rx.push(p, 0)._tag).toBe("Nothing")
    expect(rx.pending.messages).toBe(0)
  })

  it("drops incomplete messages after the time limit and beyond the memory cap", () => {
    const big = eventJson(ev("z".repeat(30_000)))
    const packer = makePacker(ORIGIN_A)
    const first = packer.payloads([big])
    const rx = new Reassembler(ORIGIN_ME, { ttlMs: 1000 })
    // All but the last piece, then the rest too late: the message is gone.
    for (const p of first.slice(0, -1)) expect(rx.push(p, 0)._tag).toBe("Nothing")
    expect(rx.pending.messages).toBe(1)
    expect(rx.push(first.at(-1)!, 1001)._tag).toBe("Nothing")
    expect(rx.dropped).toBe(1)
    expect(rx.pending.messages).toBe(1) // the late last piece, itself incomplete, until it ages out too
    expect(rx.push(eventJson(ev("unrelated")), 2002)._tag).toBe("Invalid")
    expect(rx.dropped).toBe(2)
    expect(rx.pending).toEqual({ messages: 0, chars: 0 })
    // Memory cap: with room for about one message, an older incomplete one is dropped for a newer.
    const capped = new Reassembler(ORIGIN_ME, { maxChars: 40_000 })
    const m1 = packer.payloads([big])
    const m2 = packer.payloads([big])
    for (const p of m1.slice(0, -1)) capped.push(p, 0)
    for (const p of m2.slice(0, -1)) capped.push(p, 0)
    expect(capped.dropped).toBe(1)
    expect(capped.pending.chars).toBeLessThanOrEqual(40_000)
    expect(eventsOf(capped.push(m1.at(-1)!, 0))).toEqual([]) // m1 was dropped: its last piece starts a new partial
    expect(eventsOf(capped.push(m2.at(-1)!, 0)).map(eventJson)).toEqual([big])
  })

  it("treats payloads as untrusted: bad JSON, bad headers and bad events are reported, not thrown", () => {
    const rx = new Reassembler(ORIGIN_ME)
    expect(rx.push("{not json", 0)._tag).toBe("Invalid")
    expect(rx.push(`{"o":"x"}`, 0)._tag).toBe("Invalid")
    expect(rx.push("hello", 0)._tag).toBe("Invalid")
    expect(rx.push("~x:0:5:2:abc", 0)._tag).toBe("Invalid")
    expect(rx.push("~x:0", 0)._tag).toBe("Invalid")
    expect(rx.push("~x:1:0:1:{broken", 0)._tag).toBe("Invalid")
    const r = rx.push(`{"o":"x","e":[{"id":"nope"},${eventJson(ev("ok"))}]}`, 0)
    expect(r).toMatchObject({ _tag: "Events", invalid: 1 })
    expect(eventsOf(r)).toHaveLength(1)
  })
})
