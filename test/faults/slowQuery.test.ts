/**
 * Fault: a slow query. Another session holds an exclusive lock on a
 * partition of event_tags (what a long migration or a stuck maintenance job
 * does), so a REQ filtering by a tag waits on it. That REQ must get
 * `CLOSED "error: ..."` after `queryTimeoutMs`, while REQs that do not touch
 * the locked table and every EVENT keep being served, and the relay stays
 * ready: one slow query is not an outage.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Fiber, Redacted } from "effect"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import { afterAll, describe, expect, it } from "vitest"
import { embeddedUrl, get, httpOf, startLoad } from "../support/faults.ts"
import { newKey } from "../support/nostr.ts"
import { startRelayProcess, type RelayProcess } from "../support/processes.ts"
import { connect, req } from "../support/ws.ts"

const QUERY_TIMEOUT_MS = 1500

/** Holds `LOCK TABLE <table> IN ACCESS EXCLUSIVE MODE` in an open transaction until released. */
const holdLock = async (url: string, table: string) => {
  let locked: () => void = () => {}
  const held = new Promise<void>((r) => (locked = r))
  const fiber = Effect.runFork(
    Effect.scoped(
      Effect.gen(function* () {
        const sql = yield* PgClient.makeClient({ url: Redacted.make(url) }).pipe(Effect.provide(Reactivity.layer))
        yield* sql.withTransaction(
          Effect.gen(function* () {
            yield* sql.unsafe(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`)
            locked()
            return yield* Effect.never
          })
        )
      })
    )
  )
  await held
  return { release: () => Effect.runPromise(Fiber.interrupt(fiber)) }
}

describe("fault: a slow query (a lock held on a table from another session)", () => {
  const dir = mkdtempSync(join(tmpdir(), "parrhesia-fault-slow-"))
  let relay: RelayProcess | undefined
  afterAll(async () => {
    await relay?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it("that REQ gets CLOSED error: after queryTimeoutMs; other REQs and every EVENT are served meanwhile", async () => {
    relay = await startRelayProcess({ PARRHESIA_STORE: "postgres", PARRHESIA_DATA_DIR: dir, PARRHESIA_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS) })
    const key = newKey()
    const load = await startLoad(relay.url, { key })
    await load.ackedMore(30)
    const lock = await holdLock(embeddedUrl(dir), "event_tags_default")
    try {
      const c = await connect(relay.url)
      // Searches go to the database (a hot window in front of the store never answers them).
      const slowReq = req(c, "slow", { "#t": ["slow"], search: "slow" })
      const t0 = performance.now()
      // Meanwhile: other REQs answer, EVENTs are acknowledged, the relay is ready.
      const other = await req(c, "other", { authors: [key.pk], search: "load", limit: 5 })
      const otherMs = performance.now() - t0
      expect(other.end.type).toBe("EOSE")
      expect(other.events.length).toBeGreaterThan(0)
      await load.ackedMore(50, QUERY_TIMEOUT_MS * 4)
      expect((await get(httpOf(relay.url), "/ready")).status).toBe(200)

      const slow = await slowReq
      const slowMs = performance.now() - t0
      expect(slow.end).toMatchObject({ type: "CLOSED", message: expect.stringMatching(/^error: /) })
      expect(slowMs).toBeGreaterThanOrEqual(QUERY_TIMEOUT_MS - 50)
      expect(slowMs).toBeLessThan(QUERY_TIMEOUT_MS + 1500)
      console.log(
        `[fault] slow query: the locked REQ closed after ${Math.round(slowMs)} ms (${slow.end.type === "CLOSED" ? slow.end.message : ""}); ` +
          `another REQ answered in ${Math.round(otherMs)} ms; slowest OK ${Math.round(load.slowestMs())} ms`
      )
      await lock.release()
      expect((await req(c, "again", { "#t": ["slow"], search: "slow" })).end.type).toBe("EOSE")
      await c.close()
    } finally {
      await lock.release()
    }
    await load.stop()
    expect(load.refused).toEqual([])
    expect(load.closed()).toBe(0)
    expect(load.unanswered()).toBe(0)
  }, 60_000)
})
