/**
 * Events that are requests to the relay: NIP-09 deletion requests (kind 5)
 * and NIP-62 requests to vanish (kind 62). Pure: what a request asks for.
 */
import { sameRelayUrl } from "../nostr/relayUrl.ts"
import type { NostrEvent } from "../nostr/index.ts"

/** What a kind-5 event asks to delete (in src/nostr: the stores and the hot window derive it too). */
export { deletionRequestOf } from "../nostr/deletion.ts"

export const DELETION_KIND = 5
export const VANISH_KIND = 62
export const ALL_RELAYS = "ALL_RELAYS"

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
