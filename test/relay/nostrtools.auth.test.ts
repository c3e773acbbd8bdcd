/**
 * nostr-tools' NIP-42 flow against the relay: a REQ or EVENT refused with
 * `auth-required:` makes the client sign the relay's challenge (onauth),
 * AUTH, and retry; the retry succeeds.
 */
import { SimplePool } from "nostr-tools/pool"
import { finalizeEvent, generateSecretKey, getPublicKey, type EventTemplate } from "nostr-tools/pure"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startRelay, type TestRelay } from "../support/relay.ts"

let relay: TestRelay
beforeAll(async () => {
  relay = await startRelay({ authRequired: "writes" })
})
afterAll(() => relay.close())

const now = () => Math.floor(Date.now() / 1000)

describe("nostr-tools onauth", () => {
  it("authenticates and retries a refused EVENT, then a refused REQ for DMs", async () => {
    const alice = generateSecretKey()
    const bob = generateSecretKey()
    const signer = (sk: Uint8Array) => {
      const calls: Array<string> = []
      const sign = async (t: EventTemplate) => {
        calls.push(t.tags.find((x) => x[0] === "challenge")?.[1] ?? "")
        return finalizeEvent(t, sk)
      }
      return { calls, sign }
    }

    // EVENT: authRequired writes -> auth-required -> AUTH as alice -> retried and stored.
    const pool = new SimplePool()
    const a = signer(alice)
    const dm = finalizeEvent({ kind: 4, created_at: now(), tags: [["p", getPublicKey(bob)]], content: "ciphertext?iv=x" }, alice)
    const results = await Promise.allSettled(pool.publish([relay.url], dm, { onauth: a.sign }))
    expect(results[0]).toMatchObject({ status: "fulfilled" })
    expect(a.calls.length).toBe(1)
    pool.close([relay.url])

    // REQ for kind 4: CLOSED auth-required -> AUTH as bob -> resubscribed -> the DM arrives.
    const reader = new SimplePool()
    const b = signer(bob)
    const got = await new Promise<string>((resolve, reject) => {
      const sub = reader.subscribe([relay.url], { kinds: [4], "#p": [getPublicKey(bob)] }, {
        onauth: b.sign,
        onevent: (e) => {
          sub.close()
          resolve(e.id)
        },
        onclose: (reasons) => reject(new Error(`closed: ${JSON.stringify(reasons)}`))
      })
    })
    expect(got).toBe(dm.id)
    expect(b.calls.length).toBe(1)
    reader.close([relay.url])
  })
})
