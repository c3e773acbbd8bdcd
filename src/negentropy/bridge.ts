/**
 * Reconciles two remote negentropy responders with each other, holding no
 * records: each side's answer becomes the other side's next query.
 *
 * A responder answers a fingerprint range it disagrees with by splitting it
 * (16 fingerprints of its own buckets, or its ids when it holds fewer than 32
 * records there); that answer is exactly what an initiator would send, so it
 * is forwarded to the other side. Only the end of a branch needs the bridge:
 * when one side has shown its ids for a range, the bridge asks the other for
 * its ids there (an empty id list) and compares the two lists itself.
 *
 * The work is a set of disjoint ranges, each waiting at one side. A round
 * sends every side its waiting ranges (up to a size budget; the gaps as
 * skips) and turns the answers into new work. A responder that stops early at
 * its frame size limit ends with one fingerprint up to infinity: what it did
 * not reach waits for the next round.
 */
import {
  bytesToHex,
  compareBounds,
  decodeMessage,
  encodeMessage,
  FINGERPRINT_SIZE,
  INFINITY,
  MIN_BOUND,
  MAX_BOUND,
  NegentropyError,
  type Bound,
  type Range
} from "./engine.ts"

export type Side = 0 | 1

type Work =
  | { readonly lower: Bound; readonly upper: Bound; readonly kind: "fingerprint"; readonly fingerprint: Uint8Array }
  | {
      readonly lower: Bound
      readonly upper: Bound
      readonly kind: "ids"
      /** The other side's ids over the whole original range (fewer than 32) not yet seen at this side. */
      readonly unmatched: Set<string>
    }

const other = (side: Side): Side => (side === 0 ? 1 : 0)

/** Past this many messages without the work shrinking to nothing, a remote is misbehaving. */
const MAX_MESSAGES = 1_000_000

export class Bridge {
  private readonly waiting: [Array<Work>, Array<Work>] = [[], []]
  private readonly inFlight: [Array<Work> | undefined, Array<Work> | undefined] = [undefined, undefined]
  /** Ids held by one side only: onlyIn[0] are at side 0 and missing at side 1. */
  readonly onlyIn: [Set<string>, Set<string>] = [new Set(), new Set()]
  /** Messages sent, both sides together. */
  messages = 0
  /** Ids the sides listed (where their fingerprints differed). */
  idsCompared = 0

  /** @param budget largest message (bytes, before hex) sent to either side */
  private readonly budget: number
  constructor(budget = 60_000) {
    this.budget = budget
    if (budget < 4096) throw new NegentropyError("the message budget must be at least 4096 bytes")
    // A fingerprint no set has: side 0 answers with the split of all its records.
    this.waiting[0].push({ lower: MIN_BOUND, upper: MAX_BOUND, kind: "fingerprint", fingerprint: new Uint8Array(FINGERPRINT_SIZE) })
  }

  /** The ids found so far at `side` only, handed over (and forgotten here), so a caller can copy as it goes. */
  take(side: Side): Array<string> {
    const ids = [...this.onlyIn[side]]
    this.onlyIn[side].clear()
    return ids
  }

  get done(): boolean {
    return this.waiting[0].length === 0 && this.waiting[1].length === 0 && this.inFlight[0] === undefined && this.inFlight[1] === undefined
  }

  /** The next message for `side`, or undefined when nothing waits there. */
  next(side: Side): Uint8Array | undefined {
    if (this.inFlight[side] !== undefined) throw new NegentropyError("a message to this side is still unanswered")
    const queue = this.waiting[side].sort((a, b) => compareBounds(a.lower, b.lower))
    if (queue.length === 0) return undefined
    if (++this.messages > MAX_MESSAGES) throw new NegentropyError("reconciliation does not converge")
    const ranges: Array<Range> = []
    const sent: Array<Work> = []
    let cursor = MIN_BOUND
    let size = 1
    let k = 0
    for (; k < queue.length; k++) {
      const w = queue[k]!
      const gap = compareBounds(w.lower, cursor) > 0
      // An over-estimate: a timestamp varint is at most 10 bytes.
      const cost = (gap ? 12 + w.lower.id.length : 0) + 12 + w.upper.id.length + (w.kind === "fingerprint" ? FINGERPRINT_SIZE : 1)
      if (k > 0 && size + cost > this.budget) break
      if (gap) ranges.push({ upper: w.lower, mode: "skip" })
      ranges.push(w.kind === "fingerprint" ? { upper: w.upper, mode: "fingerprint", fingerprint: w.fingerprint } : { upper: w.upper, mode: "ids", ids: [] })
      sent.push(w)
      cursor = w.upper
      size += cost
    }
    queue.splice(0, k)
    this.inFlight[side] = sent
    return encodeMessage(ranges)
  }

  /** Takes `side`'s answer to the last message sent to it. Throws NegentropyError when the answer is not one a responder gives. */
  receive(side: Side, message: Uint8Array): void {
    const sent = this.inFlight[side]
    if (sent === undefined) throw new NegentropyError("an answer to no question")
    this.inFlight[side] = undefined
    const ranges = decodeMessage(message)
    const forOther = this.waiting[other(side)]
    let lower = MIN_BOUND
    let w = 0 // index in `sent` of the first range not yet passed
    let stoppedAt: Bound | undefined
    const answered = new Set<Work>()

    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i]!
      if (compareBounds(r.upper, lower) < 0) throw new NegentropyError("ranges out of order")
      while (w < sent.length && compareBounds(sent[w]!.upper, lower) <= 0) w++
      const item = sent[w]
      const inside = item !== undefined && compareBounds(item.lower, lower) <= 0 && compareBounds(r.upper, item.upper) <= 0
      if (r.mode === "skip") {
        for (let j = w; j < sent.length && compareBounds(sent[j]!.lower, r.upper) < 0; j++) {
          if (sent[j]!.kind === "ids") throw new NegentropyError("an id-list range was skipped")
        }
      } else if (r.mode === "fingerprint") {
        const strictlyInside = inside && item.kind === "fingerprint" && !(compareBounds(item.lower, lower) === 0 && compareBounds(item.upper, r.upper) === 0)
        if (strictlyInside) forOther.push({ lower, upper: r.upper, kind: "fingerprint", fingerprint: r.fingerprint })
        else if (i === ranges.length - 1 && r.upper.timestamp === INFINITY) stoppedAt = lower // frame size limit reached
        else throw new NegentropyError("a fingerprint range that matches no range asked for")
      } else {
        if (!inside) throw new NegentropyError("an id list that matches no range asked for")
        const ids = r.ids.map(bytesToHex)
        this.idsCompared += ids.length
        if (item.kind === "fingerprint") {
          // Its records in a range we disagree on, all of them: the other side lists its own there.
          forOther.push({ lower, upper: r.upper, kind: "ids", unmatched: new Set(ids) })
          answered.add(item)
        } else {
          // Each id is decided as it comes (a side lists an id once), so a one-sided range of
          // millions of records is never held whole here.
          for (const id of ids) if (!item.unmatched.delete(id)) this.onlyIn[side].add(id)
          if (compareBounds(r.upper, item.upper) === 0) {
            answered.add(item)
            for (const id of item.unmatched) this.onlyIn[other(side)].add(id)
          } else {
            // Cut short by its frame limit: the rest of this range is asked again.
            this.waiting[side].push({ ...item, lower: r.upper })
            answered.add(item)
          }
        }
      }
      lower = r.upper
    }

    for (const item of sent) {
      if (answered.has(item)) continue
      if (stoppedAt !== undefined && compareBounds(item.upper, stoppedAt) > 0) {
        if (compareBounds(item.lower, stoppedAt) < 0) throw new NegentropyError("stopped inside a range it was asked about")
        this.waiting[side].push(item) // not reached: asked again
      } else if (item.kind === "ids") {
        throw new NegentropyError("an id-list range was not answered")
      }
      // A fingerprint range neither split nor reached by a stop: it matched.
    }
  }
}
