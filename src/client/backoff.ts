/** Small pieces the outgoing clients share: reconnect backoff with jitter, and a bounded set for seen ids. */

/** Exponential backoff with "equal jitter": between half and all of min(max, base * 2^attempt). */
export const backoffDelay = (attempt: number, baseMs: number, maxMs: number, random: () => number): number => {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30))
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}

/** An insertion-ordered set that forgets its oldest entries past `capacity`. */
export class BoundedSet {
  private readonly items = new Set<string>()
  private readonly capacity: number
  constructor(capacity: number) {
    this.capacity = capacity
  }
  /** Adds; false when it was already there. */
  add(x: string): boolean {
    if (this.items.has(x)) return false
    this.items.add(x)
    if (this.items.size > this.capacity) this.items.delete(this.items.values().next().value!)
    return true
  }
  get size() {
    return this.items.size
  }
}
