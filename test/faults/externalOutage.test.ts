/**
 * Fault: an external PostgreSQL (DATABASE_URL) is stopped for 20 s under
 * publishing load and started again. While it is away the relay stays up and
 * answers at once: EVENT `OK false "error: ..."` (no waiting for a connect
 * timeout), REQ and COUNT `CLOSED "error: ..."`, NEG-OPEN `NEG-ERR
 * "error: ..."`, /ready 503; ephemeral events still reach live subscribers.
 * Once it is back the pools reconnect by themselves: ready within 10 s,
 * every acknowledged event stored, no socket closed.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { startEmbedded, type EmbeddedServer } from "../../src/storage/postgres/EmbeddedPostgres.ts"
import { missingInDb, notReady, readyAgain, sleep, startLoad } from "../support/faults.ts"
import { makeEvent, newKey } from "../support/nostr.ts"
import { startRelayProcess, type RelayProcess } from "../support/processes.ts"
import { connect, nextEvent, now, publish, req } from "../support/ws.ts"

describe("fault: the external PostgreSQL is stopped for 20 s under load", () => {
  const dir = mkdtempSync(join(tmpdir(), "parrhesia-fault-external-"))
  let pg: EmbeddedServer | undefined
  let relay: RelayProcess | undefined
  afterAll(async () => {
    await relay?.stop()
    await pg?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it("refuses with error: at once while it is away, keeps sockets and live ephemeral delivery, and recovers by itself", async () => {
    pg = await startEmbedded({ dataDir: dir, port: 0, warn: () => {} })
    relay = await startRelayProcess({ PARRHESIA_STORE: "postgres", DATABASE_URL: pg.url, PARRHESIA_QUERY_TIMEOUT_MS: "2000" })
    const key = newKey()
    const listener = await connect(relay.url)
    expect((await req(listener, "live", { kinds: [20001], limit: 0 })).end.type).toBe("EOSE")
    const client = await connect(relay.url)
    const load = await startLoad(relay.url)
    await load.ackedMore(100)

    const stopped = performance.now()
    await pg.stop()
    const { ms: noticed } = await notReady(relay.url, stopped)

    // EVENT: refused at once with error:, not after a connect timeout.
    const t0 = performance.now()
    const refused = await publish(client, makeEvent({ created_at: now(), content: "while away" }, key))
    const eventMs = performance.now() - t0
    expect(refused.accepted).toBe(false)
    expect(refused.message).toMatch(/^error: /)
    expect(eventMs).toBeLessThan(500)
    // REQ, COUNT, NEG-OPEN: error: too (searches: a hot window in front of the store may answer other REQs from memory).
    const r = await req(client, "q", { kinds: [1], search: "load", limit: 5 })
    expect(r.end).toMatchObject({ type: "CLOSED", message: expect.stringMatching(/^error: /) })
    client.send(["COUNT", "c", { kinds: [1], search: "load" }])
    expect(await client.next((f) => f[1] === "c")).toEqual(["CLOSED", "c", expect.stringMatching(/^error: /)])
    client.send(["NEG-OPEN", "n", { kinds: [1] }, "6100000200"])
    expect(await client.next((f) => f[1] === "n")).toEqual(["NEG-ERR", "n", expect.stringMatching(/^error: /)])
    // Ephemeral events need no store: still delivered live.
    const ephemeral = makeEvent({ kind: 20001, created_at: now(), content: "still flowing" }, key)
    expect(await publish(client, ephemeral)).toEqual({ accepted: true, message: "" })
    expect((await nextEvent(listener, "live")).id).toBe(ephemeral.id)

    await sleep(20_000 - (performance.now() - stopped))
    const started = performance.now()
    await pg.restart()
    const ready = await readyAgain(relay.url, started, { timeoutMs: 15_000 })
    await load.ackedMore(100)
    await load.stop()
    console.log(
      `[fault] external PostgreSQL stopped 20 s: not ready after ${Math.round(noticed)} ms, EVENT refused in ${Math.round(eventMs)} ms, ` +
        `ready ${Math.round(ready.ms)} ms after it was back; ${load.acked.size} acknowledged, ${load.refused.length} refused, slowest OK ${Math.round(load.slowestMs())} ms`
    )
    expect(ready.ms).toBeLessThan(10_000)
    expect(load.closed()).toBe(0)
    expect(load.unanswered()).toBe(0)
    for (const x of load.refused) expect(x.message).toMatch(/^error: /)
    expect(await missingInDb(pg.url, load.acked)).toEqual([])
    expect(listener.ws.readyState).toBe(listener.ws.OPEN)
    await listener.close()
    await client.close()
  }, 90_000)
})
