/**
 * Events that are requests to the relay: NIP-09 deletion requests (kind 5)
 * and NIP-62 requests to vanish (kind 62). Pure: what a request asks for.
 */
import { sameRelayUrl } from "../nostr/relayUrl.ts"
import { isAddressable, isHex64, isReplaceable, type NostrEvent } from "../nostr/index.ts"
import type { DeletionRequest } from "../storage/EventStore.ts"

export const DELETION_KIND = 5
export const VANISH_KIND = 62
export const ALL_RELAYS = "ALL_RELAYS"

/**
 * What a kind-5 event asks to delete: its `e` ids, its `a` addresses of the
 * author's own replaceable/addressable events (versions up to its
 * created_at), restricted to its `k` kinds when it has any. Malformed and
 * foreign targets are left out (they delete nothing).
 */
export const deletionRequestOf = (e: NostrEvent): DeletionRequest => {
  const ids: Array<string> = []
  const addresses: Array<{ kind: number; pubkey: string; d: string }> = []
  const kinds: Array<number> = []
  for (const t of e.tags) {
    const v = t[1]
    if (v === undefined) continue
    if (t[0] === "e" && isHex64(v)) ids.push(v)
    else if (t[0] === "k" && /^\d{1,5}$/.test(v) && Number(v) <= 65535) kinds.push(Number(v))
    else if (t[0] === "a") {
      const m = /^(\d{1,5}):([0-9a-f]{64}):(.*)$/s.exec(v)
      if (m === null) continue
      const kind = Number(m[1])
      if (m[2] !== e.pubkey || !(isReplaceable(kind) || isAddressable(kind))) continue
      addresses.push({ kind, pubkey: m[2]!, d: m[3]! })
    }
  }
  return { pubkey: e.pubkey, ids, addresses, until: e.created_at, ...(kinds.length > 0 ? { kinds } : {}) }
}

/** Whether a kind-62 event names this relay (one of `relayUrls`) or ALL_RELAYS; undefined when it names no relay at all. */
export const vanishNamesUs = (e: NostrEvent, relayUrls: ReadonlyArray<string>): boolean | undefined => {
  let any = false
  for (const t of e.tags) {
    if (t[0] !== "relay" || t[1] === undefined) continue
    any = true
    if (t[1] === ALL_RELAYS || relayUrls.some((url) => sameRelayUrl(t[1]!, url))) return true
  }
  return any ? false : undefined
}
