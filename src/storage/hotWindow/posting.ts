/**
 * The hot window's index lists ("postings"): the entries of one kind, one author, one tag value, or
 * all of them, oldest first ((created_at, id desc) ascending, so newest first with ties by lowest
 * id read from the end). Removed entries are marked dead and dropped in bulk.
 */

/** What a list orders its items by, and whether an item was removed. */
export interface Listed {
  readonly id: string
  readonly created_at: number
  readonly dead: boolean
}

/** One index list. */
export class Posting<T extends Listed> {
  items: Array<T> = []
  dead = 0
  /** Start of the possibly live entries (the eviction list skips what it evicted). */
  head = 0
  /** The map holding the list under `key` (it leaves the map once empty); undefined for the list of all entries. */
  readonly owner: Map<unknown, Posting<T>> | undefined
  readonly key: unknown
  constructor(owner: Map<unknown, Posting<T>> | undefined, key: unknown) {
    this.owner = owner
    this.key = key
  }
  get live() {
    return this.items.length - this.dead
  }
}

/** The list of `k` in `m`, made when missing. */
export const postingOf = <K, T extends Listed>(m: Map<K, Posting<T>>, k: K): Posting<T> => {
  let p = m.get(k)
  if (p === undefined) {
    p = new Posting<T>(m as Map<unknown, Posting<T>>, k)
    m.set(k, p)
  }
  return p
}

/** a sorts before b in a list: older, or same second and higher id. */
export const before = (a: Listed, b: Listed) => a.created_at < b.created_at || (a.created_at === b.created_at && a.id > b.id)

export const insertSorted = <T extends Listed>(p: Posting<T>, e: T) => {
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

/** List order as a sort comparator. */
const byListOrder = (a: Listed, b: Listed) => (before(a, b) ? -1 : before(b, a) ? 1 : 0)

/**
 * Puts `added` (items not in the list yet) into the list in one merge from its end: every item
 * after the oldest of them moves once, where inserting them one by one would move it once for each.
 * Sorts `added`.
 */
export const insertAll = <T extends Listed>(p: Posting<T>, added: Array<T>) => {
  if (added.length === 1) return insertSorted(p, added[0]!)
  added.sort(byListOrder)
  const items = p.items
  const n = items.length
  for (const e of added) items.push(e)
  if (n === 0 || before(items[n - 1]!, added[0]!)) return
  // Merge backwards: i walks the old items, k the added ones, w the slot being filled (w = i + k + 1).
  let i = n - 1
  let k = added.length - 1
  for (let w = n + k; k >= 0; w--) {
    if (i >= p.head && before(added[k]!, items[i]!)) items[w] = items[i--]!
    else items[w] = added[k--]!
  }
}

/** Index of the first item with created_at > until (items.length when none). */
export const upperIndex = <T extends Listed>(p: Posting<T>, until: number) => {
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

/** Whether the list holds `e` (a binary search in it). */
export const holds = <T extends Listed>(p: Posting<T>, e: T): boolean => {
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

/** Drops the dead items (and an emptied list from its map). */
export const compact = <T extends Listed>(p: Posting<T>) => {
  if (p.dead === p.items.length && p.owner !== undefined) {
    p.owner.delete(p.key)
    return
  }
  p.items = p.items.filter((e) => !e.dead)
  p.dead = 0
  p.head = 0
}
