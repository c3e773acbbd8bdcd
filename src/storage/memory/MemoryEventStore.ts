/**
 * In-memory EventStore: for tests and for `PARRHESIA_STORE=memory` (nothing
 * survives a restart). Keeps secondary indexes so queries narrow to the
 * smallest candidate set instead of scanning everything.
 */
import { Effect, Layer } from "effect"
import {
  compareNewestFirst,
  eventJson,
  expirationOf,
  HLL_REGISTERS,
  hllAdd,
  isEmptyFilter,
  kindClass,
  matchesFilter,
  nip05AtDomain,
  parseSearch,
  searchScore,
  nowSeconds,
  replacementKey,
  servedEvent,
  supersedes,
  type Filter,
  type NostrEvent
} from "../../nostr/index.ts"
import { compareOldestFirst, EventStore, type DeletionRequest, type PutOutcome } from "../EventStore.ts"
import { maxAgeOf, type RetentionPolicy } from "../../config/retention.ts"

const addMulti = <K>(m: Map<K, Set<string>>, k: K, id: string) => {
  let s = m.get(k)
  if (s === undefined) m.set(k, (s = new Set()))
  s.add(id)
}
const delMulti = <K>(m: Map<K, Set<string>>, k: K, id: string) => {
  const s = m.get(k)
  if (s !== undefined && s.delete(id) && s.size === 0) m.delete(k)
}

const tagKey = (name: string, value: string) => `${name}\u0000${value}`

/** A NIP-09 deletion request against a deletion request (5) or a request to vanish (62) has no effect. */
const UNDELETABLE_KINDS: ReadonlySet<number> = new Set([5, 62])

export const makeMemoryEventStore = () => {
  const byId = new Map<string, NostrEvent>()
  const byAuthor = new Map<string, Set<string>>()
  const byKind = new Map<number, Set<string>>()
  const byTag = new Map<string, Set<string>>()
  const byAddress = new Map<string, string>()
  /**
   * Deleted events that may not come back, keyed by id AND author: a deletion
   * request naming an id the store has not seen only blocks that id for the
   * requester's own pubkey (another author's event with that id is not theirs
   * to delete).
   */
  const deletedIds = new Set<string>()
  const deletedKey = (id: string, pubkey: string) => `${id}:${pubkey}`
  /** address -> created_at up to which versions are deleted */
  const deletedAddresses = new Map<string, number>()

  const indexedTags = (e: NostrEvent) => {
    const out = new Set<string>()
    for (const t of e.tags) if (t.length > 1 && t[0]!.length === 1) out.add(tagKey(t[0]!, t[1]!))
    return out
  }

  const insert = (e: NostrEvent) => {
    byId.set(e.id, e)
    addMulti(byAuthor, e.pubkey, e.id)
    addMulti(byKind, e.kind, e.id)
    for (const k of indexedTags(e)) addMulti(byTag, k, e.id)
  }

  const remove = (id: string) => {
    const e = byId.get(id)
    if (e === undefined) return false
    byId.delete(id)
    delMulti(byAuthor, e.pubkey, id)
    delMulti(byKind, e.kind, id)
    for (const k of indexedTags(e)) delMulti(byTag, k, id)
    const addr = replacementKey(e)
    if (addr !== undefined && byAddress.get(addr) === id) byAddress.delete(addr)
    return true
  }

  const putSync = (e: NostrEvent): PutOutcome => {
    if (byId.has(e.id)) return "duplicate"
    if (deletedIds.has(deletedKey(e.id, e.pubkey)) && !UNDELETABLE_KINDS.has(e.kind)) return "deleted"
    const addr = replacementKey(e)
    if (addr !== undefined) {
      const deletedUntil = deletedAddresses.get(addr)
      if (deletedUntil !== undefined && e.created_at <= deletedUntil) return "deleted"
      const currentId = byAddress.get(addr)
      const current = currentId === undefined ? undefined : byId.get(currentId)
      if (current !== undefined) {
        if (!supersedes(e, current)) return "superseded"
        remove(current.id)
      }
      byAddress.set(addr, e.id)
    }
    insert(e)
    return "stored"
  }

  /** The smallest index set that every match must be in, or undefined for "all events". */
  const candidates = (f: Filter): Iterable<string> | undefined => {
    let best: Iterable<string> | undefined
    let bestSize = Infinity
    const consider = (ids: Iterable<string>, size: number) => {
      if (size < bestSize) {
        best = ids
        bestSize = size
      }
    }
    const union = (sets: Array<Set<string> | undefined>) => {
      const out = new Set<string>()
      for (const s of sets) if (s) for (const id of s) out.add(id)
      return out
    }
    // A Set: repeated ids in the filter must not repeat the event in the answer.
    if (f.ids) {
      const u = new Set(f.ids)
      consider(u, u.size)
    }
    if (f.authors) {
      const u = union(f.authors.map((a) => byAuthor.get(a)))
      consider(u, u.size)
    }
    if (f.kinds) {
      const u = union(f.kinds.map((k) => byKind.get(k)))
      consider(u, u.size)
    }
    if (f.tags) {
      for (const [name, values] of Object.entries(f.tags)) {
        const u = union(values.map((v) => byTag.get(tagKey(name, v))))
        consider(u, u.size)
      }
    }
    return best
  }

  const matching = (f: Filter, now: number): Array<NostrEvent> => {
    if (isEmptyFilter(f)) return []
    const out: Array<NostrEvent> = []
    const ids = candidates(f) ?? byId.keys()
    for (const id of ids) {
      const e = byId.get(id)
      if (e === undefined || !matchesFilter(f, e)) continue
      const exp = expirationOf(e)
      if (exp !== undefined && exp <= now) continue
      out.push(e)
    }
    if (f.search !== undefined) {
      // NIP-50: by relevance (how often the words occur), then newest first; the limit after ranking.
      const parsed = parseSearch(f.search)
      const words = "error" in parsed ? [] : parsed.words
      const score = new Map(out.map((e) => [e.id, searchScore(words, e.content)]))
      out.sort((a, b) => score.get(b.id)! - score.get(a.id)! || compareNewestFirst(a, b))
    } else out.sort(compareNewestFirst)
    return f.limit !== undefined && out.length > f.limit ? out.slice(0, f.limit) : out
  }

  const query = (filters: ReadonlyArray<Filter>) =>
    Effect.map(nowSeconds, (now) => {
      if (filters.length === 1) return matching(filters[0]!, now)
      const seen = new Map<string, NostrEvent>()
      for (const f of filters) for (const e of matching(f, now)) seen.set(e.id, e)
      return [...seen.values()].sort(compareNewestFirst)
    })

  const deleteByRequestSync = (r: DeletionRequest) => {
    let n = 0
    for (const id of r.ids) {
      const e = byId.get(id)
      if (e !== undefined && r.kinds !== undefined && !r.kinds.includes(e.kind)) continue
      // Only the author may delete; deletion (NIP-09) and vanish (NIP-62) requests are never deleted this way.
      if (e !== undefined && e.pubkey !== r.pubkey) continue
      if (e !== undefined && UNDELETABLE_KINDS.has(e.kind)) continue
      deletedIds.add(deletedKey(id, r.pubkey))
      if (remove(id)) n++
    }
    for (const a of r.addresses) {
      if (a.pubkey !== r.pubkey) continue
      const addr = kindClass(a.kind) === "addressable" ? `${a.kind}:${a.pubkey}:${a.d}` : `${a.kind}:${a.pubkey}:`
      deletedAddresses.set(addr, Math.max(deletedAddresses.get(addr) ?? -1, r.until))
      const id = byAddress.get(addr)
      const e = id === undefined ? undefined : byId.get(id)
      if (e !== undefined && e.created_at <= r.until && remove(e.id)) n++
    }
    return n
  }

  const authorsAtDomainSync = (domain: string) => {
    const out: Array<string> = []
    for (const id of byKind.get(0) ?? []) {
      const e = byId.get(id)!
      let nip05: unknown
      try {
        nip05 = (JSON.parse(e.content) as { nip05?: unknown }).nip05
      } catch {
        continue
      }
      if (nip05AtDomain(nip05, domain)) out.push(e.pubkey)
    }
    return out
  }

  const vanishedUntil = new Map<string, number>()
  const vanishSync = (pubkey: string, until: number) => {
    vanishedUntil.set(pubkey, Math.max(vanishedUntil.get(pubkey) ?? -1, until))
    let n = 0
    for (const id of [...(byAuthor.get(pubkey) ?? [])]) {
      const e = byId.get(id)!
      if (e.created_at <= until) {
        deletedIds.add(deletedKey(id, e.pubkey))
        if (remove(id)) n++
      }
    }
    for (const id of [...(byTag.get(tagKey("p", pubkey)) ?? [])]) {
      const e = byId.get(id)!
      if (e.kind === 1059 && e.created_at <= until) {
        deletedIds.add(deletedKey(id, e.pubkey))
        if (remove(id)) n++
      }
    }
    return n
  }

  const purgeExpiredSync = (now: number) => {
    let n = 0
    for (const e of [...byId.values()]) {
      const exp = expirationOf(e)
      if (exp !== undefined && exp <= now && remove(e.id)) n++
    }
    return n
  }

  const purgeByRetentionSync = (policy: RetentionPolicy, now: number) => {
    let n = 0
    for (const e of [...byId.values()]) {
      const age = maxAgeOf(policy, e.kind)
      if (age !== undefined && e.created_at < now - age && remove(e.id)) n++
    }
    return n
  }

  return EventStore.of({
    put: (e) => Effect.sync(() => putSync(e)),
    query,
    count: (filters) => Effect.map(query(filters.map(({ limit: _limit, ...f }) => f)), (r) => r.length),
    // The events' JSON text, a walk over them all: fine for the small stores this adapter is for.
    size: Effect.sync(() => {
      let bytes = 0
      for (const e of byId.values()) bytes += eventJson(e).length
      return bytes
    }),
    countHll: (filters, offset) =>
      Effect.map(query(filters.map(({ limit: _limit, ...f }) => f)), (r) => {
        const hll = new Uint8Array(HLL_REGISTERS)
        for (const e of r) hllAdd(hll, e.pubkey, offset)
        return { count: r.length, hll }
      }),
    deleteByRequest: (r) => Effect.sync(() => deleteByRequestSync(r)),
    vanish: (pubkey, until) => Effect.sync(() => vanishSync(pubkey, until)),
    negentropyRecords: (filters, max) =>
      Effect.map(query(filters), (events) => events.slice(0, max).map((e) => ({ created_at: e.created_at, id: e.id, pubkey: e.pubkey }))),
    authorsAtDomain: (domain) => Effect.sync(() => authorsAtDomainSync(domain)),
    storedIds: (ids) => Effect.sync(() => new Set(ids.filter((id) => byId.has(id)))),
    // Sorts every match per page: fine for tests and small stores, which is what this adapter is for.
    scan: (filter, after, max) =>
      Effect.map(nowSeconds, (now) => {
        const { limit: _limit, ...f } = filter
        const all = matching(f, now).sort(compareOldestFirst)
        const from = after === undefined ? 0 : all.findIndex((e) => compareOldestFirst(e, after) > 0)
        return from < 0 ? [] : all.slice(from, from + max).map(servedEvent)
      }),
    vanished: Effect.sync(() => [...vanishedUntil].map(([pubkey, until]) => ({ pubkey, until }))),
    purgeExpired: (now) => Effect.sync(() => purgeExpiredSync(now)),
    purgeByRetention: (policy, now) => Effect.sync(() => purgeByRetentionSync(policy, now))
  })
}

/** A fresh, empty in-memory store per layer build. */
export const layerMemory = Layer.sync(EventStore, makeMemoryEventStore)

