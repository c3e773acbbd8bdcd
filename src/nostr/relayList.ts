/**
 * NIP-65 relay lists (kind 10002): where a user writes and where they read
 * mentions. `r` tags with a relay URL and an optional marker; no marker means
 * both. Read here once so the tools that follow a user (backup) agree with
 * 65.md: a "write" relay is where their own events are, a "read" relay is
 * where events tagging them are.
 */
import type { NostrEvent } from "./event.ts"
import { normalizeUrl } from "./relayUrl.ts"

export const RELAY_LIST_KIND = 10002

export interface RelayList {
  /** Relays the user writes to (marker "write" or none), in the list's order, each once. */
  readonly write: ReadonlyArray<string>
  /** Relays the user reads mentions from (marker "read" or none). */
  readonly read: ReadonlyArray<string>
  /** `r` values that are not ws:// or wss:// URLs, left out. */
  readonly ignored: ReadonlyArray<string>
}

/** The relays of a kind 10002 event. URLs naming one relay (case, default port, trailing slash) count once. */
export const relayListOf = (event: Pick<NostrEvent, "tags">): RelayList => {
  const write: Array<string> = []
  const read: Array<string> = []
  const ignored: Array<string> = []
  const seen = { write: new Set<string>(), read: new Set<string>() }
  for (const tag of event.tags) {
    if (tag[0] !== "r" || typeof tag[1] !== "string") continue
    const url = tag[1].trim()
    const n = normalizeUrl(url)
    if (n === undefined || (n.scheme !== "ws" && n.scheme !== "wss") || /\s/.test(url)) {
      ignored.push(tag[1])
      continue
    }
    const key = `${n.scheme}://${n.hostPort}${n.path}`
    const marker = tag[2]
    // 65.md: the marker is "read" or "write"; without one (or with one it does not define) the relay is both.
    if (marker !== "read" && !seen.write.has(key)) {
      seen.write.add(key)
      write.push(url)
    }
    if (marker !== "write" && !seen.read.has(key)) {
      seen.read.add(key)
      read.push(url)
    }
  }
  return { write, read, ignored }
}
