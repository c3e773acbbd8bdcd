/**
 * A set of strings that forgets its oldest entries past `capacity`: a ring of the last `capacity`
 * additions beside a Map from each member to its place in the ring, so every operation is O(1).
 *
 * Why not a Set and `values().next()` to find the oldest: V8 leaves a deleted entry's slot in the
 * table until it is rehashed, and iteration from the start walks over every such hole, so evicting
 * the oldest cost ~3.4 µs at 16,384 entries against ~0.3 µs here (measured on this machine; it was
 * ~4 µs of every ingested EVENT's main-thread time in the recently-stored-ids cache).
 *
 * A member removed with `delete` still holds its place in the ring until that place comes round,
 * so after deletions the set may hold fewer than `capacity` members (it is a cache).
 */
export class BoundedSet {
  private readonly places = new Map<string, number>()
  private readonly ring: Array<string | undefined>
  private next = 0
  readonly capacity: number

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`BoundedSet capacity must be a whole number >= 1, got ${capacity}`)
    this.capacity = capacity
    this.ring = new Array<string | undefined>(capacity).fill(undefined)
  }

  has(x: string): boolean {
    return this.places.has(x)
  }

  /** Adds `x` as the newest member; false (and nothing changes) when it is already a member. */
  add(x: string): boolean {
    if (this.places.has(x)) return false
    const place = this.next
    const oldest = this.ring[place]
    // The oldest leaves only if this place is still its own (it may have been deleted and added again since).
    if (oldest !== undefined && this.places.get(oldest) === place) this.places.delete(oldest)
    this.ring[place] = x
    this.places.set(x, place)
    this.next = place + 1 === this.capacity ? 0 : place + 1
    return true
  }

  delete(x: string): boolean {
    return this.places.delete(x)
  }

  clear(): void {
    this.places.clear()
    this.ring.fill(undefined)
    this.next = 0
  }

  get size(): number {
    return this.places.size
  }
}
