/**
 * A database outage: with the server stopped, put and query fail with
 * StoreError within a bounded time (no crash, no hang); once it is back, the
 * same store instance serves again by itself.
 */
import { mkdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { randomBytes } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { defaults } from "../../../src/config/RelayConfig.ts"
import { startEmbedded } from "../../../src/storage/postgres/EmbeddedPostgres.ts"
import { makeFromSettings } from "../../../src/storage/postgres/layer.ts"
import { makeEvent } from "../../support/nostr.ts"

describe("postgres store: outage", () => {
  it.live(
    "fails fast while the server is down and recovers by itself when it is back",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const dir = join(tmpdir(), `parrhesia-outage-${randomBytes(4).toString("hex")}`)
          mkdirSync(dir, { recursive: true })
          const server = yield* Effect.acquireRelease(
            Effect.promise(() => startEmbedded({ dataDir: dir, port: 0, warn: () => {} })),
            (s) => Effect.promise(() => s.stop().finally(() => rmSync(dir, { recursive: true, force: true })))
          )
          const { store } = yield* makeFromSettings({ ...defaults(), databaseUrl: server.url, queryTimeoutMs: 1000 })
          const before = makeEvent({})
          expect(yield* store.put(before)).toBe("stored")

          yield* Effect.promise(() => server.stop())
          const t0 = Date.now()
          const put = yield* Effect.result(store.put(makeEvent({})))
          const query = yield* Effect.result(store.query([{ ids: [before.id] }]))
          const count = yield* Effect.result(store.count([{}]))
          expect(put._tag).toBe("Failure")
          expect(query._tag).toBe("Failure")
          expect(count._tag).toBe("Failure")
          if (put._tag === "Failure") expect(put.failure._tag).toBe("StoreError")
          if (query._tag === "Failure") expect(query.failure._tag).toBe("StoreError")
          expect(Date.now() - t0).toBeLessThan(15_000)

          yield* Effect.promise(() => server.restart())
          // The same instance reconnects on its own; the first call may still meet a dead pooled connection.
          const after = makeEvent({})
          let stored: string | undefined
          for (let i = 0; i < 40 && stored === undefined; i++) {
            const r = yield* Effect.result(store.put(after))
            if (r._tag === "Success") stored = r.success
            else yield* Effect.sleep("250 millis")
          }
          expect(stored).toBe("stored")
          let ids: Array<string> = []
          for (let i = 0; i < 40 && ids.length < 2; i++) {
            const r = yield* Effect.result(store.query([{ ids: [before.id, after.id] }]))
            if (r._tag === "Success") ids = r.success.map((e) => e.id)
            else yield* Effect.sleep("250 millis")
          }
          expect(ids.sort()).toEqual([before.id, after.id].sort())
        })
      ),
    90_000
  )
})
