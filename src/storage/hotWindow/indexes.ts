/**
 * The hot window's indexes: its entries by id, kind, author, single-letter tag value and address
 * (replaceable and addressable events), the list of all of them (oldest first: eviction's order),
 * those that expire, and the bytes they hold. Adding and removing keep them in step.
 */
import type { NostrEvent } from "../../nostr/index.ts"
import { indexableTagValue } from "../EventStore.ts"
import { Entry, entryBytes } from "./entry.ts"
import { compact, holds, insertAll, insertSorted, Posting, postingOf } from "./posting.ts"


export const makeIndexes = () => {
  const byId = new Map<string, Entry>()
  const byKind = new Map<number, Posting<Entry>>()
  const byAuthor = new Map<string, Posting<Entry>>()
  /** letter -> value -> list. */
  const byTag = new Map<string, Map<string, Posting<Entry>>>()
  const byAddress = new Map<string, Entry>()
  const all = new Posting<Entry>(undefined, undefined)
  const expiring = new Set<Entry>()
  let bytes = 0
  /**
   * Entries indexed by id, address and expiry, and counted in `bytes`, but not in their lists yet
   * (`flush`). Commits come out of created_at order (a batch is written in id order, writers commit
   * concurrently), and inserting each where it belongs moved every newer item of its lists, ~500 on
   * average per list in a 20,000-event ingest: 5 µs an event. Put in together, each list merges
   * them in one pass. Removals and oldestLive flush first; answers read the lists after the window
   * settles (window.ts), which flushes.
   */
  let pending: Array<Entry> = []

  const tagPosting = (name: string, value: string): Posting<Entry> => {
    let m = byTag.get(name)
    if (m === undefined) byTag.set(name, (m = new Map()))
    return postingOf(m, value)
  }

  /** Puts the pending entries into their lists. */
  const flush = () => {
    if (pending.length === 0) return
    const batch = pending
    pending = []
    if (batch.length === 1) {
      for (const p of batch[0]!.lists) insertSorted(p, batch[0]!)
      return
    }
    const added = new Map<Posting<Entry>, Array<Entry>>()
    for (const e of batch)
      for (const p of e.lists) {
        const a = added.get(p)
        if (a === undefined) added.set(p, [e])
        else a.push(e)
      }
    for (const [p, a] of added) insertAll(p, a)
  }

  /** Indexes a new entry for the event (its version at `address`, if any, already removed); in its lists at the next flush. */
  const insert = (e: NostrEvent, json: string, address: string | undefined): Entry => {
    const author = postingOf(byAuthor, e.pubkey)
    // The author's list holds the pubkey once: every entry of that author shares its string.
    const entry = new Entry(e, author.key as string, json, address)
    const lists = entry.lists
    lists.push(all, postingOf(byKind, e.kind), author)
    for (const t of e.tags) {
      if (t.length < 2 || t[0]!.length !== 1 || !indexableTagValue(t[1]!)) continue
      const p = tagPosting(t[0]!, t[1]!)
      // The same tag twice indexes the event once.
      if (!lists.includes(p, 3)) lists.push(p)
    }
    entry.bytes = entryBytes(json, lists.length)
    pending.push(entry)
    byId.set(e.id, entry)
    if (address !== undefined) byAddress.set(address, entry)
    if (entry.expiration !== undefined) expiring.add(entry)
    bytes += entry.bytes
    return entry
  }

  /** Removes the entry from every index; false when it was removed already. */
  const remove = (e: Entry): boolean => {
    if (e.dead) return false
    flush()
    e.dead = true
    bytes -= e.bytes
    byId.delete(e.id)
    if (e.address !== undefined && byAddress.get(e.address) === e) byAddress.delete(e.address)
    if (e.expiration !== undefined) expiring.delete(e)
    for (const p of e.lists) {
      p.dead++
      if (p.dead === p.items.length || (p.dead > 32 && p.dead * 2 > p.items.length)) compact(p)
    }
    return true
  }

  /** Removes every entry. */
  const clear = () => {
    flush()
    for (const e of [...all.items]) remove(e)
    compact(all)
  }

  const oldestLive = (): Entry | undefined => {
    flush()
    const items = all.items
    while (all.head < items.length && items[all.head]!.dead) all.head++
    return items[all.head]
  }

  /** Whether the entry has a tag `name` whose first value is `value` (a binary search in that value's list). */
  const tagged = (e: Entry, name: string, value: string): boolean => {
    const p = byTag.get(name)?.get(value)
    return p !== undefined && holds(p, e)
  }

  return {
    byId: byId as ReadonlyMap<string, Entry>,
    byKind: byKind as ReadonlyMap<number, Posting<Entry>>,
    byAuthor: byAuthor as ReadonlyMap<string, Posting<Entry>>,
    byTag: byTag as ReadonlyMap<string, ReadonlyMap<string, Posting<Entry>>>,
    byAddress: byAddress as ReadonlyMap<string, Entry>,
    all,
    expiring: expiring as ReadonlySet<Entry>,
    get bytes() {
      return bytes
    },
    get pending() {
      return pending.length
    },
    insert,
    flush,
    remove,
    clear,
    oldestLive,
    tagged
  }
}

export type Indexes = ReturnType<typeof makeIndexes>
