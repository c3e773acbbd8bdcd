/** NIP-65 relay lists: markers as 65.md defines them, duplicates and non-relay URLs. */
import { describe, expect, it } from "vitest"
import { relayListOf } from "../../src/nostr/relayList.ts"

describe("relayListOf (kind 10002)", () => {
  it("reads 65.md's example: no marker is both, read and write are one each", () => {
    const list = relayListOf({
      tags: [
        ["r", "wss://alicerelay.example.com"],
        ["r", "wss://brando-relay.com"],
        ["r", "wss://expensive-relay.example2.com", "write"],
        ["r", "wss://nostr-relay.example.com", "read"]
      ]
    })
    expect(list.write).toEqual(["wss://alicerelay.example.com", "wss://brando-relay.com", "wss://expensive-relay.example2.com"])
    expect(list.read).toEqual(["wss://alicerelay.example.com", "wss://brando-relay.com", "wss://nostr-relay.example.com"])
    expect(list.ignored).toEqual([])
  })

  it("names a relay once however it is spelled, and leaves out what is not a ws(s):// URL or an r tag", () => {
    const list = relayListOf({
      tags: [
        ["r", "wss://Relay.example.com/", "write"],
        ["r", "wss://relay.example.com:443"],
        ["r", "https://relay.example.com"],
        ["r", "not a url"],
        ["p", "wss://elsewhere.example.com"],
        ["r"],
        ["r", " ws://127.0.0.1:7777 ", "read"]
      ]
    })
    expect(list.write).toEqual(["wss://Relay.example.com/"])
    expect(list.read).toEqual(["wss://relay.example.com:443", "ws://127.0.0.1:7777"])
    expect(list.ignored).toEqual(["https://relay.example.com", "not a url"])
  })
})
