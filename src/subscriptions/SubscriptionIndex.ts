/**
 * SubscriptionIndex: the live filters of every connection, indexed so that a
 * new event is matched against a handful of candidate filters instead of
 * every subscription (strfry's "ActiveMonitors" idea).
 *
 * Each filter is registered under exactly one field, the most selective it
 * has: its ids, else its authors, else the values of one of its tags, else
 * its kinds; a filter with none of these (only since/until) goes to a short
 * list checked for every event. An event looks up its own id, pubkey, kind
 * and tag values, and every candidate is confirmed with the rest of its
 * filter (the field it was found by holds already).
 *
 * Memory (issue 16): a filter value is the heaviest thing a client can make
 * the relay keep, so one costs little (scripts/bench-subscriptions.ts: 128
 * bytes of heap for a value no other filter holds, 37 for a shared one;
 * 320 before). Each field has its own map keyed by the value itself (no key
 * strings are built); a value held by one filter maps straight to that
 * filter's entry, one held by several to a `Many` whose key string every
 * later filter holding the value shares (not a copy of its own). An entry keeps only what matching needs: its keys, since,
 * until and kinds as fields, and a filter of whatever else is left (usually
 * nothing) for the full matcher. Neither the subscription nor its filters
 * are kept, so the REQ's own strings go once it is answered.
 *
 * Budgets: every subscription is charged its estimated size (budget.ts)
 * against its connection and its IP when added, and released when removed,
 * replaced or its connection ends; `add` refuses one that does not fit.
 *
 * All methods are synchronous: they run on the hot path of every EVENT.
 */
import { Context, Effect, Layer } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import { matchesFilter, type Filter, type NostrEvent } from "../nostr/index.ts"
import { BudgetLedger, subscriptionCost, type BudgetLimits, type OverBudget } from "./budget.ts"

/** One live subscription: its filters and where its frames go. */
export interface LiveSubscription {
  readonly connectionId: number
  /** The client IP of the connection (the per-IP budget). */
  readonly ip: string
  readonly subId: string
  /** Read when added; the index keeps what it needs of them, not these objects. */
  readonly filters: ReadonlyArray<Filter>
  /** Called at most once per event. */
  readonly deliver: (event: NostrEvent) => void
}

/** Sequence number of the last event delivered, shared by a subscription's filters (delivered once when several match). */
interface DeliveryState {
  lastSeq: number
}

/**
 * One filter of a subscription, as registered. It keeps neither the
 * subscription nor its filters: the strings of a REQ are let go once the REQ
 * is answered, and the index keeps one copy of each value (its map's key).
 */
class Entry {
  readonly deliver: (event: NostrEvent) => void
  readonly state: DeliveryState
  /** The map it is registered in (undefined: checked for every event). */
  readonly home: Map<Key, Bucket> | undefined
  /** Its keys in `home` (the strings shared with other filters holding the same value, where there are some). */
  readonly keys: Array<Key>
  /** The rest of the filter, checked once it is found under a key: the common conditions as fields, ... */
  readonly since: number | undefined
  readonly until: number | undefined
  readonly kinds: ReadonlyArray<number> | ReadonlySet<number> | undefined
  /** ... and the others as a filter for the full matcher (undefined when there are none). */
  readonly rest: Filter | undefined
  constructor(deliver: (event: NostrEvent) => void, state: DeliveryState, home: Map<Key, Bucket> | undefined, keys: Array<Key>, check: Check) {
    this.deliver = deliver
    this.state = state
    this.home = home
    this.keys = keys
    this.since = check.since
    this.until = check.until
    this.kinds = check.kinds
    this.rest = check.rest
  }
}

type Key = string | number

/**
 * The filters under one key when there are several: a few in an array that is
 * replaced, never changed (a publish walking it is unaffected), many in a Set.
 * It keeps the key, so that every later filter holding the same value shares
 * this one string instead of keeping its own copy.
 */
class Many {
  readonly key: Key
  entries: ReadonlyArray<Entry> | Set<Entry>
  constructor(key: Key, entries: ReadonlyArray<Entry>) {
    this.key = key
    this.entries = entries
  }
}

/** The filters under one key: one (most values are held by one filter), or several. */
type Bucket = Entry | Many
/** Up to this many entries a Many holds an array. */
const SMALL = 8

/** Registers the entry under `key`; returns the key to keep (the shared string when another filter holds it too). */
const bucketAdd = (home: Map<Key, Bucket>, key: Key, entry: Entry): Key => {
  const b = home.get(key)
  if (b === undefined) {
    home.set(key, entry)
    return key
  }
  if (b instanceof Entry) {
    home.set(key, new Many(key, [b, entry]))
    return key
  }
  const e = b.entries
  if (e instanceof Set) e.add(entry)
  else b.entries = e.length < SMALL ? [...e, entry] : new Set([...e, entry])
  return b.key
}

const bucketRemove = (home: Map<Key, Bucket>, key: Key, entry: Entry): void => {
  const b = home.get(key)
  if (b === undefined || b === entry) {
    home.delete(key)
    return
  }
  if (b instanceof Entry) return
  const e = b.entries
  let left: number
  if (e instanceof Set) {
    e.delete(entry)
    left = e.size
  } else {
    // A value listed twice in one filter was added twice: every copy goes.
    const kept = e.filter((x) => x !== entry)
    if (kept.length !== e.length) b.entries = kept
    left = kept.length
  }
  if (left === 0) home.delete(key)
  else if (left === 1) home.set(key, b.entries instanceof Set ? b.entries.values().next().value! : b.entries[0]!)
}

/** What a subscription holds: its entries and what it was charged. */
interface Registration {
  readonly entries: ReadonlyArray<Entry>
  readonly cost: number
  readonly ip: string
}

export interface SubscriptionIndexShape {
  /**
   * Adds (or replaces, by connection + subId) a live subscription, charging its
   * estimated size to its connection and IP. Over a budget it is not added (a
   * replaced one stays removed) and the budget it would pass is returned.
   */
  readonly add: (sub: LiveSubscription) => OverBudget | undefined
  readonly remove: (connectionId: number, subId: string) => boolean
  readonly removeConnection: (connectionId: number) => number
  /** Delivers the event to every subscription with a matching filter; returns how many. */
  readonly publish: (event: NostrEvent) => number
  readonly size: () => number
  readonly countFor: (connectionId: number) => number
  /** Estimated bytes all live subscriptions are charged (budget.ts). */
  readonly bytes: () => number
  /** Estimated bytes the connection's subscriptions are charged. */
  readonly bytesFor: (connectionId: number) => number
  /** Estimated bytes the subscriptions of all connections from this IP are charged. */
  readonly bytesForIp: (ip: string) => number
}

type Field = "ids" | "authors" | "kinds" | "all" | `#${string}`

/** The field a filter is registered under: its ids, else authors, else its tag list with the fewest values, else kinds. */
const fieldOf = (f: Filter): Field => {
  if (f.ids) return "ids"
  if (f.authors) return "authors"
  if (f.tags) {
    let best: string | undefined
    for (const name in f.tags) if (best === undefined || f.tags[name]!.length < f.tags[best]!.length) best = name
    if (best !== undefined) return `#${best}`
  }
  return f.kinds ? "kinds" : "all"
}

const valuesOf = (f: Filter, field: Field): ReadonlyArray<Key> =>
  field === "ids" ? f.ids! : field === "authors" ? f.authors! : field === "kinds" ? f.kinds! : field === "all" ? [] : f.tags![field.slice(1)]!

/** What a found filter still has to check. */
interface Check {
  readonly since: number | undefined
  readonly until: number | undefined
  readonly kinds: ReadonlyArray<number> | ReadonlySet<number> | undefined
  readonly rest: Filter | undefined
}

/** Past this many kinds, a Set answers `has` faster than the array. */
const FEW_KINDS = 16

/** The conditions of `f` other than its indexed field (and `limit`, which plays no part live). */
const checkOf = (f: Filter, field: Field): Check => {
  let rest: Record<string, unknown> | undefined
  let kinds: ReadonlyArray<number> | ReadonlySet<number> | undefined
  for (const key in f) {
    const v = (f as Record<string, unknown>)[key]
    if (v === undefined || key === "limit" || key === field || key === "since" || key === "until") continue
    if (key === "kinds") {
      kinds = f.kinds!.length > FEW_KINDS ? new Set(f.kinds) : f.kinds
    } else if (key === "tags" && field.startsWith("#")) {
      const others = Object.entries(f.tags!).filter(([name]) => name !== field.slice(1))
      if (others.length > 0) (rest ??= {}).tags = Object.fromEntries(others)
    } else {
      (rest ??= {})[key] = v
    }
  }
  return { since: f.since, until: f.until, kinds, rest: rest as Filter | undefined }
}

export const makeSubscriptionIndex = (limits: BudgetLimits = { perConnection: 0, perIp: 0 }): SubscriptionIndexShape => {
  const ids = new Map<Key, Bucket>()
  const authors = new Map<Key, Bucket>()
  const kinds = new Map<Key, Bucket>()
  const tags = new Map<string, Map<Key, Bucket>>()
  const unkeyed = new Set<Entry>()
  /** connectionId -> subId -> registration */
  const byConnection = new Map<number, Map<string, Registration>>()
  const ledger = new BudgetLedger(limits)
  let total = 0
  let seq = 0

  const homeOf = (field: string): Map<Key, Bucket> | undefined => {
    switch (field) {
      case "ids":
        return ids
      case "authors":
        return authors
      case "kinds":
        return kinds
      case "all":
        return undefined
    }
    const name = field.slice(1)
    let m = tags.get(name)
    if (m === undefined) tags.set(name, (m = new Map()))
    return m
  }

  const unregister = (connectionId: number, r: Registration) => {
    for (const entry of r.entries) {
      const home = entry.home
      if (home === undefined) unkeyed.delete(entry)
      else for (const k of entry.keys) bucketRemove(home, k, entry)
    }
    ledger.release(connectionId, r.ip, r.cost)
  }

  const remove = (connectionId: number, subId: string) => {
    const subs = byConnection.get(connectionId)
    const r = subs?.get(subId)
    if (subs === undefined || r === undefined) return false
    unregister(connectionId, r)
    subs.delete(subId)
    if (subs.size === 0) byConnection.delete(connectionId)
    total--
    return true
  }

  const add = (sub: LiveSubscription): OverBudget | undefined => {
    remove(sub.connectionId, sub.subId)
    const cost = subscriptionCost(sub.filters)
    const over = ledger.tryCharge(sub.connectionId, sub.ip, cost)
    if (over !== undefined) return over
    const state: DeliveryState = { lastSeq: -1 }
    const entries = sub.filters.map((filter): Entry => {
      const field = fieldOf(filter)
      const values = valuesOf(filter, field)
      const home = homeOf(field)
      const keys = new Array<Key>(values.length)
      const entry = new Entry(sub.deliver, state, home, keys, checkOf(filter, field))
      if (home === undefined) unkeyed.add(entry)
      else for (let i = 0; i < keys.length; i++) keys[i] = bucketAdd(home, values[i]!, entry)
      return entry
    })
    let subs = byConnection.get(sub.connectionId)
    if (subs === undefined) byConnection.set(sub.connectionId, (subs = new Map()))
    subs.set(sub.subId, { entries, cost, ip: sub.ip })
    total++
    return undefined
  }

  /** Offers the event to one filter; 1 when delivered. */
  const offer = (entry: Entry, event: NostrEvent, mySeq: number): number => {
    if (entry.state.lastSeq === mySeq) return 0
    if (entry.since !== undefined && event.created_at < entry.since) return 0
    if (entry.until !== undefined && event.created_at > entry.until) return 0
    const kinds = entry.kinds
    if (kinds !== undefined && !(kinds instanceof Set ? kinds.has(event.kind) : (kinds as ReadonlyArray<number>).includes(event.kind))) return 0
    if (entry.rest !== undefined && !matchesFilter(entry.rest, event)) return 0
    entry.state.lastSeq = mySeq
    entry.deliver(event)
    return 1
  }
  const visit = (b: Bucket | undefined, event: NostrEvent, mySeq: number): number => {
    if (b === undefined) return 0
    if (b instanceof Entry) return offer(b, event, mySeq)
    let n = 0
    for (const entry of b.entries) n += offer(entry, event, mySeq)
    return n
  }

  const publish = (event: NostrEvent) => {
    const mySeq = ++seq
    let n = 0
    if (ids.size > 0) n += visit(ids.get(event.id), event, mySeq)
    if (authors.size > 0) n += visit(authors.get(event.pubkey), event, mySeq)
    if (tags.size > 0) {
      for (const tag of event.tags) {
        const name = tag[0]!
        if (name.length === 1 && tag.length > 1) {
          const m = tags.get(name)
          if (m !== undefined) n += visit(m.get(tag[1]!), event, mySeq)
        }
      }
    }
    if (kinds.size > 0) n += visit(kinds.get(event.kind), event, mySeq)
    if (unkeyed.size > 0) for (const entry of unkeyed) n += offer(entry, event, mySeq)
    return n
  }

  return {
    add,
    remove,
    removeConnection: (connectionId) => {
      const subs = byConnection.get(connectionId)
      if (subs === undefined) return 0
      const n = subs.size
      for (const r of subs.values()) unregister(connectionId, r)
      byConnection.delete(connectionId)
      total -= n
      return n
    },
    publish,
    size: () => total,
    countFor: (connectionId) => byConnection.get(connectionId)?.size ?? 0,
    bytes: () => ledger.total,
    bytesFor: (connectionId) => ledger.ofConnection(connectionId),
    bytesForIp: (ip) => ledger.ofIp(ip)
  }
}

export class SubscriptionIndex extends Context.Service<SubscriptionIndex, SubscriptionIndexShape>()(
  "parrhesia/subscriptions/SubscriptionIndex"
) {
  /** Budgets from maxSubscriptionBytesPerConnection and maxSubscriptionBytesPerIp. */
  static readonly layer = Layer.effect(
    SubscriptionIndex,
    Effect.gen(function* () {
      const c = yield* RelayConfig
      return makeSubscriptionIndex({ perConnection: c.maxSubscriptionBytesPerConnection, perIp: c.maxSubscriptionBytesPerIp })
    })
  )
}
