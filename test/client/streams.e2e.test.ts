/**
 * Streams between relay processes on PostgreSQL (each relay its own
 * database): an `up` stream whose remote is stopped while events are written
 * on both sides, a `both` stream whose own relay is stopped and restarted
 * (it resumes from its stored position, shown by what it fetches), and a
 * stream added, paused, resumed and removed through `parrhesia admin`
 * without a restart. Nothing is lost, nothing sent twice, nothing bounces.
 */
import { bytesToHex } from "@noble/hashes/utils.js"
import { afterAll, describe, expect, it } from "vitest"
import { makeEvent, newKey } from "../support/nostr.ts"
import { usePostgresDatabase } from "../support/postgres.ts"
import { runCli, startRelayProcess, type RelayProcess } from "../support/processes.ts"
import { connect, nextEvent, now, publishOk, req } from "../support/ws.ts"

const dbs = [usePostgresDatabase(), usePostgresDatabase(), usePostgresDatabase(), usePostgresDatabase(), usePostgresDatabase(), usePostgresDatabase(), usePostgresDatabase()]
const pg = (i: number) => ({ PARRHESIA_STORE: "postgres", PARRHESIA_DATABASE_URL: dbs[i]!.url() })

const has = async (url: string, ids: ReadonlyArray<string>) => {
  const c = await connect(url)
  const r = await req(c, "has", { ids: [...ids] })
  await c.close()
  return r.events.map((e) => e.id).sort()
}
const publishTo = async (url: string, ...events: ReadonlyArray<ReturnType<typeof makeEvent>>) => {
  const c = await connect(url)
  for (const e of events) await publishOk(c, e)
  await c.close()
}
const metrics = async (relay: RelayProcess) => (await fetch(`${relay.url.replace(/^ws/, "http")}/metrics`)).text()
/** The sum of the series of `name` whose labels include all of `labels` (0 when none). */
const metric = (text: string, name: string, ...labels: ReadonlyArray<string>) =>
  text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) && labels.every((p) => l.includes(p)))
    .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0)
const sorted = (...ids: ReadonlyArray<string>) => [...ids].sort()
const connected = (relay: RelayProcess, remote: string, value: number) =>
  expect.poll(async () => metric(await metrics(relay), "parrhesia_stream_connected", `stream="${remote}"`), { timeout: 20_000, interval: 200 }).toBe(value)

describe("streams (end to end, relay processes)", () => {
  const stops: Array<() => Promise<unknown>> = []
  afterAll(async () => {
    for (const s of stops.reverse()) await s()
  })

  it("up: what the relay accepts reaches the remote live (ephemeral too, after AUTH with the stream's key); after the remote was stopped, the catch-up sends what it missed, once; refusals counted, not retried; nothing comes down", async () => {
    const key = newKey()
    const streamKey = newKey()
    // The remote wants AUTH before any EVENT, and refuses kind 7.
    const remoteEnv = { ...pg(1), PARRHESIA_AUTH_REQUIRED: "writes", PARRHESIA_DISALLOWED_KINDS: "7" }
    let b = await startRelayProcess(remoteEnv)
    stops.push(() => b.stop())
    const a = await startRelayProcess({
      ...pg(0),
      PARRHESIA_STREAMS: JSON.stringify([{ url: b.url, direction: "up", filter: { authors: [key.pk] }, authKey: bytesToHex(streamKey.sk) }])
    })
    stops.push(() => a.stop())
    await connected(a, b.url, 1)

    const e1 = makeEvent({ created_at: now(), content: "live" }, key)
    const watcher = await connect(b.url)
    watcher.send(["REQ", "eph", { kinds: [20001], authors: [key.pk] }])
    await publishTo(a.url, e1)
    await expect.poll(() => has(b.url, [e1.id]), { timeout: 15_000 }).toEqual([e1.id])
    const eph = makeEvent({ kind: 20001, created_at: now(), content: "ephemeral" }, key)
    await publishTo(a.url, eph)
    expect((await nextEvent(watcher, "eph", 15_000)).id).toBe(eph.id)
    await watcher.close()
    // Not matching the filter: never sent.
    const other = makeEvent({ created_at: now() })
    await publishTo(a.url, other)
    // Refused by the remote: counted by reason, not sent again (not even by the catch-ups).
    const reaction = makeEvent({ kind: 7, created_at: now(), content: "+" }, key)
    await publishTo(a.url, reaction)
    await expect.poll(async () => metric(await metrics(a), "parrhesia_stream_refusals_total", `stream="${b.url}"`, `reason="blocked"`), { timeout: 15_000 }).toBe(1)

    // The remote goes away; events are written on both sides meanwhile (on B through another process on its database).
    await b.stop()
    await connected(a, b.url, 0)
    const a1 = makeEvent({ created_at: now(), content: "while the remote was away" }, key)
    const a2 = makeEvent({ created_at: now() - 30, content: "while away, dated earlier" }, key)
    // Dated well before the stream's position: the position goes back to it, so the catch-up covers it.
    const a3 = makeEvent({ created_at: now() - 3600, content: "while away, back-dated an hour" }, key)
    await publishTo(a.url, a1, a2, a3)
    const side = await startRelayProcess(pg(1))
    const b1 = makeEvent({ created_at: now(), content: "written on the remote meanwhile" }, key)
    await publishTo(side.url, b1)
    await side.stop()
    b = await startRelayProcess(remoteEnv, b.port)

    await expect.poll(() => has(b.url, [e1.id, a1.id, a2.id, a3.id]), { timeout: 30_000, interval: 250 }).toEqual(sorted(e1.id, a1.id, a2.id, a3.id))
    expect(await has(b.url, [other.id])).toEqual([])
    expect(await has(a.url, [b1.id])).toEqual([]) // up only
    const text = await metrics(a)
    const up = (...labels: ReadonlyArray<string>) => metric(text, "parrhesia_stream_events_total", `stream="${b.url}"`, `direction="up"`, ...labels)
    expect(up(`source="live"`, `result="accepted"`)).toBe(2) // e1, eph
    expect(up(`source="catchup"`, `result="accepted"`)).toBe(3) // a1, a2, a3
    expect(up(`source="live"`, `result="blocked"`)).toBe(1) // the reaction, once
    expect(up()).toBe(6) // nothing sent twice: no duplicate answers, nothing else
    expect(metric(text, "parrhesia_stream_refusals_total", `stream="${b.url}"`)).toBe(1)
    // The remote's own count: no EVENT it already had (the restarted remote saw the catch-up only).
    expect(metric(await metrics(b), "parrhesia_events_total", `result="duplicate"`)).toBe(0)
    expect(metric(await metrics(b), "parrhesia_events_total", `result="accepted"`)).toBe(3)
    expect(metric(text, "parrhesia_stream_events_total", `stream="${b.url}"`, `direction="down"`)).toBe(0)
    expect(metric(text, "parrhesia_stream_catchups_total", `stream="${b.url}"`, `method="negentropy"`)).toBeGreaterThanOrEqual(2)
  }, 120_000)

  it("both: converges after its own relay was stopped and restarted, resuming from the stored position; nothing bounces back", async () => {
    const key = newKey()
    const b = await startRelayProcess(pg(3))
    stops.push(() => b.stop())
    const env = { ...pg(2), PARRHESIA_LOG_LEVEL: "info", PARRHESIA_STREAMS: JSON.stringify([{ url: b.url, direction: "both", filter: { authors: [key.pk] } }]) }
    let a = await startRelayProcess(env)
    stops.push(() => a.stop())
    await connected(a, b.url, 1)

    const xa = makeEvent({ created_at: now(), content: "written on A" }, key)
    const xb = makeEvent({ created_at: now(), content: "written on B" }, key)
    await publishTo(a.url, xa)
    await publishTo(b.url, xb)
    await expect.poll(() => has(b.url, [xa.id]), { timeout: 15_000 }).toEqual([xa.id])
    await expect.poll(() => has(a.url, [xb.id]), { timeout: 15_000 }).toEqual([xb.id])
    const before = await metrics(a)
    const count = (text: string, ...labels: ReadonlyArray<string>) => metric(text, "parrhesia_stream_events_total", `stream="${b.url}"`, ...labels)
    expect(count(before, `direction="up"`)).toBe(1) // xa only: xb came from B and is not sent back
    expect(count(before, `direction="down"`)).toBe(1) // xb only: xa's echo is dropped
    await expect.poll(async () => metric(await metrics(a), "parrhesia_stream_echoes_total", `stream="${b.url}"`), { timeout: 10_000 }).toBe(1)

    // A stops (its position is stored); both sides get events meanwhile.
    await a.stop()
    const stoppedAt = now()
    const b1 = makeEvent({ created_at: now(), content: "on B while A was down" }, key)
    // Dated half an hour back: before A's stored position (minus the margin), so a catch-up from the
    // position does not see it, while a stream without one would (it looks back a day).
    const bOld = makeEvent({ created_at: now() - 1800, content: "back-dated, on B while A was down" }, key)
    await publishTo(b.url, b1, bOld)
    const side = await startRelayProcess(pg(2))
    const a1 = makeEvent({ created_at: now(), content: "on A's database while A was down" }, key)
    await publishTo(side.url, a1)
    await side.stop()

    a = await startRelayProcess(env, a.port)
    const all = sorted(xa.id, xb.id, a1.id, b1.id)
    await expect.poll(() => has(a.url, all), { timeout: 30_000, interval: 250 }).toEqual(all)
    await expect.poll(() => has(b.url, all), { timeout: 30_000, interval: 250 }).toEqual(all)
    expect(await has(a.url, [bOld.id])).toEqual([])

    // What it fetched: one catch-up from the stored position (about when it stopped, minus the margin), one event each way.
    await expect.poll(() => /caught up since (\d+) by negentropy \(1 fetched, 1 sent\)/.exec(a.output())?.[1], { timeout: 10_000 }).toBeDefined()
    const since = Number(/caught up since (\d+) by negentropy \(1 fetched, 1 sent\)/.exec(a.output())![1])
    expect(since).toBeGreaterThanOrEqual(stoppedAt - 60 - 240)
    expect(since).toBeLessThanOrEqual(stoppedAt - 60 + 1)
    const after = await metrics(a)
    expect(count(after, `direction="up"`, `source="catchup"`, `result="accepted"`)).toBe(1) // a1
    expect(count(after, `direction="down"`, `source="catchup"`, `result="accepted"`)).toBe(1) // b1
    expect(count(after, `result="duplicate"`)).toBe(0)
    expect(metric(await metrics(b), "parrhesia_events_total", `result="duplicate"`)).toBe(0) // B never got an event twice

    // Live again, both ways, without bouncing.
    const a2 = makeEvent({ created_at: now(), content: "live on A after the restart" }, key)
    const b2 = makeEvent({ created_at: now(), content: "live on B after the restart" }, key)
    await publishTo(a.url, a2)
    await publishTo(b.url, b2)
    await expect.poll(() => has(b.url, [a2.id]), { timeout: 15_000 }).toEqual([a2.id])
    await expect.poll(() => has(a.url, [b2.id]), { timeout: 15_000 }).toEqual([b2.id])
    const last = await metrics(a)
    expect(count(last, `direction="up"`)).toBe(2) // a1, a2
    expect(count(last, `direction="down"`)).toBe(2) // b1, b2
    expect(count(last, `result="duplicate"`)).toBe(0)
    expect(metric(await metrics(b), "parrhesia_events_total", `result="duplicate"`)).toBe(0)
  }, 120_000)

  it("with two workers the stream runs in one of them, and sends what either accepts, once", async () => {
    const key = newKey()
    const b = await startRelayProcess()
    stops.push(() => b.stop())
    const a = await startRelayProcess({
      ...pg(5),
      PARRHESIA_WORKERS: "2",
      PARRHESIA_LOG_LEVEL: "info",
      PARRHESIA_STREAMS: JSON.stringify([{ url: b.url, direction: "up", filter: { authors: [key.pk] } }])
    })
    stops.push(() => a.stop())
    await expect.poll(() => (a.output().match(/stream \S+ \(up\): connected/g) ?? []).length, { timeout: 20_000 }).toBe(1)
    const watcher = await connect(b.url)
    watcher.send(["REQ", "eph", { kinds: [20001], authors: [key.pk] }])
    // Several connections: the primary hands them to both workers in turn.
    const stored: Array<string> = []
    for (let i = 0; i < 6; i++) {
      const e = makeEvent({ created_at: now(), content: `stored ${i}` }, key)
      const eph = makeEvent({ kind: 20001, created_at: now(), content: `ephemeral ${i}` }, key)
      stored.push(e.id)
      await publishTo(a.url, e, eph)
    }
    await expect.poll(() => has(b.url, stored), { timeout: 20_000, interval: 250 }).toEqual(sorted(...stored))
    await expect.poll(() => watcher.log.filter((f) => f[0] === "EVENT" && f[1] === "eph").length, { timeout: 10_000 }).toBe(6)
    await new Promise((r) => setTimeout(r, 500))
    expect(watcher.log.filter((f) => f[0] === "EVENT" && f[1] === "eph").length).toBe(6) // each once
    expect(metric(await metrics(b), "parrhesia_events_total", `result="duplicate"`)).toBe(0)
    expect(metric(await metrics(b), "parrhesia_events_total", `result="accepted"`)).toBe(12)
    expect((a.output().match(/stream \S+ \(up\): started/g) ?? []).length).toBe(1)
    await watcher.close()
  }, 90_000)

  it("two relay processes on one database (hosts): one runs the stream; when it stops the other takes over", async () => {
    const key = newKey()
    const b = await startRelayProcess()
    stops.push(() => b.stop())
    const env = { ...pg(6), PARRHESIA_LOG_LEVEL: "info", PARRHESIA_STREAMS: JSON.stringify([{ url: b.url, direction: "up", filter: { authors: [key.pk] } }]) }
    const first = await startRelayProcess(env)
    stops.push(() => first.stop())
    await connected(first, b.url, 1)
    const second = await startRelayProcess(env)
    stops.push(() => second.stop())
    const started = (r: RelayProcess) => (r.output().match(/stream \S+ \(up\): started/g) ?? []).length
    // Events accepted by either reach the remote once (the other's through the cluster bus).
    const e1 = makeEvent({ created_at: now(), content: "on the first" }, key)
    const e2 = makeEvent({ created_at: now(), content: "on the second" }, key)
    await publishTo(first.url, e1)
    await publishTo(second.url, e2)
    await expect.poll(() => has(b.url, [e1.id, e2.id]), { timeout: 15_000, interval: 250 }).toEqual(sorted(e1.id, e2.id))
    expect(started(first)).toBe(1)
    expect(started(second)).toBe(0)
    // The first stops (and gives its lease up): the second takes the stream over.
    await first.stop()
    await expect.poll(() => started(second), { timeout: 15_000, interval: 250 }).toBe(1)
    const e3 = makeEvent({ created_at: now(), content: "after the takeover" }, key)
    await publishTo(second.url, e3)
    await expect.poll(() => has(b.url, [e3.id]), { timeout: 15_000, interval: 250 }).toEqual([e3.id])
    expect(metric(await metrics(b), "parrhesia_events_total", `result="duplicate"`)).toBe(0)
    expect(metric(await metrics(b), "parrhesia_events_total", `result="accepted"`)).toBe(3)
  }, 90_000)

  it("a stream added through parrhesia admin starts without a restart; paused, resumed (catching up), listed and removed", async () => {
    const admin = newKey()
    const key = newKey()
    const sk = { PARRHESIA_ADMIN_SECRET_KEY: bytesToHex(admin.sk) }
    const b = await startRelayProcess()
    stops.push(() => b.stop())
    const a = await startRelayProcess({ ...pg(4), PARRHESIA_ADMIN_PUBKEYS: admin.pk })
    stops.push(() => a.stop())
    const adminCall = async (...args: ReadonlyArray<string>) => {
      const r = await runCli(["admin", ...args, "--url", a.url], sk)
      expect(r.code, r.stderr).toBe(0)
      return r.stdout
    }

    expect(await adminCall("addstream", b.url, "down", JSON.stringify({ authors: [key.pk] }))).toBe("true\n")
    await connected(a, b.url, 1)
    const e1 = makeEvent({ created_at: now(), content: "after addstream" }, key)
    await publishTo(b.url, e1)
    await expect.poll(() => has(a.url, [e1.id]), { timeout: 15_000 }).toEqual([e1.id])
    const listed = JSON.parse((await adminCall("liststreams")).trim())
    expect(listed).toMatchObject({ url: b.url, direction: "down", filter: JSON.stringify({ authors: [key.pk] }), source: "runtime", paused: false, authKey: "relay" })

    expect(await adminCall("pausestream", b.url)).toBe("true\n")
    await connected(a, b.url, 0)
    const e2 = makeEvent({ created_at: now(), content: "while paused" }, key)
    await publishTo(b.url, e2)
    expect(JSON.parse((await adminCall("liststreams")).trim()).paused).toBe(true)
    expect(await has(a.url, [e2.id])).toEqual([])
    expect(await adminCall("resumestream", b.url)).toBe("true\n")
    await expect.poll(() => has(a.url, [e2.id]), { timeout: 15_000 }).toEqual([e2.id])

    // Bad calls are refused with a reason.
    const bad = await runCli(["admin", "addstream", "http://nope", "down", "--url", a.url], sk)
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/ws:\/\/ or wss:\/\//)

    expect(await adminCall("removestream", b.url)).toBe("true\n")
    await connected(a, b.url, 0)
    expect(await adminCall("liststreams")).toBe("")
  }, 90_000)
})
