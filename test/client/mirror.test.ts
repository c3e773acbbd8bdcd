/**
 * Mirroring in `serve`: a relay with `mirrorUpstreams` stores and fans out
 * what its upstream (a relay process on PostgreSQL) publishes; it survives the
 * upstream being stopped and restarted and has missed nothing afterwards (the
 * NIP-77 catch-up fetches what was published while it was away, an old
 * created_at included); an upstream without NIP-77 is
 * caught up by REQ; events that fail validation are never stored.
 */
import { afterAll, describe, expect, it } from "vitest"
import { makeEvent, newKey } from "../support/nostr.ts"
import { usePostgresDatabase } from "../support/postgres.ts"
import { startFakeRelay } from "../support/fakeRelay.ts"
import { startRelayProcess, type RelayProcess } from "../support/processes.ts"
import { startRelay, type TestRelay } from "../support/relay.ts"
import { connect, nextEvent, now, publishOk, req } from "../support/ws.ts"

const db = usePostgresDatabase()

const has = async (url: string, ids: ReadonlyArray<string>) => {
  const c = await connect(url)
  const r = await req(c, "has", { ids: [...ids] })
  await c.close()
  return r.events.map((e) => e.id).sort()
}
/** A relay without NIP-77: every REQ gets `events`, anything else but CLOSE a NOTICE. */
const plainRelay = (events: ReadonlyArray<unknown>) => (f: any, ws: { send: (s: string) => void }) => {
  if (f[0] === "REQ") {
    for (const e of events) ws.send(JSON.stringify(["EVENT", f[1], e]))
    ws.send(JSON.stringify(["EOSE", f[1]]))
  } else if (f[0] !== "CLOSE") ws.send(JSON.stringify(["NOTICE", `unknown command ${f[0]}`]))
}
const metrics = async (relay: TestRelay) => (await fetch(`${relay.httpUrl}/metrics`)).text()
const metric = (text: string, name: string, labels: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && labels.split(",").every((p) => l.includes(p)))
  return line === undefined ? 0 : Number(line.split(" ").pop())
}

describe("mirroring (mirrorUpstreams)", () => {
  const stops: Array<() => Promise<unknown>> = []
  afterAll(async () => {
    for (const s of stops.reverse()) await s()
  })

  it("follows its upstream live, and after a restart of the upstream catches up on what it missed", async () => {
    const env = { PARRHESIA_STORE: "postgres", PARRHESIA_DATABASE_URL: db.url() }
    let upstream: RelayProcess = await startRelayProcess(env)
    stops.push(() => upstream.stop())
    const key = newKey()
    const publishUp = async (...events: ReadonlyArray<ReturnType<typeof makeEvent>>) => {
      const c = await connect(upstream.url)
      for (const e of events) await publishOk(c, e)
      await c.close()
    }
    const before = makeEvent({ created_at: now() - 3600, content: "published before the mirror started" }, key)
    await publishUp(before)

    const mirror = await startRelay({ mirrorUpstreams: [upstream.url], mirrorFilter: JSON.stringify({ authors: [key.pk] }) })
    stops.push(() => mirror.close())
    const watcher = await connect(mirror.url)
    watcher.send(["REQ", "live", { authors: [key.pk], since: now() - 60 }])

    // The first catch-up fetches what the upstream held already.
    await expect.poll(() => has(mirror.url, [before.id]), { timeout: 15_000 }).toEqual([before.id])

    // Live: stored and fanned out to the mirror's own subscribers.
    const live = makeEvent({ created_at: now(), content: "live" }, key)
    await publishUp(live)
    expect((await nextEvent(watcher, "live", 15_000)).id).toBe(live.id)

    // Ignored by the filter.
    const other = makeEvent({ created_at: now() })
    await publishUp(other)

    // The upstream goes away; the mirror keeps serving.
    await upstream.stop()
    await expect.poll(async () => metric(await metrics(mirror), "parrhesia_mirror_connected", `upstream="${upstream.url}"`), { timeout: 15_000 }).toBe(0)
    expect(await has(mirror.url, [live.id])).toEqual([live.id])

    // While it is away, events reach its database through another relay process on the same
    // database: when the upstream comes back they are stored there already, so only the
    // catch-up can bring them (the live subscription sees new events only).
    const side = await startRelayProcess(env)
    const whileAway = makeEvent({ created_at: now(), content: "while the mirror was away" }, key)
    const late = makeEvent({ created_at: now() - 40, content: "late: created long before it was published" }, key)
    const c = await connect(side.url)
    for (const e of [whileAway, late]) await publishOk(c, e)
    await c.close()
    await side.stop()
    upstream = await startRelayProcess(env, upstream.port)

    const wanted = [before.id, live.id, whileAway.id, late.id].sort()
    await expect.poll(() => has(mirror.url, wanted), { timeout: 30_000, interval: 200 }).toEqual(wanted)
    expect(await has(mirror.url, [other.id])).toEqual([])

    const text = await metrics(mirror)
    expect(metric(text, "parrhesia_mirror_connected", `upstream="${upstream.url}"`)).toBe(1)
    expect(metric(text, "parrhesia_mirror_disconnects_total", `upstream="${upstream.url}"`)).toBeGreaterThanOrEqual(1)
    expect(metric(text, "parrhesia_mirror_catchups_total", `method="negentropy"`)).toBeGreaterThanOrEqual(2)
    expect(metric(text, "parrhesia_mirror_events_total", `source="live",result="accepted"`)).toBeGreaterThanOrEqual(1)
    expect(metric(text, "parrhesia_mirror_events_total", `source="catchup",result="accepted"`)).toBeGreaterThanOrEqual(3)
    await watcher.close()
  }, 90_000)

  it("backs off from an upstream that sends garbage, and recovers once it behaves", async () => {
    const good = makeEvent({ created_at: now() - 3 })
    // The first two connections get HTML instead of NIP-01 (a proxy in trouble); later ones a working relay.
    const connectionNo = new WeakMap<object, number>()
    let connections = 0
    const upstream = await startFakeRelay((f, ws) => {
      let no = connectionNo.get(ws)
      if (no === undefined) connectionNo.set(ws, (no = ++connections))
      if (no <= 2) return ws.send("<html>502 Bad Gateway</html>")
      plainRelay([good])(f, ws)
    })
    stops.push(() => upstream.close())
    const mirror = await startRelay({ mirrorUpstreams: [upstream.url] })
    stops.push(() => mirror.close())
    await expect.poll(() => has(mirror.url, [good.id]), { timeout: 20_000 }).toEqual([good.id])
    expect(connections).toBeGreaterThanOrEqual(3)
    expect(metric(await metrics(mirror), "parrhesia_mirror_disconnects_total", `upstream="${upstream.url}"`)).toBeGreaterThanOrEqual(2)
  }, 40_000)

  it("catches up by REQ from an upstream without NIP-77, and never stores an event that fails validation", async () => {
    const good = makeEvent({ created_at: now() - 10 })
    const forged = { ...makeEvent({ created_at: now() - 5 }), sig: "00".repeat(64) }
    const upstream = await startFakeRelay(plainRelay([good, forged]))
    stops.push(() => upstream.close())
    const mirror = await startRelay({ mirrorUpstreams: [upstream.url] })
    stops.push(() => mirror.close())
    await expect.poll(() => has(mirror.url, [good.id]), { timeout: 15_000 }).toEqual([good.id])
    await expect.poll(async () => metric(await metrics(mirror), "parrhesia_mirror_events_total", `result="invalid"`), { timeout: 15_000 }).toBeGreaterThanOrEqual(1)
    expect(await has(mirror.url, [forged.id])).toEqual([])
    expect(metric(await metrics(mirror), "parrhesia_mirror_catchups_total", `method="req"`)).toBeGreaterThanOrEqual(1)
  })
})
