/**
 * NIP-40 through the relay's read and write pipelines (Ingest, Query over the
 * memory store) with Effect's TestClock: an event accepted before its
 * expiration is served until then and never after, in REQ results and COUNT,
 * and a resend after it is refused "invalid:".
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { coreLayer } from "../../src/app.ts"
import { RelayConfig } from "../../src/config/RelayConfig.ts"
import { Ingest } from "../../src/ingest/Ingest.ts"
import { layerNoble } from "../../src/verify/SignatureVerifier.ts"
import type { RequestContext } from "../../src/policy/Policy.ts"
import { Query } from "../../src/query/Query.ts"
import { layerMemoryStores } from "../../src/storage/layer.ts"
import { idsOf, makeEvent, newKey, T0 } from "../support/nostr.ts"

const ctx: RequestContext = { connectionId: 1, ip: "127.0.0.1", authenticated: new Set() }

const layer = () =>
  coreLayer.pipe(
    Layer.provideMerge(Layer.mergeAll(layerMemoryStores, layerNoble)),
    Layer.provideMerge(RelayConfig.layerWith({ defaultLimit: 10, maxLimit: 10 }))
  )

describe("NIP-40 expiration in Ingest and Query", () => {
  it.effect("serves an event until its expiration, then neither REQ nor COUNT sees it", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(T0 * 1000)
      const ingest = yield* Ingest
      const query = yield* Query
      const k = newKey()
      const expiring = makeEvent({ created_at: T0, tags: [["expiration", String(T0 + 100)]] }, k)
      const lasting = makeEvent({ created_at: T0 - 1 }, k)
      for (const e of [expiring, lasting]) expect(yield* ingest.handle(e, ctx)).toMatchObject({ accepted: true, message: "" })

      // limit 1: the expiring event is the newest, so it takes the one slot while it lives.
      const filters = yield* query.prepare([{ authors: [k.pk], limit: 1 }], ctx)
      const all = yield* query.prepare([{ authors: [k.pk] }], ctx)
      expect(idsOf(yield* query.run(ctx, filters))).toEqual([expiring.id])
      expect((yield* query.count(ctx, all)).count).toBe(2)

      yield* TestClock.adjust("99 seconds")
      expect(idsOf(yield* query.run(ctx, filters))).toEqual([expiring.id])

      yield* TestClock.adjust("1 second") // now == expiration: expired
      expect(idsOf(yield* query.run(ctx, filters))).toEqual([lasting.id])
      expect(idsOf(yield* query.run(ctx, yield* query.prepare([{ ids: [expiring.id] }], ctx)))).toEqual([])
      expect((yield* query.count(ctx, all)).count).toBe(1)

      const again = yield* ingest.handle(expiring, ctx)
      expect(again.accepted).toBe(false)
      expect(again.message).toMatch(/^invalid: /)
    }).pipe(Effect.provide(layer()))
  )

  it.effect("refuses an event whose expiration is now or past, and accepts one a second ahead", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(T0 * 1000)
      const ingest = yield* Ingest
      const k = newKey()
      for (const exp of [T0 - 1000, T0]) {
        const r = yield* ingest.handle(makeEvent({ created_at: T0 - 2000, tags: [["expiration", String(exp)]] }, k), ctx)
        expect(r.accepted).toBe(false)
        expect(r.message).toMatch(/^invalid: /)
      }
      const ok = yield* ingest.handle(makeEvent({ created_at: T0, tags: [["expiration", String(T0 + 1)]] }, k), ctx)
      expect(ok).toMatchObject({ accepted: true, message: "" })
    }).pipe(Effect.provide(layer()))
  )
})
