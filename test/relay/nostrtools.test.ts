/**
 * The same NIP-01 rules as seen by a real client library (nostr-tools).
 */
import { finalizeEvent, generateSecretKey, getPublicKey, type Event } from "nostr-tools/pure"
import { Relay } from "nostr-tools/relay"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { startRelay, type TestRelay } from "../support/relay.ts"

let relay: TestRelay
const clients: Array<Relay> = []
const open = async () => {
  const r = await Relay.connect(relay.url)
  clients.push(r)
  return r
}
beforeAll(async () => {
  relay = await startRelay()
})
afterEach(() => {
  for (const c of clients.splice(0)) c.close()
})
afterAll(() => relay.close())

const now = () => Math.floor(Date.now() / 1000)
const sign = (sk: Uint8Array, t: { kind?: number; created_at?: number; tags?: string[][]; content?: string } = {}) =>
  finalizeEvent({ kind: t.kind ?? 1, created_at: t.created_at ?? now(), tags: t.tags ?? [], content: t.content ?? `hello ${Math.random()}` }, sk)

/** Subscribes and resolves with the stored events at EOSE; later events go to `live`. */
const subscribeUntilEose = (r: Relay, filters: Parameters<Relay["subscribe"]>[0], live: Array<Event> = []) =>
  new Promise<{ stored: Array<Event>; close: () => void }>((resolve, reject) => {
    const stored: Array<Event> = []
    let eose = false
    const sub = r.subscribe(filters, {
      onevent: (e) => void (eose ? live : stored).push(e),
      oneose: () => {
        eose = true
        resolve({ stored, close: () => sub.close() })
      },
      onclose: (reason) => reject(new Error(`closed: ${reason}`))
    })
  })

describe("nostr-tools client", () => {
  it("publishes, reads back newest first, and receives live events after EOSE", async () => {
    const c = await open()
    const sk = generateSecretKey()
    const pk = getPublicKey(sk)
    const base = now() - 10
    const evs = [3, 1, 2].map((d) => sign(sk, { created_at: base + d }))
    for (const e of evs) await expect(c.publish(e)).resolves.toBeDefined()
    const live: Array<Event> = []
    const { stored, close } = await subscribeUntilEose(c, [{ authors: [pk], limit: 2 }], live)
    expect(stored.map((e) => e.id)).toEqual([evs[0]!.id, evs[2]!.id])

    const other = await open()
    const fresh = sign(sk)
    const arrived = new Promise<void>((resolve) => {
      const sub = other.subscribe([{ ids: [fresh.id] }], { onevent: () => { sub.close(); resolve() } })
    })
    await c.publish(fresh)
    await arrived
    expect(live.map((e) => e.id)).toEqual([fresh.id])
    close()
  })

  it("rejects an event with a bad signature with an invalid: reason", async () => {
    const c = await open()
    const sk = generateSecretKey()
    const e = sign(sk)
    const forged = { ...e, sig: sign(generateSecretKey()).sig }
    await expect(c.publish(forged)).rejects.toThrow(/^invalid: /)
  })

  it("an older replaceable version is refused with duplicate:", async () => {
    const c = await open()
    const sk = generateSecretKey()
    await c.publish(sign(sk, { kind: 0, created_at: now() }))
    await expect(c.publish(sign(sk, { kind: 0, created_at: now() - 100 }))).rejects.toThrow(/^duplicate: /)
  })

  it("counts with COUNT (NIP-45)", async () => {
    const c = await open()
    const sk = generateSecretKey()
    for (let i = 0; i < 3; i++) await c.publish(sign(sk))
    expect(await c.count([{ authors: [getPublicKey(sk)] }], {})).toBe(3)
  })

  it("a refused REQ reaches onclose with its reason", async () => {
    const c = await open()
    const reason = await new Promise<string>((resolve) => {
      c.subscribe([{ "#e": ["not hex"] }], { onclose: resolve })
    })
    expect(reason).toMatch(/^invalid: /)
  })
})
