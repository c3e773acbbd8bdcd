/**
 * Subscription budgets (issue 16): what a live subscription is charged, and
 * the ledger that keeps each connection's and each IP's charges within
 * `maxSubscriptionBytesPerConnection` and `maxSubscriptionBytesPerIp`.
 *
 * Why: the per-message limits (maxMessageBytes, maxFilters, maxFilterValues,
 * maxSubscriptions) bound one REQ, not what a client keeps indexed. 20
 * connections of one IP, each with 50 subscriptions of 256 KB of authors,
 * held over a gigabyte. A budget in bytes bounds that per connection and per
 * IP, whatever the mix of subscriptions, filters and values.
 *
 * Cost model: deterministic (the same filters always cost the same, whatever
 * else is indexed), an upper estimate of the heap the index holds for them,
 * calibrated with scripts/bench-subscriptions.ts:
 *
 *   SUBSCRIPTION + Σ filters (FILTER + Σ values (VALUE + length))
 *
 * A value is each entry of ids, authors, kinds and #tag lists (and of the
 * lists the read policy adds); its length is the string's (8 for a number,
 * twice for text outside Latin-1); `search` counts its length once. A 64-hex author costs 144 bytes, an
 * upper bound of what one takes: measured, a value no other filter holds
 * takes 128-146 bytes of heap (its string 80, its slot 8, its map entry
 * 28-56 as the map's table fills), one shared with other filters 37-45.
 *
 * Defaults (settings.ts): 8 MiB per connection (about 58,000 authors: a busy
 * client with 50 subscriptions of 300 authors is charged about 2.1 MiB, of
 * 1,000 authors 6.9 MiB) and 64 MiB per IP. A 256 KB REQ of 20 filters of
 * authors (about 3,800) costs about 556 KB: 15 of them fill a connection's
 * budget, 120 an IP's.
 */
import type { Filter } from "../nostr/index.ts"

/** The subscription's record, its delivery callback and its place in the per-connection map. */
export const SUBSCRIPTION_BYTES = 1024
/** A filter's entry, its key list, what is left of it to check (and that part's compiled matcher). */
export const FILTER_BYTES = 384
/** A value's slot in its filter's key list, its map entry (or place among the filters sharing it), the string's header. */
export const VALUE_BYTES = 80

/** Outside Latin-1 a string is stored two bytes a character. */
const WIDE = /[^\u0000-\u00ff]/
const stringBytes = (v: string): number => (WIDE.test(v) ? 2 * v.length : v.length)

const listBytes = (values: ReadonlyArray<string | number> | undefined): number => {
  if (values === undefined) return 0
  let n = values.length * VALUE_BYTES
  for (const v of values) n += typeof v === "string" ? v.length : 8
  return n
}

/** Tag values are free text (ids and authors are hex). */
const tagBytes = (values: ReadonlyArray<string>): number => {
  let n = values.length * VALUE_BYTES
  for (const v of values) n += stringBytes(v)
  return n
}

/** The estimated bytes a live subscription with these filters holds. */
export const subscriptionCost = (filters: ReadonlyArray<Filter>): number => {
  let n = SUBSCRIPTION_BYTES
  for (const f of filters) {
    n += FILTER_BYTES + listBytes(f.ids) + listBytes(f.authors) + listBytes(f.kinds) + listBytes(f.excludeKinds)
    if (f.tags !== undefined) for (const name in f.tags) n += tagBytes(f.tags[name]!)
    if (f.alsoTagged !== undefined) n += VALUE_BYTES + stringBytes(f.alsoTagged.value)
    if (f.search !== undefined) n += stringBytes(f.search)
  }
  return n
}

/** Bytes a connection's, and an IP's, subscriptions may hold together; 0: no limit. */
export interface BudgetLimits {
  readonly perConnection: number
  readonly perIp: number
}

/** Why a subscription was refused: the budget it would pass, the limit, what is held there already, and its cost. */
export interface OverBudget {
  readonly budget: "connection" | "ip"
  readonly limit: number
  readonly held: number
  readonly cost: number
}

/** The bytes charged per connection and per IP (an entry leaves its map at zero). */
export class BudgetLedger {
  private readonly connections = new Map<number, number>()
  private readonly ips = new Map<string, number>()
  private charged = 0
  private readonly limits: BudgetLimits

  constructor(limits: BudgetLimits) {
    this.limits = limits
  }

  /** Charges `cost` to the connection and its IP, or charges nothing and says which budget it would pass. */
  tryCharge(connectionId: number, ip: string, cost: number): OverBudget | undefined {
    const conn = this.connections.get(connectionId) ?? 0
    const { perConnection, perIp } = this.limits
    if (perConnection > 0 && conn + cost > perConnection) return { budget: "connection", limit: perConnection, held: conn, cost }
    const atIp = this.ips.get(ip) ?? 0
    if (perIp > 0 && atIp + cost > perIp) return { budget: "ip", limit: perIp, held: atIp, cost }
    this.connections.set(connectionId, conn + cost)
    this.ips.set(ip, atIp + cost)
    this.charged += cost
    return undefined
  }

  /** Gives back what `tryCharge` took. */
  release(connectionId: number, ip: string, cost: number): void {
    const conn = (this.connections.get(connectionId) ?? 0) - cost
    if (conn > 0) this.connections.set(connectionId, conn)
    else this.connections.delete(connectionId)
    const atIp = (this.ips.get(ip) ?? 0) - cost
    if (atIp > 0) this.ips.set(ip, atIp)
    else this.ips.delete(ip)
    this.charged -= cost
  }

  get total(): number {
    return this.charged
  }

  ofConnection(connectionId: number): number {
    return this.connections.get(connectionId) ?? 0
  }

  ofIp(ip: string): number {
    return this.ips.get(ip) ?? 0
  }

  /** IPs holding a charge (entries are removed at zero). */
  get ipCount(): number {
    return this.ips.size
  }
}

const mib = (n: number) => (n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`)

/** The text of the `blocked:` CLOSED for a refused subscription (without the prefix). */
export const overBudgetMessage = (o: OverBudget): string =>
  o.budget === "connection"
    ? `this connection's subscriptions would hold more than ${mib(o.limit)} of filters (maxSubscriptionBytesPerConnection; held ${o.held}, this REQ ${o.cost} bytes): close some first`
    : `subscriptions from this IP address would hold more than ${mib(o.limit)} of filters (maxSubscriptionBytesPerIp; held ${o.held}, this REQ ${o.cost} bytes): close some first`
