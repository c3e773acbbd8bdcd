/**
 * What the hot window remembers of recent removals, so that an event reaching it after the store
 * removed it does not come back: deletions (NIP-09), which the store applies for ever, and requests
 * to vanish (NIP-62), after which an arrival from elsewhere is doubtful for a while (see ./window.ts).
 */
import { kindClass, type DeletionRequest, type NostrEvent } from "../../nostr/index.ts"

/** A deletion (NIP-09) or a request to vanish (NIP-62) cannot be deleted by a deletion request. */
export const UNDELETABLE: ReadonlySet<number> = new Set([5, 62])
const GIFT_WRAP = 1059

/** The replacement key (replacementKey) of the versions a deletion request's `a` target names. */
export const addressOf = (a: DeletionRequest["addresses"][number]): string =>
  kindClass(a.kind) === "addressable" ? `${a.kind}:${a.pubkey}:${a.d}` : `${a.kind}:${a.pubkey}:`

/** Whether version `a` of an address wins over `b` (NIP-01: newer, or the same second and the lower id). */
export const beats = (a: { readonly created_at: number; readonly id: string }, b: { readonly created_at: number; readonly id: string }): boolean =>
  a.created_at > b.created_at || (a.created_at === b.created_at && a.id < b.id)

/** A Map that forgets its oldest keys past `capacity` (tombstones: only recent removals can race). */
const remember = <K, V>(m: Map<K, V>, k: K, v: V, capacity: number) => {
  m.delete(k)
  m.set(k, v)
  if (m.size > capacity) m.delete(m.keys().next().value as K)
}

export interface TombstoneOptions {
  /** Recent removals remembered (per kind of removal). */
  readonly capacity: number
  /** How long a request to vanish makes arrivals doubtful (ms, wall clock). */
  readonly vanishGraceMs: number
}

export const makeTombstones = (options: TombstoneOptions) => {
  const { capacity, vanishGraceMs } = options
  /**
   * (id, requester) -> the request's `k` kinds (undefined: any): the requester's event with this id
   * was deleted (another author's event with the same id is not theirs to delete).
   */
  const deletedIds = new Map<string, ReadonlyArray<number> | undefined>()
  const deletedKey = (id: string, pubkey: string) => `${id}:${pubkey}`
  /** address -> versions up to this created_at were deleted. */
  const deletedAddresses = new Map<string, number>()
  /**
   * address -> the newest of its versions deleted by id that the window knew of. A version older
   * than it that arrives from elsewhere later may have been replaced by it in the store before the
   * deletion (then the store does not hold it), or stored after the deletion (then it does).
   */
  const deletedVersions = new Map<string, { readonly created_at: number; readonly id: string }>()
  /** pubkey -> a request to vanish: its events (and gift wraps to it) up to `until`; doubtful arrivals until `expires` (ms). */
  const vanished = new Map<string, { readonly until: number; readonly expires: number }>()

  /** Remembers what a deletion request deleted (the caller removes what the window holds of it). */
  const recordDeletion = (r: DeletionRequest) => {
    for (const id of r.ids) {
      const key = deletedKey(id, r.pubkey)
      const prior = deletedIds.get(key)
      const kinds = !deletedIds.has(key) ? r.kinds : prior === undefined || r.kinds === undefined ? undefined : [...prior, ...r.kinds]
      remember(deletedIds, key, kinds, capacity)
    }
    for (const a of r.addresses) {
      if (a.pubkey !== r.pubkey) continue
      const address = addressOf(a)
      remember(deletedAddresses, address, Math.max(deletedAddresses.get(address) ?? -Infinity, r.until), capacity)
    }
  }

  /** Remembers a request to vanish: for the grace period, arrivals it would have removed are doubtful. */
  const recordVanish = (pubkey: string, until: number) => {
    const prior = vanished.get(pubkey)
    remember(vanished, pubkey, { until: Math.max(prior?.until ?? -Infinity, until), expires: Date.now() + vanishGraceMs }, capacity)
  }

  /** Remembers a deleted version of `address` (one the window held, or refused as deleted). */
  const recordDeletedVersion = (address: string, e: { readonly created_at: number; readonly id: string }) => {
    const prior = deletedVersions.get(address)
    if (prior === undefined || beats(e, prior)) remember(deletedVersions, address, { created_at: e.created_at, id: e.id }, capacity)
  }

  /** Whether a recently deleted version of this event's address is newer than it (NIP-01 order). */
  const olderThanDeleted = (e: NostrEvent, address: string): boolean => {
    const d = deletedVersions.get(address)
    return d !== undefined && beats(d, e)
  }

  /** Whether a recent deletion removed this event (it reached the window after being deleted). */
  const deleted = (e: NostrEvent, address: string | undefined): boolean => {
    const key = deletedIds.size === 0 ? "" : deletedKey(e.id, e.pubkey)
    if (key !== "" && deletedIds.has(key) && !UNDELETABLE.has(e.kind)) {
      const kinds = deletedIds.get(key)
      if (kinds === undefined || kinds.includes(e.kind)) return true
    }
    if (address !== undefined) {
      const until = deletedAddresses.get(address)
      if (until !== undefined && e.created_at <= until) return true
    }
    return false
  }

  /** Whether a recent request to vanish would have removed this event (then it may have raced it, or not). */
  const doubtful = (e: NostrEvent): boolean => {
    if (vanished.size === 0) return false
    const now = Date.now()
    const hit = (pubkey: string) => {
      const v = vanished.get(pubkey)
      if (v === undefined) return false
      if (v.expires <= now) {
        vanished.delete(pubkey)
        return false
      }
      return e.created_at <= v.until
    }
    if (hit(e.pubkey)) return true
    if (e.kind === GIFT_WRAP) for (const t of e.tags) if (t[0] === "p" && t.length > 1 && hit(t[1]!)) return true
    return false
  }

  return { recordDeletion, recordVanish, recordDeletedVersion, deleted, olderThanDeleted, doubtful }
}
