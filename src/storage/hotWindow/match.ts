/**
 * A filter's matches among the hot window's entries. The conditions are the filter's own, stated
 * once in src/nostr/filter.ts (compileFilter, matchesFilterWith); this module says how an entry
 * meets a tag condition (entries keep no tags: the tag index answers), which index lists to read,
 * and what the window does not serve (expired events, those past their retention age).
 */
import { compareNewestFirst, compileFilter, hasTagIn, isEmptyFilter, matchesFilterWith, type Filter, type TagProbe } from "../../nostr/index.ts"
import { maxAgeOf, type RetentionPolicy } from "../../config/retention.ts"
import type { Entry } from "./entry.ts"
import { indexableTagValue } from "../EventStore.ts"
import type { Indexes } from "./indexes.ts"
import { upperIndex, type Posting } from "./posting.ts"

/** A tag condition with more values than this is checked on the parsed event, not looked up value by value. */
const FEW_VALUES = 16

/** Whether the window cannot answer this filter at all (the store must): `search`, or a tag value PostgreSQL does not index. */
export const unanswerable = (f: Filter): boolean => {
  if (f.search !== undefined) return true
  if (f.tags !== undefined) for (const name in f.tags) for (const v of f.tags[name]!) if (!indexableTagValue(v)) return true
  if (f.alsoTagged !== undefined && !indexableTagValue(f.alsoTagged.value)) return true
  return false
}

const sizeOf = <K>(m: ReadonlyMap<K, Posting<Entry>>, keys: ReadonlyArray<K>) => {
  let n = 0
  for (const k of keys) n += m.get(k)?.live ?? 0
  return n
}

const EMPTY: ReadonlyMap<string, Posting<Entry>> = new Map()

export interface MatcherOptions {
  /** Most entries one answer may examine before it gives up. */
  readonly maxScan: number
  /** The retention ages (the store's maintenance removes older events; the window does not serve them). */
  readonly retention: RetentionPolicy | undefined
}

export const makeMatcher = (ix: Indexes, options: MatcherOptions) => {
  const { maxScan, retention } = options
  const { byId, byKind, byAuthor, byTag, all } = ix
  /** kind -> retention age in seconds (Infinity: kept), memoized. */
  const ages = new Map<number, number>()
  const ageOf = (kind: number) => {
    let a = ages.get(kind)
    if (a === undefined) ages.set(kind, (a = (retention === undefined ? undefined : maxAgeOf(retention, kind)) ?? Infinity))
    return a
  }

  /** Not expired, not past its retention age (what the store's maintenance removes). */
  const current = (e: Entry, now: number) =>
    (e.expiration === undefined || e.expiration > now) && (retention === undefined || e.created_at >= now - ageOf(e.kind))

  /**
   * A tag condition on an entry: few values are looked up in the tag index one by one; many, on the
   * parsed event. An exclusion is always looked up (the parse would cost every entry examined), so
   * it leaves out, as PostgreSQL does, only events whose tag value is indexed.
   */
  const hasTag: TagProbe<Entry> = (e, t, exclusion) => {
    if (!exclusion && t.values.length > FEW_VALUES) return hasTagIn(e.event(), t)
    for (const v of t.values) if (ix.tagged(e, t.name, v)) return true
    return false
  }

  /** Served and matching `f` (`search` never comes here: unanswerable). */
  const live = (e: Entry, f: Filter, now: number) => current(e, now) && matchesFilterWith(f, e, hasTag)

  /**
   * The index lists a match of `f` must be in (the smallest choice), or [all]; `implied` when being
   * in one of them is all the filter asks besides its time range (no other condition to check).
   */
  const sources = (f: Filter): { readonly lists: ReadonlyArray<Posting<Entry>>; readonly implied: boolean } => {
    let best: Array<Posting<Entry>> | undefined
    let bestSize = Infinity
    let considered = 0
    const consider = <K>(m: ReadonlyMap<K, Posting<Entry>>, keys: ReadonlyArray<K>) => {
      considered++
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
    const c = compileFilter(f)
    if (f.authors !== undefined) consider(byAuthor, f.authors)
    if (f.kinds !== undefined) consider(byKind, f.kinds)
    for (const t of c.tags) consider(byTag.get(t.name) ?? EMPTY, t.values)
    // The conditions the lists answer are all the filter has, and a match is in the list of one.
    const implied = considered <= 1 && c.conditions === considered
    return { lists: best ?? [all], implied }
  }

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

  return { matches }
}

export type Matcher = ReturnType<typeof makeMatcher>
