import { describe, expect, it } from "vitest"
import { expectedRelayUrls, sameRelayUrl } from "../../src/nostr/relayUrl.ts"

describe("sameRelayUrl", () => {
  it("compares scheme, host, port and path after normalising case, default ports and a trailing slash", () => {
    expect(sameRelayUrl("wss://Relay.Example.com/", "wss://relay.example.com")).toBe(true)
    expect(sameRelayUrl("wss://relay.example.com:443", "wss://relay.example.com/")).toBe(true)
    expect(sameRelayUrl("ws://relay.example.com:80/", "ws://relay.example.com")).toBe(true)
    expect(sameRelayUrl("ws://relay.example.com/nostr/", "ws://relay.example.com/nostr")).toBe(true)
    expect(sameRelayUrl("ws://relay.example.com", "wss://relay.example.com")).toBe(false)
    expect(sameRelayUrl("wss://relay.example.com:444", "wss://relay.example.com")).toBe(false)
    expect(sameRelayUrl("wss://relay.example.com/other", "wss://relay.example.com")).toBe(false)
    expect(sameRelayUrl("wss://evil.example.com", "wss://relay.example.com")).toBe(false)
    expect(sameRelayUrl("not a url", "wss://relay.example.com")).toBe(false)
    expect(sameRelayUrl("ftp://relay.example.com", "wss://relay.example.com")).toBe(false)
  })

  it("treats http(s) as ws(s) only when asked (NIP-98)", () => {
    expect(sameRelayUrl("https://relay.example.com/", "wss://relay.example.com")).toBe(false)
    expect(sameRelayUrl("https://relay.example.com/", "wss://relay.example.com", true)).toBe(true)
    expect(sameRelayUrl("http://relay.example.com/", "wss://relay.example.com", true)).toBe(false)
  })

  it("expects the configured URL, else both schemes of the Host the client used", () => {
    expect(expectedRelayUrls("wss://relay.example.com", "127.0.0.1:7777")).toEqual(["wss://relay.example.com"])
    expect(expectedRelayUrls("", "127.0.0.1:7777")).toEqual(["ws://127.0.0.1:7777/", "wss://127.0.0.1:7777/"])
    expect(expectedRelayUrls("", undefined)).toEqual([])
    expect(expectedRelayUrls("", "evil/path")).toEqual([])
  })
})
