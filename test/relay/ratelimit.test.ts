/**
 * Rate limits and the upgrade gate end to end: `rate-limited:` answers for
 * EVENT (OK) and REQ/COUNT (CLOSED), per connection, IP and pubkey; the
 * disconnect after refusals in a row; the cap on connections per IP (429);
 * blocked IPs (403); X-Forwarded-For honoured only from trusted proxies.
 * Frames are sent back to back and the buckets refill at 1 token/s, so the
 * counts do not depend on the machine's speed.
 */
import { describe, expect, it } from "vitest"
import type { Settings } from "../../src/config/settings.ts"
import { makeEvent, newKey, type Key } from "../support/nostr.ts"
import { startRelay, type TestRelay } from "../support/relay.ts"
import { useRelays } from "../support/relays.ts"
import { connect, forSub, isOk, now, type RawClient } from "../support/ws.ts"

const relays = useRelays((o) => startRelay({ rateLimitBurstSeconds: 3, ...o }), { perTest: true })
const start = relays.start
const open = relays.open

/** Sends EVENTs back to back; resolves with each OK's message ("" when accepted). */
const burst = async (c: RawClient, n: number, key?: Key) => {
  const events = Array.from({ length: n }, () => makeEvent({ created_at: now() }, key))
  for (const e of events) c.send(["EVENT", e])
  return Promise.all(events.map(async (e): Promise<string> => String((await c.next(isOk(e.id)))[3])))
}
const refused = (messages: ReadonlyArray<string>) => messages.filter((m) => m.startsWith("rate-limited: ")).length

const authAs = async (c: RawClient, r: TestRelay, key: Key) => {
  const challenge = (await c.next((f) => f[0] === "AUTH"))[1]
  const e = makeEvent({ kind: 22242, created_at: now(), content: "", tags: [["relay", r.url], ["challenge", challenge]] }, key)
  c.send(["AUTH", e])
  expect((await c.next(isOk(e.id)))[2]).toBe(true)
}

describe("rate limits", () => {
  it("EVENTs past a connection's bucket get OK false rate-limited:, other connections are not affected", async () => {
    const r = await start({ eventsPerSecondPerConnection: 1 })
    const a = await open(r)
    const b = await open(r)
    expect(refused(await burst(a, 6))).toBe(3)
    expect(refused(await burst(b, 3))).toBe(0)
  })

  it("REQs and COUNTs past the read bucket get CLOSED rate-limited:, separately from EVENTs", async () => {
    const r = await start({ readsPerSecondPerConnection: 1 })
    const c = await open(r)
    for (let i = 0; i < 5; i++) c.send(i % 2 === 0 ? ["REQ", `s${i}`, { limit: 1 }] : ["COUNT", `s${i}`, {}])
    const ends = await Promise.all([0, 1, 2, 3, 4].map((i) => c.next(forSub(`s${i}`, "EOSE", "CLOSED", "COUNT"))))
    const closed = ends.filter((f) => f[0] === "CLOSED")
    expect(closed.length).toBe(2)
    for (const f of closed) expect(f[2]).toMatch(/^rate-limited: /)
    expect(refused(await burst(c, 3))).toBe(0)
  })

  it("an IP's connections share its bucket", async () => {
    const r = await start({ eventsPerSecondPerIp: 1 })
    const a = await open(r)
    const b = await open(r)
    expect(refused(await burst(a, 2))).toBe(0)
    expect(refused(await burst(b, 3))).toBe(2)
  })

  it("an authenticated pubkey's connections share its bucket", async () => {
    const r = await start({ eventsPerSecondPerPubkey: 1 })
    const key = newKey()
    const a = await open(r)
    const b = await open(r)
    await authAs(a, r, key)
    await authAs(b, r, key)
    expect(refused(await burst(a, 2, key))).toBe(0)
    expect(refused(await burst(b, 3, key))).toBe(2)
    const anon = await open(r)
    expect(refused(await burst(anon, 5))).toBe(0)
  })

  it("AUTH messages draw on the EVENT buckets (each costs a signature check)", async () => {
    const r = await start({ eventsPerSecondPerConnection: 1 })
    const c = await open(r)
    const challenge = (await c.next((f) => f[0] === "AUTH"))[1]
    const auths = Array.from({ length: 5 }, () =>
      makeEvent({ kind: 22242, created_at: now(), content: "", tags: [["relay", r.url], ["challenge", challenge]] }, newKey())
    )
    for (const e of auths) c.send(["AUTH", e])
    const answers = await Promise.all(auths.map(async (e): Promise<string> => String((await c.next(isOk(e.id)))[3])))
    expect(refused(answers)).toBe(2)
  })

  it("a client that keeps sending after refusals is disconnected", async () => {
    const r = await start({ eventsPerSecondPerConnection: 1, rateLimitDisconnectAfter: 4 })
    const c = await open(r)
    const events = Array.from({ length: 10 }, () => makeEvent({ created_at: now() }))
    for (const e of events) c.send(["EVENT", e])
    const closed = await c.closed
    expect(closed.code).toBe(1008)
    const notice = c.log.find((f) => f[0] === "NOTICE")
    expect(notice?.[1]).toMatch(/^rate-limited: /)
    expect(c.log.filter((f) => f[0] === "OK" && f[3]?.startsWith("rate-limited:")).length).toBeGreaterThanOrEqual(3)
  })
})

describe("the upgrade gate", () => {
  it("caps connections per IP with HTTP 429 and counts closes", async () => {
    const r = await start({ maxConnectionsPerIp: 2 })
    const a = await open(r)
    await open(r)
    await expect(connect(r.url)).rejects.toThrow(/HTTP 429/)
    await a.close()
    // The server notices the close asynchronously: retry until the slot is back.
    let again: RawClient | undefined
    for (let i = 0; i < 50 && again === undefined; i++) {
      again = await connect(r.url).catch(async () => {
        await new Promise((res) => setTimeout(res, 20))
        return undefined
      })
    }
    expect(again).toBeDefined()
    await again!.close()
  })

  it("refuses a blocked IP with HTTP 403", async () => {
    const r = await start({ blockedIps: ["127.0.0.0/8"] })
    await expect(connect(r.url)).rejects.toThrow(/HTTP 403/)
    const res = await fetch(r.httpUrl, { headers: { accept: "application/nostr+json" } })
    expect(res.status).toBe(200)
  })

  it("honours X-Forwarded-For from a trusted proxy only", async () => {
    const trusted = await start({ maxConnectionsPerIp: 1, trustedProxies: ["127.0.0.1"] })
    await open(trusted, { "x-forwarded-for": "198.51.100.1" })
    await open(trusted, { "x-forwarded-for": "198.51.100.2" })
    await expect(connect(trusted.url, { headers: { "x-forwarded-for": "198.51.100.1" } })).rejects.toThrow(/HTTP 429/)

    const untrusted = await start({ maxConnectionsPerIp: 1 })
    await open(untrusted, { "x-forwarded-for": "198.51.100.1" })
    await expect(connect(untrusted.url, { headers: { "x-forwarded-for": "198.51.100.2" } })).rejects.toThrow(/HTTP 429/)

    const blocked = await start({ trustedProxies: ["127.0.0.1"], blockedIps: ["198.51.100.0/24"] })
    await expect(connect(blocked.url, { headers: { "x-forwarded-for": "198.51.100.9" } })).rejects.toThrow(/HTTP 403/)
    await open(blocked, { "x-forwarded-for": "203.0.113.9" })
  })
})
