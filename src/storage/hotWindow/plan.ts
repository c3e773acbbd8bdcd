/**
 * How the hot window answers a REQ or a COUNT: its matches, and what the store must add, by what
 * the window covers (every stored event at or after its floor; see ./window.ts).
 */
import { compareNewestFirst, type Filter } from "../../nostr/index.ts"
import type { Entry } from "./entry.ts"
import type { Indexes } from "./indexes.ts"
import { unanswerable, type Matcher } from "./match.ts"

/** The window's part of an answer. */
export interface Plan {
  /** Events from the window (newest first, deduplicated). */
  readonly local: ReadonlyArray<Entry>
  /** Filters the store must answer (whole filters, or the part of a filter below the floor). */
  readonly rest: ReadonlyArray<Filter>
  /** hit: all from the window; partial: window and store; miss: all from the store. */
  readonly result: "hit" | "partial" | "miss"
}

export const makePlanner = (ix: Indexes, matcher: Matcher) => {
  const { byId } = ix
  const { matches } = matcher

  const allIdsHere = (f: Filter) => {
    if (f.ids === undefined) return false
    for (const id of f.ids) if (!byId.has(id)) return false
    return true
  }

  /** Every stored match of `f` is in the window, whatever its limit. */
  const fullyCovered = (f: Filter, floor: number) => floor === -Infinity || (f.since !== undefined && f.since >= floor) || allIdsHere(f)

  /**
   * How to answer `filters` (one REQ's, each with its own limit) from a window that covers `floor`
   * on: the window's part and what the store must add. The union of both, newest first, is what the
   * store alone would answer.
   */
  const plan = (filters: ReadonlyArray<Filter>, now: number, floor: number): Plan => {
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
      if (found.length >= limit || fullyCovered(f, floor)) continue
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
  const countable = (filters: ReadonlyArray<Filter>, now: number, floor: number): ReadonlyArray<Entry> | undefined => {
    for (const f of filters) if (unanswerable(f) || !fullyCovered(f, floor)) return undefined
    const seen = new Set<Entry>()
    for (const f of filters) {
      const found = matches(f, Infinity, now)
      if (found === undefined) return undefined
      for (const e of found) seen.add(e)
    }
    return [...seen]
  }

  return { plan, countable }
}
