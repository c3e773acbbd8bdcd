/**
 * The hot window: the most recent stored events in memory, bounded in bytes,
 * each kept as its stored JSON text, indexed by id, kind, author and
 * single-letter tag, answering a filter only when its answer provably lies
 * inside the window. Synchronous and pure of Effect: the store decorator in
 * ../withHotWindow.ts fills it and asks it (this folder knows no store).
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
 *
 * The pieces: ./entry.ts (an entry and its byte estimate), ./posting.ts (the
 * sorted index lists), ./indexes.ts (the indexes), ./tombstones.ts (recent
 * removals), ./match.ts (a filter's matches; the conditions themselves are
 * src/nostr/filter.ts's), ./plan.ts (the window's part of an answer). This
 * file holds what is in the window, and what it covers.
 */
import { replacementKey, type DeletionRequest, type Filter, type NostrEvent } from "../../nostr/index.ts"
import { maxAgeOf, type RetentionPolicy } from "../../config/retention.ts"
import type { Entry } from "./entry.ts"
import { makeIndexes } from "./indexes.ts"
import { makeMatcher } from "./match.ts"
import { makePlanner, type Plan } from "./plan.ts"
import { addressOf, makeTombstones, UNDELETABLE } from "./tombstones.ts"

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

export interface HotWindowStats {
  readonly bytes: number
  readonly events: number
  /** Every stored event at or after this created_at is in the window (-Infinity: all of them; +Infinity: none yet). */
  readonly floor: number
  readonly evicted: number
}

/**
 * Most committed events waiting to go into the index lists together (./indexes.ts `flush`), and so
 * past the byte budget until they do (~0.5 MB of bench events).
 */
const MAX_PENDING = 512

export const makeHotWindow = (options: HotWindowOptions) => {
  const maxBytes = options.maxBytes
  const ix = makeIndexes()
  const { byId, byAddress, all, expiring, remove, oldestLive } = ix
  const tombstones = makeTombstones({ capacity: options.tombstones ?? 16_384, vanishGraceMs: options.vanishGraceMs ?? 60_000 })
  const planner = makePlanner(ix, makeMatcher(ix, { maxScan: options.maxScan ?? 20_000, retention: options.retention }))

  let evicted = 0
  /** Not ready: nothing is claimed (warming up, or starting over after the bus may have missed events). */
  let ready = false
  let floor = -Infinity

  /** Drops every event older than `c` and claims nothing below it. */
  const raiseFloor = (c: number) => {
    for (let e = oldestLive(); e !== undefined && e.created_at < c; e = oldestLive()) {
      remove(e)
      evicted++
    }
    if (c > floor) floor = c
  }

  const evict = () => {
    while (ix.bytes > maxBytes) {
      const oldest = oldestLive()
      if (oldest === undefined) break
      raiseFloor(oldest.created_at + 1)
    }
  }

  /** The pending entries into their lists (./indexes.ts), then evicted down to the budget. Every answer and removal starts here. */
  const settle = () => {
    ix.flush()
    if (ix.bytes > maxBytes) evict()
  }

  /**
   * A stored event (committed here, or by another process): into the window unless it is older
   * than the floor, already there, superseded by the version there, or removed meanwhile.
   */
  const add = (e: NostrEvent, json: string, origin: Origin): boolean => {
    if (e.created_at < floor || byId.has(e.id)) return false
    const address = replacementKey(e)
    if (tombstones.deleted(e, address)) return false
    // This process's own commits follow its requests to vanish; what comes from elsewhere may have raced one.
    if (origin !== "local" && tombstones.doubtful(e)) {
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
    const entry = ix.insert(e, json, address)
    // A fill decides how far back to read by what the window holds: it settles at once.
    if (origin === "fill" || ix.pending >= MAX_PENDING) settle()
    return !entry.dead
  }

  // ---------------------------------------------------------------- removals (what the store did)

  const deleteByRequest = (r: DeletionRequest) => {
    settle()
    tombstones.recordDeletion(r)
    for (const id of r.ids) {
      const e = byId.get(id)
      if (e === undefined || e.pubkey !== r.pubkey || UNDELETABLE.has(e.kind)) continue
      if (r.kinds !== undefined && !r.kinds.includes(e.kind)) continue
      remove(e)
    }
    for (const a of r.addresses) {
      if (a.pubkey !== r.pubkey) continue
      const e = byAddress.get(addressOf(a))
      if (e !== undefined && e.created_at <= r.until) remove(e)
    }
  }

  /**
   * A request to vanish (NIP-62), applied by the store: everything it removed is at or before
   * `until`, so the window stops claiming anything there. True when that cost coverage (the
   * caller fills the window again once doubtful arrivals are over).
   */
  const vanish = (pubkey: string, until: number): boolean => {
    settle()
    tombstones.recordVanish(pubkey, until)
    if (until < floor) return false
    raiseFloor(until + 1)
    return true
  }

  const purgeExpired = (now: number) => {
    settle()
    for (const e of [...expiring]) if (e.expiration! <= now) remove(e)
  }

  const purgeByRetention = (policy: RetentionPolicy, now: number) => {
    settle()
    for (const e of [...all.items]) {
      if (e.dead) continue
      const age = maxAgeOf(policy, e.kind)
      if (age !== undefined && e.created_at < now - age) remove(e)
    }
  }

  // ---------------------------------------------------------------- answers

  const miss = (filters: ReadonlyArray<Filter>): Plan => ({ local: [], rest: filters, result: "miss" })

  return {
    add,
    deleteByRequest,
    vanish,
    purgeExpired,
    purgeByRetention,
    /**
     * How to answer `filters` (one REQ's, each with its own limit): the window's part and what the
     * store must add. The union of both, newest first, is what the store alone would answer.
     */
    plan: (filters: ReadonlyArray<Filter>, now: number): Plan => {
      if (!ready) return miss(filters)
      settle()
      return planner.plan(filters, now, floor)
    },
    /** The distinct matches of `filters` (limits ignored, as COUNT does), when the window holds all of them; else undefined. */
    countable: (filters: ReadonlyArray<Filter>, now: number): ReadonlyArray<Entry> | undefined => {
      if (!ready) return undefined
      settle()
      return planner.countable(filters, now, floor)
    },
    /** Starts claiming coverage, of everything at or after `from` (-Infinity: of every stored event). */
    open: (from: number) => {
      settle()
      raiseFloor(from)
      ready = true
    },
    /** Stops claiming anything and empties the window (the events it was told about may be incomplete). */
    reset: () => {
      ready = false
      ix.clear()
      floor = -Infinity
    },
    raiseFloor: (c: number) => {
      settle()
      raiseFloor(c)
    },
    get ready() {
      return ready
    },
    get floor() {
      return floor
    },
    /** Whether adding an event of this created_at can still succeed (a warm-up stops when not). */
    accepts: (createdAt: number) => createdAt >= floor,
    has: (id: string) => byId.has(id),
    stats: (): HotWindowStats => {
      settle()
      return { bytes: ix.bytes, events: byId.size, floor: ready ? floor : Infinity, evicted }
    }
  }
}

export type HotWindow = ReturnType<typeof makeHotWindow>
