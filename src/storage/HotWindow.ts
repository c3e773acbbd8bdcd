/**
 * The hot window: the most recent stored events in memory, bounded in bytes,
 * each kept as its stored JSON text, indexed by id, kind, author and
 * single-letter tag, answering a filter only when its answer provably lies
 * inside the window. Synchronous and pure of Effect: the store decorator in
 * ./withHotWindow.ts fills it and asks it (this file knows no store).
 *
 * Coverage. `floor` is a created_at such that every stored event with
 * created_at >= floor is in the window (the window holds nothing older).
 * Eviction takes the oldest second whole (all events of that created_at)
 * and raises the floor past it, so ties never straddle it. A filter's
 * answer is exact from the window when
 *   - it names ids and every one of them is in the window (no other stored
 *     event can have those ids), or
 *   - its `since` is at or after the floor, or
 *   - the window yields `limit` matches (all at or after the floor: any
 *     stored match newer than the limit-th one is in the window too).
 * Otherwise the window's matches are the newest part of the answer, and the
 * store is asked for the rest below the floor (`until: floor - 1`, the
 * remaining limit); a filter entirely below the floor goes to the store.
 *
 * What the store does, the window does: replaceable and addressable events
 * keep only the newest version; deletion requests and the expiry and
 * retention purges remove events; NIP-40 expiry and the retention ages are
 * checked when answering too. Tombstones of recent deletions keep an event
 * that reaches the window after its deletion (the commit of one process
 * racing a deletion on another) from coming back: the store refuses such an
 * event for ever, so refusing it is always right. A request to vanish is
 * different: the store refuses nothing by itself (a gift wrap to the pubkey,
 * or another request, may be stored after it), so the window cannot tell an
 * event that raced the request from one stored after it. It gives up what it
 * cannot prove instead: the floor goes past the request's created_at (all
 * that the request removes is below it), and for a while after, an event
 * from elsewhere that the request would have removed raises the floor past
 * itself rather than being taken. The caller fills the window again later.
 * Bans and private kinds are applied by the read pipeline to whatever the
 * window or the store answers.
 *
 * The window answers only what PostgreSQL would: a filter whose tag value is
 * one PostgreSQL does not index (over 2,000 UTF-8 bytes), or with `search`,
 * goes to the store.
 */
import { Buffer } from "node:buffer"
import {
  compareNewestFirst,
  expirationOf,
  isEmptyFilter,
  kindClass,
  replacementKey,
  servedFromJson,
  type DeletionRequest,
  type Filter,
  type NostrEvent,
  type ServedEvent
} from "../nostr/index.ts"
import { maxAgeOf, type RetentionPolicy } from "../config/retention.ts"

/**
 * A window entry: what matching needs, and the stored text to serve. It is its own ServedEvent (one
 * object per event held); the event itself is parsed only when asked for (private kinds). Its tags
 * are not kept (a held event's tag conditions are answered by the tag index): fewer objects that
 * outlive the young generation, so less for the garbage collector to mark.
 */
export class Entry implements ServedEvent {
  readonly id: string
  readonly pubkey: string
  readonly created_at: number
  readonly kind: number
  readonly json: string
  readonly expiration: number | undefined
  readonly address: string | undefined
  /** Estimated bytes this entry holds (text, indexes); set once indexed. */
  bytes = 0
  /** The index lists holding it. */
  readonly lists: Array<Posting> = []
  dead = false
  constructor(e: NostrEvent, pubkey: string, json: string, address: string | undefined) {
    this.id = e.id
    this.pubkey = pubkey
    this.created_at = e.created_at
    this.kind = e.kind
    this.json = json
    this.expiration = expirationOf(e)
    this.address = address
  }
  event(): NostrEvent {
    return servedFromJson(this.json, this.kind, this.created_at).event()
  }
}

/**
 * One index list: entries oldest first ((created_at, id desc) ascending, so newest first with
 * ties by lowest id read from the end). Removed entries are marked dead and dropped in bulk.
 */
class Posting {
  items: Array<Entry> = []
  dead = 0
  /** Start of the possibly live entries (the eviction list skips what it evicted). */
  head = 0
  readonly owner: Map<unknown, Posting> | undefined
  readonly key: unknown
  constructor(owner: Map<unknown, Posting> | undefined, key: unknown) {
    this.owner = owner
    this.key = key
  }
  get live() {
    return this.items.length - this.dead
  }
}

/** a sorts before b in a posting list: older, or same second and higher id. */
const before = (a: Entry, b: Entry) => a.created_at < b.created_at || (a.created_at === b.created_at && a.id > b.id)

const insertSorted = (p: Posting, e: Entry) => {
  const items = p.items
  const n = items.length
  if (n === 0 || before(items[n - 1]!, e)) {
    items.push(e)
    return
  }
  // Commits arrive nearly in order: look a few places back before searching the whole list.
  for (let i = n - 2; i >= Math.max(p.head, n - 8); i--) {
    if (before(items[i]!, e)) {
      items.splice(i + 1, 0, e)
      return
    }
  }
  let lo = p.head
  let hi = n
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (before(items[mid]!, e)) lo = mid + 1
    else hi = mid
  }
  items.splice(lo, 0, e)
}

/** Index of the first item with created_at > until (items.length when none). */
const upperIndex = (p: Posting, until: number) => {
  const items = p.items
  if (items.length === 0 || items[items.length - 1]!.created_at <= until) return items.length
  let lo = p.head
  let hi = items.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (items[mid]!.created_at <= until) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** PostgreSQL indexes a tag value only up to this many UTF-8 bytes (PostgresEventStore's MAX_INDEXED_TAG_BYTES). */
const MAX_INDEXED_TAG_BYTES = 2000
const indexable = (v: string) => v.length <= 500 || Buffer.byteLength(v, "utf8") <= MAX_INDEXED_TAG_BYTES


/** A filter's lists as sets, made once per filter object; tag conditions with many values as sets (checked on the parsed event). */
interface Compiled {
  readonly ids: ReadonlySet<string> | undefined
  readonly authors: ReadonlySet<string> | undefined
  readonly kinds: ReadonlySet<number> | undefined
  readonly excludeKinds: ReadonlySet<number> | undefined
  /** Few values: looked up in the tag index one by one; many: a set. */
  readonly tags: ReadonlyArray<readonly [string, ReadonlyArray<string> | ReadonlySet<string>]>
}
const FEW_VALUES = 16
const compiledFilters = new WeakMap<Filter, Compiled>()
const compiled = (f: Filter): Compiled => {
  let c = compiledFilters.get(f)
  if (c === undefined) {
    c = {
      ids: f.ids && new Set(f.ids),
      authors: f.authors && new Set(f.authors),
      kinds: f.kinds && new Set(f.kinds),
      excludeKinds: f.excludeKinds && new Set(f.excludeKinds),
      tags: f.tags === undefined ? [] : Object.entries(f.tags).map(([name, values]) => [name, values.length > FEW_VALUES ? new Set(values) : values] as const)
    }
    compiledFilters.set(f, c)
  }
  return c
}

/** A deletion (NIP-09) or a request to vanish (NIP-62) cannot be deleted by a deletion request. */
const UNDELETABLE: ReadonlySet<number> = new Set([5, 62])
const GIFT_WRAP = 1059

/** Characters outside Latin-1 make V8 keep a string at two bytes per character. */
// eslint-disable-next-line no-control-regex
const WIDE = /[^\u0000-\u00ff]/
/** Fixed cost of an entry (the object, its string headers, its map and list slots), measured roughly. */
const ENTRY_OVERHEAD = 240
/** Per index list holding it (its slot, the list array's share). */
const PER_INDEX = 32

/** A Map that forgets its oldest keys past `capacity` (tombstones: only recent removals can race). */
const remember = <K, V>(m: Map<K, V>, k: K, v: V, capacity: number) => {
  m.delete(k)
  m.set(k, v)
  if (m.size > capacity) m.delete(m.keys().next().value as K)
}

/** Where an event comes from: this process's commit, another's (the bus), or a fill from the store. */
export type Origin = "local" | "remote" | "fill"

export interface HotWindowOptions {
  /** The byte budget; events beyond it are evicted oldest first. */
  readonly maxBytes: number
  /** The retention ages (the store's maintenance removes older events; the window does not serve them). */
  readonly retention?: RetentionPolicy
  /** How long a request to vanish makes doubtful arrivals raise the floor (ms, wall clock). Default 60 s. */
  readonly vanishGraceMs?: number
  /** When the store decorator fills the window again after a request to vanish cost coverage (ms). Default: the grace. */
  readonly rebuildAfterVanishMs?: number
  /** Least time between two fills from the store (ms): a burst of gaps costs one fill. Default 1,000. */
  readonly minFillIntervalMs?: number
  /** Most entries one answer may examine before it gives up (the store answers instead). Default 20,000. */
  readonly maxScan?: number
  /** Recent removals remembered (per kind of removal). Default 16,384. */
  readonly tombstones?: number
}

/** The window's part of an answer. */
export interface Plan {
  /** Events from the window (newest first, deduplicated). */
  readonly local: ReadonlyArray<Entry>
  /** Filters the store must answer (whole filters, or the part of a filter below the floor). */
  readonly rest: ReadonlyArray<Filter>
  /** hit: all from the window; partial: window and store; miss: all from the store. */
  readonly result: "hit" | "partial" | "miss"
}

export interface HotWindowStats {
  readonly bytes: number
  readonly events: number
  /** Every stored event at or after this created_at is in the window (-Infinity: all of them; +Infinity: none yet). */
  readonly floor: number
  readonly evicted: number
}

export const makeHotWindow = (options: HotWindowOptions) => {
  const maxBytes = options.maxBytes
  const maxScan = options.maxScan ?? 20_000
  const tombstoneCapacity = options.tombstones ?? 16_384
  const vanishGraceMs = options.vanishGraceMs ?? 60_000
  const retention = options.retention
  /** kind -> retention age in seconds (Infinity: kept), memoized. */
  const ages = new Map<number, number>()
  const ageOf = (kind: number) => {
    let a = ages.get(kind)
    if (a === undefined) ages.set(kind, (a = (retention === undefined ? undefined : maxAgeOf(retention, kind)) ?? Infinity))
    return a
  }

  const byId = new Map<string, Entry>()
  const byKind = new Map<number, Posting>()
  const byAuthor = new Map<string, Posting>()
  /** letter -> value -> list. */
  const byTag = new Map<string, Map<string, Posting>>()
  const byAddress = new Map<string, Entry>()
  const all = new Posting(undefined, undefined)
  const expiring = new Set<Entry>()

  /**
   * (id, requester) -> the request's `k` kinds (undefined: any): the requester's event with this id
   * was deleted (another author's event with the same id is not theirs to delete).
   */
  const deletedIds = new Map<string, ReadonlyArray<number> | undefined>()
  const deletedKey = (id: string, pubkey: string) => `${id}:${pubkey}`
  /** address -> versions up to this created_at were deleted. */
  const deletedAddresses = new Map<string, number>()
  /** pubkey -> a request to vanish: its events (and gift wraps to it) up to `until`; doubtful arrivals until `expires` (ms). */
  const vanished = new Map<string, { readonly until: number; readonly expires: number }>()

  let bytes = 0
  let evicted = 0
  /** Not ready: nothing is claimed (warming up, or starting over after the bus may have missed events). */
  let ready = false
  let floor = -Infinity

  const tagPosting = (name: string, value: string): Posting => {
    let m = byTag.get(name)
    if (m === undefined) byTag.set(name, (m = new Map()))
    return postingOf(m, value)
  }

  const postingOf = <K>(m: Map<K, Posting>, k: K): Posting => {
    let p = m.get(k)
    if (p === undefined) {
      p = new Posting(m as Map<unknown, Posting>, k)
      m.set(k, p)
    }
    return p
  }

  const compact = (p: Posting) => {
    if (p.dead === p.items.length && p.owner !== undefined) {
      p.owner.delete(p.key)
      return
    }
    p.items = p.items.filter((e) => !e.dead)
    p.dead = 0
    p.head = 0
  }

  const remove = (e: Entry): boolean => {
    if (e.dead) return false
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

  const oldestLive = (): Entry | undefined => {
    const items = all.items
    while (all.head < items.length && items[all.head]!.dead) all.head++
    return items[all.head]
  }

  /** Drops every event older than `c` and claims nothing below it. */
  const raiseFloor = (c: number) => {
    for (let e = oldestLive(); e !== undefined && e.created_at < c; e = oldestLive()) {
      remove(e)
      evicted++
    }
    if (c > floor) floor = c
  }

  const evict = () => {
    while (bytes > maxBytes) {
      const oldest = oldestLive()
      if (oldest === undefined) break
      raiseFloor(oldest.created_at + 1)
    }
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

  /**
   * A stored event (committed here, or by another process): into the window unless it is older
   * than the floor, already there, superseded by the version there, or removed meanwhile.
   */
  const add = (e: NostrEvent, json: string, origin: Origin): boolean => {
    if (e.created_at < floor || byId.has(e.id)) return false
    const address = replacementKey(e)
    if (deleted(e, address)) return false
    // This process's own commits follow its requests to vanish; what comes from elsewhere may have raced one.
    if (origin !== "local" && vanished.size > 0 && doubtful(e)) {
      raiseFloor(e.created_at + 1)
      return false
    }
    if (address !== undefined) {
      const current = byAddress.get(address)
      if (current !== undefined) {
        if (!(e.created_at > current.created_at || (e.created_at === current.created_at && e.id < current.id))) return false
        remove(current)
      }
    }
    const author = postingOf(byAuthor, e.pubkey)
    // The author's list holds the pubkey once: every entry of that author shares its string.
    const entry = new Entry(e, author.key as string, json, address)
    const lists = entry.lists
    lists.push(all, postingOf(byKind, e.kind), author)
    for (const t of e.tags) {
      if (t.length < 2 || t[0]!.length !== 1 || !indexable(t[1]!)) continue
      const p = tagPosting(t[0]!, t[1]!)
      // The same tag twice indexes the event once.
      if (!lists.includes(p, 3)) lists.push(p)
    }
    entry.bytes = (WIDE.test(json) ? 2 : 1) * json.length + ENTRY_OVERHEAD + PER_INDEX * lists.length
    for (const p of lists) insertSorted(p, entry)
    byId.set(e.id, entry)
    if (address !== undefined) byAddress.set(address, entry)
    if (entry.expiration !== undefined) expiring.add(entry)
    bytes += entry.bytes
    if (bytes > maxBytes) evict()
    return !entry.dead
  }

  // ---------------------------------------------------------------- removals (what the store did)

  const deleteByRequest = (r: DeletionRequest) => {
    for (const id of r.ids) {
      const key = deletedKey(id, r.pubkey)
      const prior = deletedIds.get(key)
      const kinds = !deletedIds.has(key) ? r.kinds : prior === undefined || r.kinds === undefined ? undefined : [...prior, ...r.kinds]
      remember(deletedIds, key, kinds, tombstoneCapacity)
      const e = byId.get(id)
      if (e === undefined || e.pubkey !== r.pubkey || UNDELETABLE.has(e.kind)) continue
      if (r.kinds !== undefined && !r.kinds.includes(e.kind)) continue
      remove(e)
    }
    for (const a of r.addresses) {
      if (a.pubkey !== r.pubkey) continue
      const address = kindClass(a.kind) === "addressable" ? `${a.kind}:${a.pubkey}:${a.d}` : `${a.kind}:${a.pubkey}:`
      remember(deletedAddresses, address, Math.max(deletedAddresses.get(address) ?? -Infinity, r.until), tombstoneCapacity)
      const e = byAddress.get(address)
      if (e !== undefined && e.created_at <= r.until) remove(e)
    }
  }

  /**
   * A request to vanish (NIP-62), applied by the store: everything it removed is at or before
   * `until`, so the window stops claiming anything there. True when that cost coverage (the
   * caller fills the window again once doubtful arrivals are over).
   */
  const vanish = (pubkey: string, until: number): boolean => {
    const prior = vanished.get(pubkey)
    remember(vanished, pubkey, { until: Math.max(prior?.until ?? -Infinity, until), expires: Date.now() + vanishGraceMs }, tombstoneCapacity)
    if (until < floor) return false
    raiseFloor(until + 1)
    return true
  }

  const purgeExpired = (now: number) => {
    for (const e of [...expiring]) if (e.expiration! <= now) remove(e)
  }

  const purgeByRetention = (policy: RetentionPolicy, now: number) => {
    for (const e of [...all.items]) {
      if (e.dead) continue
      const age = maxAgeOf(policy, e.kind)
      if (age !== undefined && e.created_at < now - age) remove(e)
    }
  }

  // ---------------------------------------------------------------- answers

  /** Why the window cannot answer this filter at all (the store must), or undefined. */
  const unanswerable = (f: Filter): boolean => {
    if (f.search !== undefined) return true
    if (f.tags !== undefined) for (const name in f.tags) for (const v of f.tags[name]!) if (!indexable(v)) return true
    if (f.alsoTagged !== undefined && !indexable(f.alsoTagged.value)) return true
    return false
  }

  const sizeOf = (m: Map<string | number, Posting>, keys: ReadonlyArray<string | number>) => {
    let n = 0
    for (const k of keys) n += m.get(k)?.live ?? 0
    return n
  }

  const EMPTY = new Map<string | number, Posting>()

  /**
   * The index lists a match of `f` must be in (the smallest choice), or [all]; `implied` when being
   * in one of them is all the filter asks besides its time range (no other condition to check).
   */
  const sources = (f: Filter): { readonly lists: ReadonlyArray<Posting>; readonly implied: boolean } => {
    let best: Array<Posting> | undefined
    let bestSize = Infinity
    let conditions = 0
    const consider = (m: Map<string | number, Posting>, keys: ReadonlyArray<string | number>) => {
      conditions++
      const size = sizeOf(m, keys)
      if (size < bestSize) {
        bestSize = size
        best = []
        for (const k of keys.length === 1 ? keys : new Set(keys)) {
          const p = m.get(k)
          if (p !== undefined) best.push(p)
        }
      }
    }
    if (f.authors !== undefined) consider(byAuthor as Map<string | number, Posting>, f.authors)
    if (f.kinds !== undefined) consider(byKind as Map<string | number, Posting>, f.kinds)
    if (f.tags !== undefined) for (const name in f.tags) consider(byTag.get(name) ?? EMPTY, f.tags[name]!)
    const implied = conditions <= 1 && f.ids === undefined && f.excludeKinds === undefined && f.alsoTagged === undefined && f.excludeTagged === undefined && f.search === undefined
    return { lists: best ?? [all], implied }
  }

  /** Not expired, not past its retention age (what the store's maintenance removes). */
  const current = (e: Entry, now: number) =>
    (e.expiration === undefined || e.expiration > now) && (retention === undefined || e.created_at >= now - ageOf(e.kind))

  /** Whether the entry is in the list of tag `name` with `value` (a binary search in it). */
  const tagged = (e: Entry, name: string, value: string): boolean => {
    const p = byTag.get(name)?.get(value)
    if (p === undefined) return false
    const items = p.items
    let lo = p.head
    let hi = items.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (before(items[mid]!, e)) lo = mid + 1
      else hi = mid
    }
    return items[lo] === e
  }

  /** Whether the entry has a tag `name` whose first value is one of `values` (many: on the parsed event). */
  const hasTag = (e: Entry, name: string, values: ReadonlyArray<string> | ReadonlySet<string>): boolean => {
    if (values instanceof Set) {
      for (const t of e.event().tags) if (t[0] === name && t.length > 1 && values.has(t[1]!)) return true
      return false
    }
    for (const v of values as ReadonlyArray<string>) if (tagged(e, name, v)) return true
    return false
  }

  /** matchesFilter for an entry (whose tags are in the index, not in the entry); `search` never comes here. */
  const matchesEntry = (f: Filter, e: Entry): boolean => {
    if (f.since !== undefined && e.created_at < f.since) return false
    if (f.until !== undefined && e.created_at > f.until) return false
    const c = compiled(f)
    if (c.ids !== undefined && !c.ids.has(e.id)) return false
    if (c.authors !== undefined && !c.authors.has(e.pubkey)) return false
    if (c.kinds !== undefined && !c.kinds.has(e.kind)) return false
    if (c.excludeKinds !== undefined && c.excludeKinds.has(e.kind)) return false
    if (f.alsoTagged !== undefined && !tagged(e, f.alsoTagged.name, f.alsoTagged.value)) return false
    // The read policy's exclusions (private NIP-29 groups, hidden groups' state): as matchesFilter.
    if (f.excludeTagged !== undefined) {
      for (const x of f.excludeTagged) {
        if (x.kinds !== undefined && !x.kinds.includes(e.kind)) continue
        if (hasTag(e, x.name, x.values)) return false
      }
    }
    for (const [name, values] of c.tags) if (!hasTag(e, name, values)) return false
    return true
  }

  const live = (e: Entry, f: Filter, now: number) => current(e, now) && matchesEntry(f, e)

  /**
   * The window's matches of `f`, newest first, at most `limit`; undefined when finding them would
   * examine more than maxScan entries (the store answers then).
   */
  const matches = (f: Filter, limit: number, now: number): Array<Entry> | undefined => {
    if (limit <= 0 || isEmptyFilter(f)) return []
    if (f.ids !== undefined) {
      const out: Array<Entry> = []
      for (const id of f.ids.length === 1 ? f.ids : new Set(f.ids)) {
        const e = byId.get(id)
        if (e !== undefined && live(e, f, now)) out.push(e)
      }
      out.sort(compareNewestFirst)
      return out.length > limit ? out.slice(0, limit) : out
    }
    const { lists, implied } = sources(f)
    const since = f.since ?? -Infinity
    let budget = maxScan
    const out: Array<Entry> = []
    for (const p of lists) {
      const items = p.items
      let got = 0
      for (let i = (f.until === undefined ? items.length : upperIndex(p, f.until)) - 1; i >= p.head && got < limit; i--) {
        const e = items[i]!
        if (e.created_at < since) break
        if (--budget < 0) return undefined
        if (!e.dead && (implied ? current(e, now) : live(e, f, now))) {
          out.push(e)
          got++
        }
      }
    }
    if (lists.length === 1) return out
    out.sort(compareNewestFirst)
    // The same event through two values of one tag letter: neighbours once sorted.
    let n = 0
    for (let i = 0; i < out.length && n < limit; i++) if (i === 0 || out[i] !== out[i - 1]) out[n++] = out[i]!
    out.length = n
    return out
  }

  const allIdsHere = (f: Filter) => {
    if (f.ids === undefined) return false
    for (const id of f.ids) if (!byId.has(id)) return false
    return true
  }

  /** Every stored match of `f` is in the window, whatever its limit. */
  const fullyCovered = (f: Filter) => floor === -Infinity || (f.since !== undefined && f.since >= floor) || allIdsHere(f)

  /**
   * How to answer `filters` (one REQ's, each with its own limit): the window's part and what the
   * store must add. The union of both, newest first, is what the store alone would answer.
   */
  const plan = (filters: ReadonlyArray<Filter>, now: number): Plan => {
    if (!ready) return { local: [], rest: filters, result: "miss" }
    for (const f of filters) if (unanswerable(f)) return { local: [], rest: filters, result: "miss" }
    let local: Array<Entry> | undefined
    let rest: Array<Filter> | undefined
    let fromWindow = 0
    for (const f of filters) {
      const limit = f.limit ?? Infinity
      const below = f.until !== undefined && f.until < floor
      const found = below ? undefined : matches(f, limit, now)
      if (found === undefined) {
        ;(rest ??= []).push(f)
        continue
      }
      fromWindow++
      if (found.length > 0) local = local === undefined ? found : local.concat(found)
      if (found.length >= limit || fullyCovered(f)) continue
      // The window holds the newest matches; the store adds the rest, all older than the floor (of
      // named ids, only those the window lacks: an id it holds is an event at or after the floor).
      const older: { -readonly [K in keyof Filter]: Filter[K] } = { ...f, until: floor - 1 }
      if (limit === Infinity) delete older.limit
      else older.limit = limit - found.length
      if (f.ids !== undefined) older.ids = f.ids.filter((id) => !byId.has(id))
      ;(rest ??= []).push(older)
    }
    if (local !== undefined && filters.length > 1) {
      local.sort(compareNewestFirst)
      let n = 0
      for (let i = 0; i < local.length; i++) if (i === 0 || local[i] !== local[i - 1]) local[n++] = local[i]!
      local.length = n
    }
    return {
      local: local ?? [],
      rest: rest ?? [],
      result: fromWindow === 0 ? "miss" : rest === undefined ? "hit" : "partial"
    }
  }

  /** The distinct matches of `filters` (limits ignored, as COUNT does), when the window holds all of them; else undefined. */
  const countable = (filters: ReadonlyArray<Filter>, now: number): ReadonlyArray<Entry> | undefined => {
    if (!ready) return undefined
    for (const f of filters) if (unanswerable(f) || !fullyCovered(f)) return undefined
    const seen = new Set<Entry>()
    for (const f of filters) {
      const found = matches(f, Infinity, now)
      if (found === undefined) return undefined
      for (const e of found) seen.add(e)
    }
    return [...seen]
  }

  return {
    add,
    deleteByRequest,
    vanish,
    purgeExpired,
    purgeByRetention,
    plan,
    countable,
    /** Starts claiming coverage, of everything at or after `from` (-Infinity: of every stored event). */
    open: (from: number) => {
      raiseFloor(from)
      ready = true
    },
    /** Stops claiming anything and empties the window (the events it was told about may be incomplete). */
    reset: () => {
      ready = false
      for (const e of [...all.items]) remove(e)
      compact(all)
      floor = -Infinity
    },
    raiseFloor,
    get ready() {
      return ready
    },
    get floor() {
      return floor
    },
    /** Whether adding an event of this created_at can still succeed (a warm-up stops when not). */
    accepts: (createdAt: number) => createdAt >= floor,
    has: (id: string) => byId.has(id),
    stats: (): HotWindowStats => ({ bytes, events: byId.size, floor: ready ? floor : Infinity, evicted })
  }
}

export type HotWindow = ReturnType<typeof makeHotWindow>
