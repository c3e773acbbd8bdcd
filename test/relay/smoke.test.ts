import { finalizeEvent, generateSecretKey } from "nostr-tools/pure"
import { Relay } from "nostr-tools/relay"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startRelay, type TestRelay } from "../support/relay.ts"

describe("relay smoke", () => {
  let relay: TestRelay
  beforeAll(async () => {
    relay = await startRelay()
  })
  afterAll(() => relay.close())

  it("accepts an event and returns it in a REQ, then EOSE", async () => {
    const client = await Relay.connect(relay.url)
    const sk = generateSecretKey()
    const ev = finalizeEvent({ kind: 1, created_at: Math.floor(Date.now() / 1000), tags: [], content: "hi" }, sk)
    await client.publish(ev)
    const got: Array<string> = []
    await new Promise<void>((resolve) => {
      client.subscribe([{ ids: [ev.id] }], {
        onevent: (e) => void got.push(e.id),
        oneose: () => resolve()
      })
    })
    expect(got).toEqual([ev.id])
    client.close()
  })
})
