/**
 * SubscriptionIndex: the live filters of every connection, indexed so that a
 * new event is matched against a handful of candidate filters instead of
 * every subscription (strfry's "ActiveMonitors" idea).
 *
 * Each filter is registered under exactly one key, the most selective it has:
 * its ids, else its authors, else the values of one of its tags, else its
 * kinds; a filter with none of these (only since/until) goes to a short list
 * checked for every event. An event looks up its own id, pubkey, kind and
 * tag values, and every candidate is confirmed with the full matcher.
 *
 * All methods are synchronous: they run on the hot path of every EVENT.
 */
import { Context, Layer } from "effect"
import { matchesFilter, type Filter, type NostrEvent } from "../nostr/index.ts"

/** One live subscription: its filters and where its frames go. */
export interface LiveSubscription {
  readonly connectionId: number
  readonly subId: string
  readonly filters: ReadonlyArray<Filter>
  /** Called at most once per event. */
  readonly deliver: (event: NostrEvent) => void
}

interface Entry {
  readonly sub: LiveSubscription
  readonly filter: Filter
  /** Sequence number of the last event delivered, to deliver once per event when several filters match. */
  state: { lastSeq: number }
  readonly keys: ReadonlyArray<string>
}

export interface SubscriptionIndexShape {
  /** Adds (or replaces, by connection + subId) a live subscription. */
  readonly add: (sub: LiveSubscription) => void
  readonly remove: (connectionId: number, subId: string) => boolean
  readonly removeConnection: (connectionId: number) => number
  /** Delivers the event to every subscription with a matching filter; returns how many. */
  readonly publish: (event: NostrEvent) => number
  readonly size: () => number
  readonly countFor: (connectionId: number) => number
}

const ALL = "*"

const keysOf = (f: Filter): ReadonlyArray<string> => {
  if (f.ids) return f.ids.map((id) => `i${id}`)
  if (f.authors) return f.authors.map((a) => `a${a}`)
  if (f.tags) {
    // The tag list with the fewest values is the most selective choice.
    let best: [string, ReadonlyArray<string>] | undefined
    for (const entry of Object.entries(f.tags)) if (best === undefined || entry[1].length < best[1].length) best = entry
    if (best) return best[1].map((v) => `t${best[0]}:${v}`)
  }
  if (f.kinds) return f.kinds.map((k) => `k${k}`)
  return [ALL]
}

export const makeSubscriptionIndex = (): SubscriptionIndexShape => {
  const buckets = new Map<string, Set<Entry>>()
  /** connectionId -> subId -> entries */
  const byConnection = new Map<number, Map<string, ReadonlyArray<Entry>>>()
  let total = 0
  let seq = 0

  const unregister = (entries: ReadonlyArray<Entry>) => {
    for (const entry of entries) {
      for (const key of entry.keys) {
        const b = buckets.get(key)
        if (b && b.delete(entry) && b.size === 0) buckets.delete(key)
      }
    }
  }

  const remove = (connectionId: number, subId: string) => {
    const subs = byConnection.get(connectionId)
    const entries = subs?.get(subId)
    if (subs === undefined || entries === undefined) return false
    unregister(entries)
    subs.delete(subId)
    if (subs.size === 0) byConnection.delete(connectionId)
    total--
    return true
  }

  const add = (sub: LiveSubscription) => {
    remove(sub.connectionId, sub.subId)
    const state = { lastSeq: -1 }
    const entries = sub.filters.map((filter): Entry => ({ sub, filter, state, keys: keysOf(filter) }))
    for (const entry of entries) {
      for (const key of entry.keys) {
        let b = buckets.get(key)
        if (b === undefined) buckets.set(key, (b = new Set()))
        b.add(entry)
      }
    }
    let subs = byConnection.get(sub.connectionId)
    if (subs === undefined) byConnection.set(sub.connectionId, (subs = new Map()))
    subs.set(sub.subId, entries)
    total++
  }

  const publish = (event: NostrEvent) => {
    const mySeq = ++seq
    let delivered = 0
    const visit = (key: string) => {
      const b = buckets.get(key)
      if (b === undefined) return
      for (const entry of b) {
        if (entry.state.lastSeq === mySeq || !matchesFilter(entry.filter, event)) continue
        entry.state.lastSeq = mySeq
        delivered++
        entry.sub.deliver(event)
      }
    }
    visit(`i${event.id}`)
    visit(`a${event.pubkey}`)
    for (const tag of event.tags) {
      const name = tag[0]!
      if (name.length === 1 && tag.length > 1) visit(`t${name}:${tag[1]}`)
    }
    visit(`k${event.kind}`)
    visit(ALL)
    return delivered
  }

  return {
    add,
    remove,
    removeConnection: (connectionId) => {
      const subs = byConnection.get(connectionId)
      if (subs === undefined) return 0
      const n = subs.size
      for (const entries of subs.values()) unregister(entries)
      byConnection.delete(connectionId)
      total -= n
      return n
    },
    publish,
    size: () => total,
    countFor: (connectionId) => byConnection.get(connectionId)?.size ?? 0
  }
}

export class SubscriptionIndex extends Context.Service<SubscriptionIndex, SubscriptionIndexShape>()(
  "parrhesia/subscriptions/SubscriptionIndex"
) {
  static readonly layer = Layer.sync(SubscriptionIndex, makeSubscriptionIndex)
}
