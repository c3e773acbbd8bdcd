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
 * Versions of one replaceable or addressable address can reach the window
 * in another order than the store stored them (its own commits at once,
 * other processes' late). Where the store's choice then depends on an order
 * the window did not see (a version deleted or expired between the store's
 * replacing an older one and the older one's late arrival here), the window
 * gives up that second too: a deleted entry that won over another version
 * here raises the floor past that version (`displacedAt`), an older version
 * from elsewhere than a recently deleted or expired one is not taken and
 * raises the floor past itself, and an expired arrival that wins over the
 * version held raises the floor past the held one. (Still open: a fill
 * cannot see a version the store hides as expired but has not purged, so an
 * older version heard late after a refill can be taken; the property test
 * met it once in ~400,000 runs.)
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
import { expirationOf, replacementKey, type DeletionRequest, type Filter, type NostrEvent } from "../../nostr/index.ts"
import { maxAgeOf, type RetentionPolicy } from "../../config/retention.ts"
import type { Entry } from "./entry.ts"
import { makeIndexes } from "./indexes.ts"
import { makeMatcher } from "./match.ts"
import { makePlanner, type Plan } from "./plan.ts"
import { addressOf, beats, makeTombstones, UNDELETABLE } from "./tombstones.ts"

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
  /** The latest time (unix seconds) the window was told of, by an answer or the expiry purge. */
  let lastNow = -Infinity
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
   * A version of `address` that was removed before it reached the window (deleted, or expired
   * already: NIP-40, never served), refused: remembered as removed (an older version from elsewhere
   * is then doubtful). If it wins over the version held, the store may have replaced that version
   * with it before the removal (then it holds neither) or stored or kept that one after (then it
   * holds it): the window cannot tell, and gives up that version's second.
   */
  const refuseRemoved = (e: NostrEvent, address: string | undefined, current: Entry | undefined, beatsCurrent: boolean): false => {
    if (address !== undefined) tombstones.recordDeletedVersion(address, e)
    if (beatsCurrent) raiseFloor(current!.created_at + 1)
    return false
  }

  /**
   * A stored event (committed here, or by another process): into the window unless it is older
   * than the floor, already there, superseded by the version there, or removed meanwhile.
   */
  const add = (e: NostrEvent, json: string, origin: Origin): boolean => {
    if (e.created_at < floor || byId.has(e.id)) return false
    const address = replacementKey(e)
    const current = address === undefined ? undefined : byAddress.get(address)
    const beatsCurrent = current !== undefined && beats(e, current)
    if (tombstones.deleted(e, address)) return refuseRemoved(e, address, current, beatsCurrent)
    // This process's own commits follow its requests to vanish; what comes from elsewhere may have raced one.
    if (origin !== "local" && tombstones.doubtful(e)) {
      raiseFloor(e.created_at + 1)
      return false
    }
    // From elsewhere, older than a version deleted meanwhile: replaced by it before the deletion, or
    // stored after it? Likewise given up. (Its own commits reach the window in order; a fill reads the store.)
    if (origin === "remote" && address !== undefined && tombstones.olderThanDeleted(e, address)) {
      raiseFloor(e.created_at + 1)
      return false
    }
    const expiration = address === undefined ? undefined : expirationOf(e)
    if (expiration !== undefined && expiration <= lastNow) return refuseRemoved(e, address, current, beatsCurrent)
    let displaced: number | undefined
    if (current !== undefined) {
      if (!beatsCurrent) {
        // The window keeps its version; should that one be deleted later, the store may hold this one.
        current.displacedAt = Math.max(current.displacedAt ?? -Infinity, e.created_at)
        return false
      }
      displaced = Math.max(current.created_at, current.displacedAt ?? -Infinity)
      remove(current)
    }
    const entry = ix.insert(e, json, address)
    if (displaced !== undefined) entry.displacedAt = displaced
    // A fill adds oldest first and skips what eviction put below the floor (accepts): it settles at once.
    if (origin === "fill" || ix.pending >= MAX_PENDING) settle()
    return !entry.dead
  }

  // ---------------------------------------------------------------- removals (what the store did)

  /**
   * A deleted entry that won against another version of its address here (replaced it, or kept it
   * out): the window saw the two in its own order (its commits at once, other processes' late),
   * which need not be the store's. If the store stored the other version after this one's deletion,
   * it holds it and the window does not: the window gives up what it cannot prove, everything up to
   * that version's second.
   */
  const deleted = (e: Entry) => {
    forget(e)
    if (e.displacedAt !== undefined) raiseFloor(e.displacedAt + 1)
  }

  /** Removes an entry the store removed, remembering it as a removed version of its address (add's olderThanDeleted). */
  const forget = (e: Entry) => {
    remove(e)
    if (e.address !== undefined) tombstones.recordDeletedVersion(e.address, e)
  }

  const deleteByRequest = (r: DeletionRequest) => {
    settle()
    tombstones.recordDeletion(r)
    for (const id of r.ids) {
      const e = byId.get(id)
      if (e === undefined || e.pubkey !== r.pubkey || UNDELETABLE.has(e.kind)) continue
      if (r.kinds !== undefined && !r.kinds.includes(e.kind)) continue
      deleted(e)
    }
    for (const a of r.addresses) {
      if (a.pubkey !== r.pubkey) continue
      const e = byAddress.get(addressOf(a))
      if (e !== undefined && e.created_at <= r.until) deleted(e)
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
    if (now > lastNow) lastNow = now
    settle()
    // As after a deletion, an older version arriving from elsewhere later may have been replaced by an expired one.
    for (const e of [...expiring]) if (e.expiration! <= now) forget(e)
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
      if (now > lastNow) lastNow = now
      if (!ready) return miss(filters)
      settle()
      return planner.plan(filters, now, floor)
    },
    /** The distinct matches of `filters` (limits ignored, as COUNT does), when the window holds all of them; else undefined. */
    countable: (filters: ReadonlyArray<Filter>, now: number): ReadonlyArray<Entry> | undefined => {
      if (now > lastNow) lastNow = now
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
