/**
 * NIP-09 deletion requests (kind 5): what one asks to delete. Pure: the
 * stores apply it (EventStore.deleteByRequest), and a process that hears of
 * a stored request from another one derives the same request from the event.
 */
import { isHex64, type NostrEvent } from "./event.ts"
import { isAddressable, isReplaceable } from "./kinds.ts"

/** A NIP-09 deletion request, already validated: what its author asked to delete. */
export interface DeletionRequest {
  readonly pubkey: string
  /** Event ids from `e` tags. */
  readonly ids: ReadonlyArray<string>
  /** `kind:pubkey:d` addresses from `a` tags (only the author's own). */
  readonly addresses: ReadonlyArray<{ readonly kind: number; readonly pubkey: string; readonly d: string }>
  /** Versions of addresses up to this created_at are deleted. */
  readonly until: number
  /** The request's `k` kinds, when it has any: only events of these kinds are deleted by id. */
  readonly kinds?: ReadonlyArray<number>
}

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
