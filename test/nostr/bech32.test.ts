/**
 * NIP-19 keys: what nostr-tools encodes decodes back to the same bytes; a
 * broken checksum, a wrong prefix, stray characters and a wrong length are
 * refused with a message naming the problem.
 */
import { bytesToHex } from "@noble/hashes/utils.js"
import { nip19 } from "nostr-tools"
import { describe, expect, it } from "vitest"
import { decodeNip19Key, parsePubkey } from "../../src/nostr/bech32.ts"
import { newKey } from "../support/nostr.ts"

describe("NIP-19 bech32 keys", () => {
  it("decodes npubs and nsecs exactly as nostr-tools encodes them", () => {
    for (let i = 0; i < 20; i++) {
      const k = newKey()
      const npub = nip19.npubEncode(k.pk)
      expect(parsePubkey(npub)).toEqual({ pubkey: k.pk })
      expect(parsePubkey(npub.toUpperCase())).toEqual({ pubkey: k.pk })
      const nsec = decodeNip19Key(nip19.nsecEncode(k.sk), "nsec")
      expect("key" in nsec && bytesToHex(nsec.key)).toBe(bytesToHex(k.sk))
    }
  })

  it("takes 64 hex characters as they are (lower-cased)", () => {
    const k = newKey()
    expect(parsePubkey(k.pk.toUpperCase())).toEqual({ pubkey: k.pk })
  })

  it("refuses what is not a key, saying why", () => {
    const k = newKey()
    const npub = nip19.npubEncode(k.pk)
    const broken = npub.slice(0, -1) + (npub.endsWith("q") ? "p" : "q")
    expect(parsePubkey(broken)).toEqual({ error: "the npub checksum is wrong" })
    expect(parsePubkey(npub.slice(0, 10) + "b" + npub.slice(11))).toEqual({ error: "the npub contains a character bech32 does not use" })
    expect(parsePubkey("npub1" + npub.slice(5, 20).toUpperCase() + npub.slice(20))).toEqual({ error: "the npub mixes upper and lower case" })
    expect(parsePubkey(nip19.nsecEncode(k.sk))).toMatchObject({ error: expect.stringMatching(/neither an npub1/) })
    expect(parsePubkey("abc")).toMatchObject({ error: expect.stringMatching(/neither an npub1\.\.\. nor 64 hex/) })
    // A valid bech32 string whose data is not 32 bytes (a note id is, but nprofile TLVs are longer).
    expect(decodeNip19Key(nip19.nprofileEncode({ pubkey: k.pk, relays: ["wss://r.example"] }), "npub")).toEqual({ error: "not an npub1... string" })
    expect(parsePubkey("npub1qqqq")).toMatchObject({ error: expect.stringMatching(/npub/) })
  })
})
