/**
 * The read pipeline: validate and cap the filters of a REQ/COUNT, run read
 * policy, then ask the store. Failures are Rejections (CLOSED reasons).
 */
import { Context, Effect, Layer } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import { Blocked, compareNewestFirst, hllHex, hllOffset, Invalid, parseFilter, parseSearch, ServerError, Unsupported, type Filter, type Rejection, type ServedEvent } from "../nostr/index.ts"
import { Policy, type RequestContext } from "../policy/Policy.ts"
import { EventStore, queryServed, type NegentropyRecord } from "../storage/EventStore.ts"

export interface CountAnswer {
  readonly count: number
  readonly hll?: string
}

export interface QueryShape {
  /** Parses the raw filters of a REQ/COUNT; each gets an effective limit (default, clamped to the maximum). */
  readonly prepare: (raw: ReadonlyArray<unknown>, ctx: RequestContext) => Effect.Effect<ReadonlyArray<Filter>, Rejection>
  /** The stored events this connection may see, newest first (each filter's limit honoured). */
  readonly run: (ctx: RequestContext, filters: ReadonlyArray<Filter>) => Effect.Effect<ReadonlyArray<ServedEvent>, Rejection>
  /**
   * How many stored events this connection may see; with a NIP-45 `hll` (hex) when the COUNT has
   * one filter with a tag attribute (the only case the NIP defines).
   */
  readonly count: (ctx: RequestContext, filters: ReadonlyArray<Filter>) => Effect.Effect<CountAnswer, Rejection>
  /**
   * NIP-77: the records of a NEG-OPEN filter that this connection may see (the read policy, private
   * kinds and bans apply as to REQ), or a `blocked:` when there are more than `max`. No default limit.
   */
  readonly records: (ctx: RequestContext, raw: unknown, max: number) => Effect.Effect<ReadonlyArray<NegentropyRecord>, Rejection>
}

export class Query extends Context.Service<Query, QueryShape>()("parrhesia/query/Query") {
  static readonly layer = Layer.effect(
    Query,
    Effect.gen(function* () {
      const config = yield* RelayConfig
      const store = yield* EventStore
      const policy = yield* Policy
      const limits = { maxFilterValues: config.maxFilterValues, allowSearch: config.search }

      const storeFailure = (err: { readonly message: string }) => new ServerError({ message: `query failed (${err.message})` })

      const prepare = (raw: ReadonlyArray<unknown>, ctx: RequestContext) =>
        Effect.suspend((): Effect.Effect<ReadonlyArray<Filter>, Rejection> => {
          if (raw.length > config.maxFilters) {
            return Effect.fail(new Invalid({ message: `too many filters (${raw.length} > ${config.maxFilters})` }))
          }
          const filters: Array<Filter> = []
          for (const r of raw) {
            const p = parseFilter(r, limits)
            if ("error" in p) {
              return Effect.fail(p.prefix === "unsupported" ? new Unsupported({ message: p.error }) : new Invalid({ message: p.error }))
            }
            const limit = Math.min(p.filter.limit ?? config.defaultLimit, config.maxLimit)
            filters.push({ ...p.filter, limit })
          }
          return Effect.andThen(policy.checkRead(ctx, filters), withDomains(filters))
        })

      /**
       * NIP-50 `domain:` becomes an `authors` condition (the authors whose profile's NIP-05 is at that
       * domain, within any authors the filter already names), so the store and live matching agree.
       */
      const withDomains = (filters: ReadonlyArray<Filter>): Effect.Effect<ReadonlyArray<Filter>, Rejection> => {
        if (!filters.some((f) => f.search !== undefined && /(^|\s)domain:/i.test(f.search))) return Effect.succeed(filters)
        return Effect.forEach(filters, (f) => {
          if (f.search === undefined) return Effect.succeed(f)
          const parsed = parseSearch(f.search)
          if ("error" in parsed || parsed.domain === undefined) return Effect.succeed(f)
          return store.authorsAtDomain(parsed.domain).pipe(
            Effect.map((at): Filter => ({ ...f, authors: f.authors === undefined ? at : f.authors.filter((a) => at.includes(a)) })),
            Effect.mapError(storeFailure)
          )
        })
      }


      /**
       * Policy.scopeFilter narrows each filter to what the connection may see (private kinds);
       * a filter split into several parts is queried on its own so its limit holds for the
       * parts together. Bans are applied to the rows (rare, and they change at run time).
       */
      const run = (ctx: RequestContext, filters: ReadonlyArray<Filter>) =>
        Effect.suspend(() => {
          const plain: Array<Filter> = []
          const split: Array<ReadonlyArray<Filter>> = []
          for (const f of filters) {
            const scoped = policy.scopeFilter(ctx, f)
            // One filter keeps its own limit in the union: only a filter split in parts needs a query of its own.
            if (scoped.length === 1) plain.push(scoped[0]!)
            else if (scoped.length > 1) split.push(scoped)
          }
          const visible = (events: ReadonlyArray<ServedEvent>) => {
            let out: ReadonlyArray<ServedEvent> = events
            for (const e of events) {
              if (!policy.canServeStored(ctx, e)) {
                out = events.filter((x) => policy.canServeStored(ctx, x))
                break
              }
            }
            return out
          }
          if (split.length === 0) return Effect.map(Effect.mapError(queryServed(store, plain), storeFailure), visible)
          const parts = [
            ...(plain.length > 0 ? [queryServed(store, plain)] : []),
            ...split.map((group) => Effect.map(queryServed(store, group), (events) => events.slice(0, group[0]!.limit)))
          ]
          return Effect.forEach(parts, (p) => p, { concurrency: "unbounded" }).pipe(
            Effect.mapError(storeFailure),
            Effect.map((lists) => {
              const seen = new Set<string>()
              const merged: Array<ServedEvent> = []
              for (const list of lists) for (const e of list) if (!seen.has(e.id)) (seen.add(e.id), merged.push(e))
              return visible(merged.sort(compareNewestFirst))
            })
          )
        })

      const count = (ctx: RequestContext, filters: ReadonlyArray<Filter>): Effect.Effect<CountAnswer, Rejection> => {
        const scoped = filters.flatMap((f) => policy.scopeFilter(ctx, f))
        const offset = filters.length === 1 ? hllOffset(filters[0]!) : undefined
        if (offset === undefined) return Effect.mapError(Effect.map(store.count(scoped), (n) => ({ count: n })), storeFailure)
        return store.countHll(scoped, offset).pipe(
          Effect.map((r) => ({ count: r.count, hll: hllHex(r.hll) })),
          Effect.mapError(storeFailure)
        )
      }

      const records = (ctx: RequestContext, raw: unknown, max: number) =>
        Effect.gen(function* () {
          const p = parseFilter(raw, limits)
          if ("error" in p) {
            return yield* (p.prefix === "unsupported" ? new Unsupported({ message: p.error }) : new Invalid({ message: p.error }))
          }
          const filter = p.filter.limit !== undefined ? { ...p.filter, limit: Math.min(p.filter.limit, max + 1) } : p.filter
          const [prepared] = yield* Effect.andThen(policy.checkRead(ctx, [filter]), withDomains([filter]))
          const found = yield* Effect.mapError(store.negentropyRecords(policy.scopeFilter(ctx, prepared!), max + 1), storeFailure)
          if (found.length > max) return yield* new Blocked({ message: `this query is too big: more than ${max} records` })
          return found.filter((r) => !policy.isBanned(r.id, r.pubkey))
        })

      return Query.of({ prepare, run, count, records })
    })
  )
}
