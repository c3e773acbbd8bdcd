/**
 * Fault: the network to an external PostgreSQL is cut (a TCP proxy in the
 * test stops forwarding, closing nothing: every query and connect attempt
 * just waits) and restored. The relay must notice (the probe through its
 * pools times out), refuse at once meanwhile, bound every query by its time
 * limit, and recover without a restart once packets flow again, both when the
 * stalled connections resume and when they were lost meanwhile (reset).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { startEmbedded, type EmbeddedServer } from "../../src/storage/postgres/EmbeddedPostgres.ts"
import { missingInDb, notReady, readyAgain, sleep, startLoad } from "../support/faults.ts"
import { makeEvent, newKey } from "../support/nostr.ts"
import { startRelayProcess, type RelayProcess } from "../support/processes.ts"
import { startTcpProxy, type TcpProxy } from "../support/tcpProxy.ts"
import { connect, now, publish, req } from "../support/ws.ts"

const QUERY_TIMEOUT_MS = 2000

describe("fault: the network to an external PostgreSQL is cut and restored", () => {
  const dir = mkdtempSync(join(tmpdir(), "parrhesia-fault-net-"))
  let pg: EmbeddedServer
  let proxy: TcpProxy
  let relay: RelayProcess
  beforeAll(async () => {
    pg = await startEmbedded({ dataDir: dir, port: 0, warn: () => {} })
    proxy = await startTcpProxy(pg.port)
    const url = new URL(pg.url)
    url.port = String(proxy.port)
    relay = await startRelayProcess({ PARRHESIA_STORE: "postgres", DATABASE_URL: url.toString(), PARRHESIA_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS) })
  }, 60_000)
  afterEach(() => proxy?.restore())
  afterAll(async () => {
    await relay?.stop()
    await proxy?.close()
    await pg?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  for (const dropStalled of [false, true]) {
    it(`refuses at once while cut, bounds every query, and recovers when restored (${dropStalled ? "connections lost meanwhile" : "connections resume"})`, async () => {
      const key = newKey()
      const client = await connect(relay.url)
      const load = await startLoad(relay.url)
      await load.ackedMore(50)

      const cut = performance.now()
      proxy.cut()
      // A REQ sent into the cut ends by its time limit, not never (a search: a hot window in front of the store never answers one).
      const t0 = performance.now()
      const stalled = await req(client, "stalled", { authors: [key.pk], search: "cut", limit: 5 })
      const reqMs = performance.now() - t0
      expect(stalled.end).toMatchObject({ type: "CLOSED", message: expect.stringMatching(/^error: /) })
      expect(reqMs).toBeLessThan(QUERY_TIMEOUT_MS + 1500)
      const { ms: noticed } = await notReady(relay.url, cut)
      // Known down: refused at once.
      const t1 = performance.now()
      const refused = await publish(client, makeEvent({ created_at: now(), content: "into the cut" }, key))
      const eventMs = performance.now() - t1
      expect(refused.accepted).toBe(false)
      expect(refused.message).toMatch(/^error: /)
      expect(eventMs).toBeLessThan(500)
      await sleep(8000 - (performance.now() - cut))

      const restored = performance.now()
      proxy.restore({ dropStalled })
      const ready = await readyAgain(relay.url, restored, { timeoutMs: 40_000 })
      await load.ackedMore(50)
      await load.stop()
      console.log(
        `[fault] network cut 8 s (${dropStalled ? "reset" : "resumed"}): REQ closed after ${Math.round(reqMs)} ms, not ready after ${Math.round(noticed)} ms, ` +
          `EVENT refused in ${Math.round(eventMs)} ms, ready ${Math.round(ready.ms)} ms after the restore; ${load.acked.size} acknowledged, ` +
          `${load.refused.length} refused, slowest OK ${Math.round(load.slowestMs())} ms`
      )
      expect(ready.ms).toBeLessThan(10_000)
      // EVENTs under way when the network went are answered once the relay notices, not at the 30 s write limit.
      expect(load.slowestMs()).toBeLessThan(5000)
      expect(load.closed()).toBe(0)
      expect(load.unanswered()).toBe(0)
      for (const x of load.refused) expect(x.message).toMatch(/^error: /)
      expect(await missingInDb(pg.url, load.acked)).toEqual([])
      await client.close()
    }, 90_000)
  }
})
