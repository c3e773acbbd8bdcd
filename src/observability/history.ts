/**
 * The status page's last hour, in memory at a fixed size: durations by the
 * second they ended in (`RecentLatency`, for the OK and EOSE p95) and a ring of
 * samples, one a second (`History`). Pure data structures; the timer that
 * fills the ring is http/StatusHistory.ts.
 */

/** Bucket i holds durations in (MIN_MS * RATIO^(i-1), MIN_MS * RATIO^i] ms; bucket 0 everything up to MIN_MS. */
const MIN_MS = 0.01
const RATIO = 1.2
const BUCKETS = 96 // up to 0.01 ms * 1.2^95, ~330 s; longer ones land in the last bucket
const INV_LOG_RATIO = 1 / Math.log(RATIO)
/** Seconds kept: the sampler reads the second just ended while the next one fills. */
const SLOTS = 4

const bucketOf = (ms: number): number => (ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) * INV_LOG_RATIO)))
const upperBound = (i: number): number => MIN_MS * RATIO ** i

/**
 * Durations recorded by the second (of the wall clock) they ended in, into
 * log-spaced buckets (±10%): O(1) and no allocation per record, and any number
 * of readers, since reading empties nothing.
 */
export class RecentLatency {
  private readonly counts = new Uint32Array(SLOTS * BUCKETS)
  private readonly totals = new Uint32Array(SLOTS)
  /** The second each slot holds. */
  private readonly seconds = new Float64Array(SLOTS).fill(-1)

  /** Forgets every duration recorded (the relay's own warm-up before it opens its port). */
  clear(): void {
    this.counts.fill(0)
    this.totals.fill(0)
    this.seconds.fill(-1)
  }

  /** A duration of `ms` that ended at `endedMs` (ms since the epoch). */
  record(ms: number, endedMs: number): void {
    const second = Math.floor(endedMs / 1000)
    const slot = second % SLOTS
    if (this.seconds[slot] !== second) {
      this.counts.fill(0, slot * BUCKETS, (slot + 1) * BUCKETS)
      this.totals[slot] = 0
      this.seconds[slot] = second
    }
    this.counts[slot * BUCKETS + bucketOf(ms)]!++
    this.totals[slot]!++
  }

  /** The `q` quantile (0..1) in ms of the durations that ended in `second` (unix seconds), null when none did. */
  quantile(second: number, q: number): number | null {
    const slot = second % SLOTS
    const total = this.totals[slot]!
    if (this.seconds[slot] !== second || total === 0) return null
    const rank = Math.max(1, Math.ceil(q * total))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      const n = this.counts[slot * BUCKETS + i]!
      if (n === 0) continue
      if (seen + n >= rank) {
        // Linear within the bucket, each duration at the middle of its share (a lone one at the
        // bucket's middle: within 10% of what it was).
        const lower = i === 0 ? 0 : upperBound(i - 1)
        return lower + ((upperBound(i) - lower) * (rank - seen - 0.5)) / n
      }
      seen += n
    }
    return null
  }
}

/** The charted series, in the order the page draws them. */
export const SERIES = ["eventsPerSecond", "reqsPerSecond", "okP95Ms", "eoseP95Ms", "connections", "subscriptions"] as const
export type SeriesName = (typeof SERIES)[number]
export type SampleValues = Readonly<Record<SeriesName, number | null>>

/** What GET /stats/history answers: the samples after a time, oldest first, one array per series (null: no value). */
export interface HistoryJson {
  /** Seconds between samples. */
  readonly interval: number
  /** Samples kept (interval * capacity seconds). */
  readonly capacity: number
  /** Each sample's time (unix seconds). */
  readonly t: ReadonlyArray<number>
  readonly series: Readonly<Record<SeriesName, ReadonlyArray<number | null>>>
}

const round = (v: number | null): number | null => (v === null || !Number.isFinite(v) ? null : Math.round(v * 100) / 100)

/** A ring of `capacity` samples of every series: the oldest is overwritten; null is kept as NaN. */
export class History {
  private readonly t: Float64Array
  private readonly columns: Record<SeriesName, Float64Array>
  /** Samples ever pushed; the ring holds the last min(pushed, capacity). */
  private pushed = 0

  readonly capacity: number
  readonly interval: number

  constructor(capacity: number, interval = 1) {
    this.capacity = capacity
    this.interval = interval
    this.t = new Float64Array(capacity)
    this.columns = Object.fromEntries(SERIES.map((s) => [s, new Float64Array(capacity)])) as Record<SeriesName, Float64Array>
  }

  get size(): number {
    return Math.min(this.pushed, this.capacity)
  }

  /** The time of the newest sample (unix seconds), undefined while none. */
  get latest(): number | undefined {
    return this.pushed === 0 ? undefined : this.t[(this.pushed - 1) % this.capacity]
  }

  push(t: number, values: SampleValues): void {
    const at = this.pushed % this.capacity
    this.t[at] = t
    for (const s of SERIES) this.columns[s][at] = values[s] ?? Number.NaN
    this.pushed++
  }

  /** The samples newer than `after` (unix seconds; 0: all held), oldest first. */
  since(after: number): HistoryJson {
    const t: Array<number> = []
    const series = Object.fromEntries(SERIES.map((s) => [s, [] as Array<number | null>])) as Record<SeriesName, Array<number | null>>
    for (let i = this.pushed - this.size; i < this.pushed; i++) {
      const at = i % this.capacity
      if (this.t[at]! <= after) continue
      t.push(this.t[at]!)
      for (const s of SERIES) series[s].push(round(this.columns[s][at]!))
    }
    return { interval: this.interval, capacity: this.capacity, t, series }
  }
}
