/**
 * RateLimiter: token buckets per connection, per client IP and per
 * authenticated pubkey, separately for EVENT and for REQ/COUNT, plus a cap on
 * open connections per IP. A bucket holds `rate × rateLimitBurstSeconds`
 * tokens and refills continuously at `rate` per second; a rate of 0 turns that
 * bucket off. A message takes one token from every bucket that applies, or
 * none when any of them is empty.
 *
 * Time comes from Effect's Clock (TestClock in tests). IP and pubkey buckets
 * that have refilled completely are forgotten by a sweep every minute, so
 * memory follows the number of recently active clients.
 */
import { Clock, Context, Effect, Layer } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import type { Settings } from "../config/settings.ts"

export interface Requester {
  readonly connectionId: number
  readonly ip: string
  /** Pubkeys authenticated on the connection (NIP-42). */
  readonly pubkeys: ReadonlySet<string>
}

export interface RateLimiterShape {
  /** One token for an EVENT from every bucket that applies; false (and nothing taken) if any is empty. */
  readonly tryEvent: (who: Requester) => Effect.Effect<boolean>
  /** The same for a REQ or COUNT, from the read buckets. */
  readonly tryRead: (who: Requester) => Effect.Effect<boolean>
  /** Counts a new connection from `ip`; false (nothing counted) when the IP is at `maxConnectionsPerIp`. */
  readonly connectionOpened: (ip: string) => boolean
  /** Forgets the connection's buckets and uncounts it from its IP. */
  readonly connectionClosed: (connectionId: number, ip: string) => void
  /** Forgets IP and pubkey buckets that are full again; returns how many remain. */
  readonly sweep: Effect.Effect<number>
}

interface Bucket {
  tokens: number
  /** ms of the last refill */
  at: number
}

interface Rate {
  readonly perSecond: number
  readonly capacity: number
}

/** Refills a bucket to `now`; returns its tokens. */
const refill = (b: Bucket, r: Rate, now: number): number => {
  if (now > b.at) {
    b.tokens = Math.min(r.capacity, b.tokens + ((now - b.at) / 1000) * r.perSecond)
    b.at = now
  }
  return b.tokens
}

/** Buckets of one kind (EVENT or read) keyed by connection, IP or pubkey. */
class BucketSet<K> {
  readonly buckets = new Map<K, Bucket>()
  readonly rate: Rate | undefined
  constructor(rate: Rate | undefined) {
    this.rate = rate
  }
  get(key: K, now: number): Bucket | undefined {
    if (this.rate === undefined) return undefined
    let b = this.buckets.get(key)
    if (b === undefined) this.buckets.set(key, (b = { tokens: this.rate.capacity, at: now }))
    else refill(b, this.rate, now)
    return b
  }
  sweep(now: number) {
    if (this.rate === undefined) return
    for (const [k, b] of this.buckets) if (refill(b, this.rate, now) >= this.rate.capacity) this.buckets.delete(k)
  }
}

const rateOf = (perSecond: number, burstSeconds: number): Rate | undefined =>
  perSecond > 0 ? { perSecond, capacity: Math.max(1, perSecond * burstSeconds) } : undefined

export const makeRateLimiter = (s: Settings) => {
  const burst = s.rateLimitBurstSeconds
  const side = (conn: number, ip: number, pubkey: number) => ({
    conn: new BucketSet<number>(rateOf(conn, burst)),
    ip: new BucketSet<string>(rateOf(ip, burst)),
    pubkey: new BucketSet<string>(rateOf(pubkey, burst))
  })
  const events = side(s.eventsPerSecondPerConnection, s.eventsPerSecondPerIp, s.eventsPerSecondPerPubkey)
  const reads = side(s.readsPerSecondPerConnection, s.readsPerSecondPerIp, s.readsPerSecondPerPubkey)
  const perIp = new Map<string, number>()
  const held: Array<Bucket> = []

  const take = (set: typeof events, who: Requester, now: number): boolean => {
    held.length = 0
    const c = set.conn.get(who.connectionId, now)
    if (c) held.push(c)
    const i = set.ip.get(who.ip, now)
    if (i) held.push(i)
    for (const pk of who.pubkeys) {
      const p = set.pubkey.get(pk, now)
      if (p) held.push(p)
    }
    for (const b of held) if (b.tokens < 1) return false
    for (const b of held) b.tokens -= 1
    return true
  }

  const shape: RateLimiterShape = {
    tryEvent: (who) => Effect.map(Clock.currentTimeMillis, (now) => take(events, who, now)),
    tryRead: (who) => Effect.map(Clock.currentTimeMillis, (now) => take(reads, who, now)),
    connectionOpened: (ip) => {
      const n = perIp.get(ip) ?? 0
      if (s.maxConnectionsPerIp > 0 && n >= s.maxConnectionsPerIp) return false
      perIp.set(ip, n + 1)
      return true
    },
    connectionClosed: (connectionId, ip) => {
      events.conn.buckets.delete(connectionId)
      reads.conn.buckets.delete(connectionId)
      const n = (perIp.get(ip) ?? 1) - 1
      if (n <= 0) perIp.delete(ip)
      else perIp.set(ip, n)
    },
    sweep: Effect.map(Clock.currentTimeMillis, (now) => {
      for (const set of [events.ip, events.pubkey, reads.ip, reads.pubkey]) set.sweep(now)
      return events.ip.buckets.size + events.pubkey.buckets.size + reads.ip.buckets.size + reads.pubkey.buckets.size
    })
  }
  return shape
}

export class RateLimiter extends Context.Service<RateLimiter, RateLimiterShape>()("parrhesia/policy/RateLimiter") {
  static readonly layer = Layer.effect(
    RateLimiter,
    Effect.gen(function* () {
      const limiter = makeRateLimiter(yield* RelayConfig)
      // The pause is on the live clock (a TestClock jump must not replay years of sweeps);
      // the sweep itself reads the service clock, like the buckets.
      const pause = Effect.provideService(Effect.sleep("1 minute"), Clock.Clock, Clock.Clock.defaultValue())
      yield* Effect.forkScoped(Effect.forever(Effect.andThen(pause, limiter.sweep)))
      return RateLimiter.of(limiter)
    })
  )
}
