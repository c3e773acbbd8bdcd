/**
 * The read pipeline: validate and cap the filters of a REQ/COUNT, run read
 * policy, then ask the store. Failures are Rejections (CLOSED reasons).
 */
import { Context, Effect, Layer } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import { Invalid, parseFilter, ServerError, Unsupported, type Filter, type NostrEvent, type Rejection } from "../nostr/index.ts"
import { Policy, type RequestContext } from "../policy/Policy.ts"
import { EventStore } from "../storage/EventStore.ts"

export interface QueryShape {
  /** Parses the raw filters of a REQ/COUNT; each gets an effective limit (default, clamped to the maximum). */
  readonly prepare: (raw: ReadonlyArray<unknown>, ctx: RequestContext) => Effect.Effect<ReadonlyArray<Filter>, Rejection>
  readonly run: (filters: ReadonlyArray<Filter>) => Effect.Effect<ReadonlyArray<NostrEvent>, Rejection>
  readonly count: (filters: ReadonlyArray<Filter>) => Effect.Effect<number, Rejection>
}

export class Query extends Context.Service<Query, QueryShape>()("parrhesia/query/Query") {
  static readonly layer = Layer.effect(
    Query,
    Effect.gen(function* () {
      const config = yield* RelayConfig
      const store = yield* EventStore
      const policy = yield* Policy
      const limits = { maxFilterValues: config.maxFilterValues, allowSearch: false }

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
          return Effect.as(policy.checkRead(ctx, filters), filters)
        })

      const storeFailure = (err: { readonly message: string }) => new ServerError({ message: `query failed (${err.message})` })

      return Query.of({
        prepare,
        run: (filters) => Effect.mapError(store.query(filters), storeFailure),
        count: (filters) => Effect.mapError(store.count(filters), storeFailure)
      })
    })
  )
}
