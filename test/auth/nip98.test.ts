/** NIP-98 authorization checks one by one (time passed explicitly). */
import { describe, expect, it } from "vitest"
import { makeReplayGuard, verifyNip98 } from "../../src/auth/nip98.ts"
import { newKey } from "../support/nostr.ts"
import { authEvent, authHeader } from "../support/nip98.ts"

const URL = "wss://relay.example.com"
const NOW = 1_800_000_000
const body = JSON.stringify({ method: "supportedmethods", params: [] })
const bytes = new TextEncoder().encode(body)

const check = (authorization: string | undefined, over: { method?: string; now?: number; body?: Uint8Array } = {}, replay = makeReplayGuard()) =>
  verifyNip98({ authorization, method: over.method ?? "POST", body: over.body ?? bytes, urls: [URL], now: over.now ?? NOW }, replay)

describe("verifyNip98", () => {
  const key = newKey()
  const header = (o: Parameters<typeof authHeader>[3] = {}) => authHeader(key, "https://relay.example.com/", body, { created_at: NOW, ...o })

  it("accepts a valid authorization naming the relay in its http or ws form", () => {
    expect(check(header())).toMatchObject({ pubkey: key.pk })
    expect(check(header({ url: "wss://relay.example.com" }))).toMatchObject({ pubkey: key.pk })
    expect(check(header({ created_at: NOW - 60 }))).toMatchObject({ pubkey: key.pk })
  })

  it("refuses each broken part with a reason", () => {
    const cases: Array<[string | undefined, RegExp]> = [
      [undefined, /missing Authorization/],
      ["Bearer x", /Nostr <base64 event>/],
      ["Nostr !!!", /Nostr <base64 event>/],
      ["Nostr " + Buffer.from("{not json").toString("base64"), /base64-encoded JSON/],
      [header({ kind: 1 }), /kind 27235/],
      [header({ url: "https://evil.example.com/" }), /u tag/],
      [header({ url: "http://relay.example.com/" }), /u tag/],
      [header({ method: "GET" }), /method/],
      [header({ payloadOf: null }), /payload tag/],
      [header({ payloadOf: "something else" }), /SHA-256/],
      [header({ created_at: NOW - 61 }), /created_at/],
      [header({ created_at: NOW + 61 }), /created_at/]
    ]
    for (const [h, reason] of cases) {
      const r = check(h)
      expect("error" in r ? r.error : "accepted", String(h).slice(0, 40)).toMatch(reason)
    }
    const e = authEvent(key, "https://relay.example.com/", body, { created_at: NOW })
    const forged = `Nostr ${Buffer.from(JSON.stringify({ ...e, sig: "1".repeat(128) })).toString("base64")}`
    expect(check(forged)).toMatchObject({ error: expect.stringMatching(/signature/) })
    const tampered = `Nostr ${Buffer.from(JSON.stringify({ ...e, content: "x" })).toString("base64")}`
    expect(check(tampered)).toMatchObject({ error: expect.stringMatching(/id/) })
  })

  it("accepts each authorization event once", () => {
    const replay = makeReplayGuard()
    const h = header()
    expect(check(h, {}, replay)).toMatchObject({ pubkey: key.pk })
    expect(check(h, {}, replay)).toMatchObject({ error: expect.stringMatching(/already used/) })
    expect(check(header({ created_at: NOW - 1 }), {}, replay)).toMatchObject({ pubkey: key.pk })
  })
})
