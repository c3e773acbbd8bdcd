/**
 * A database outage seen from a client: with PostgreSQL stopped, EVENT gets
 * `OK false "error: ..."` and REQ gets `CLOSED "error: ..."`, the relay keeps
 * serving its sockets, and it recovers by itself when the database returns.
 */
import { randomBytes } from "node:crypto"
import { mkdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startEmbedded, type EmbeddedServer } from "../../../src/storage/postgres/EmbeddedPostgres.ts"
import { storeFromConfig } from "../../../src/storage/layer.ts"
import { makeEvent } from "../../support/nostr.ts"
import { startRelay, type TestRelay } from "../../support/relay.ts"
import { collect, connect, publish } from "../../support/ws.ts"

describe("relay on postgres: database outage", () => {
  const dir = join(tmpdir(), `parrhesia-relay-outage-${randomBytes(4).toString("hex")}`)
  let pg: EmbeddedServer
  let relay: TestRelay

  beforeAll(async () => {
    mkdirSync(dir, { recursive: true })
    pg = await startEmbedded({ dataDir: dir, port: 0, warn: () => {} })
    relay = await startRelay({ store: "postgres", databaseUrl: pg.url, queryTimeoutMs: 1000 }, { stores: storeFromConfig })
  }, 60_000)

  afterAll(async () => {
    await relay?.close()
    await pg?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it("answers error: while the database is down and serves again once it is back", async () => {
    const c = await connect(relay.url)
    const before = makeEvent({ content: "before the outage" })
    expect(await publish(c, before)).toEqual({ accepted: true, message: "" })

    await pg.stop()
    const during = makeEvent({ content: "during the outage" })
    const ok = await publish(c, during)
    expect(ok.accepted).toBe(false)
    expect(ok.message).toMatch(/^error: /)
    c.send(["REQ", "down", { ids: [before.id] }])
    const down = await collect(c, "down")
    expect(down.end.type).toBe("CLOSED")
    if (down.end.type === "CLOSED") expect(down.end.message).toMatch(/^error: /)
    // The socket itself is unharmed: a malformed frame still gets its NOTICE.
    c.send("not json")
    expect((await c.next((f) => f[0] === "NOTICE"))[1]).toMatch(/^invalid: /)

    await pg.restart()
    // The pools reconnect by themselves; the first attempts may still meet dead pooled connections.
    let stored = false
    for (let i = 0; i < 40 && !stored; i++) {
      const r = await publish(c, during)
      stored = r.accepted
      if (!stored) await new Promise((resolve) => setTimeout(resolve, 250))
    }
    expect(stored).toBe(true)
    c.send(["REQ", "up", { ids: [before.id, during.id] }])
    const up = await collect(c, "up")
    expect(up.end.type).toBe("EOSE")
    expect(up.events.map((e) => e.id).sort()).toEqual([before.id, during.id].sort())
    await c.close()
  }, 90_000)
})
