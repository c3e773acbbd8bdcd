/**
 * `workers`: several relay processes behind one port, over the embedded
 * PostgreSQL the primary starts. Where each client landed is read from /proc
 * (test/support/sockets.ts), so the tests know they span both workers.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import WebSocket from "ws"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { makeEvent, newKey } from "../support/nostr.ts"
import { runCli, startRelayProcess, type RelayProcess } from "../support/processes.ts"
import { childPids, serverPidOf } from "../support/sockets.ts"
import { connect, logged, nextEvent, now, publishOk, req, within, type RawClient } from "../support/ws.ts"

/** Sends `events` with up to 8 in flight until all are answered or the socket closes; the ids answered OK true. */
const pump = (c: RawClient, events: ReadonlyArray<NostrEvent>, onAck: (acked: number) => void = () => {}) =>
  new Promise<Set<string>>((resolve) => {
    const acked = new Set<string>()
    let next = 0
    let inFlight = 0
    let done = false
    const finish = () => {
      if (done) return
      done = true
      c.ws.off("message", onMessage)
      resolve(acked)
    }
    const send = () => {
      while (inFlight < 8 && next < events.length && c.ws.readyState === WebSocket.OPEN) {
        c.ws.send(JSON.stringify(["EVENT", events[next++]]))
        inFlight++
      }
      if (inFlight === 0 && next >= events.length) finish()
    }
    const onMessage = (data: WebSocket.RawData) => {
      const f = JSON.parse(data.toString())
      if (f[0] !== "OK") return
      inFlight--
      if (f[2] === true) {
        acked.add(f[1])
        onAck(acked.size)
      }
      send()
    }
    c.ws.on("message", onMessage)
    c.ws.once("close", finish)
    send()
  })

/** Resolves when the relay's output (stdout or stderr) matches `re`. */
const outputMatching = (relay: RelayProcess, re: RegExp, ms: number) =>
  within(
    new Promise<void>((resolve) => {
      const check = () => {
        if (!re.test(relay.output())) return
        relay.child.stdout!.off("data", later)
        relay.child.stderr!.off("data", later)
        resolve()
      }
      // After the process's own listeners have appended the chunk to output().
      const later = () => setImmediate(check)
      relay.child.stdout!.on("data", later)
      relay.child.stderr!.on("data", later)
      check()
    }),
    ms,
    `relay output matching ${re}`
  )

describe("workers: two relay processes behind one port on the embedded PostgreSQL", () => {
  let dir: string
  let relay: RelayProcess
  const workers = () => childPids(relay.child.pid!, "main.ts")

  /** Connects until the connection lands on `pid` (round-robin: a few tries at most). */
  const connectTo = async (pid: number): Promise<RawClient> => {
    for (let i = 0; i < 12; i++) {
      const c = await connect(relay.url)
      if (serverPidOf(c, relay.port, [pid]) === pid) return c
      await c.close()
    }
    throw new Error(`no connection landed on worker ${pid}`)
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "parrhesia-workers-"))
    relay = await startRelayProcess({ PARRHESIA_STORE: "postgres", PARRHESIA_WORKERS: "2", PARRHESIA_DATA_DIR: dir })
  }, 60_000)
  afterAll(async () => {
    await relay?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it("spreads connections over both workers; every event published anywhere reaches every subscriber once", async () => {
    expect(relay.output()).toMatch(/workers: 2\)/)
    const pids = workers()
    expect(pids).toHaveLength(2)
    const key = newKey()
    const subs: Array<RawClient> = []
    for (let i = 0; i < 6; i++) {
      const c = await connect(relay.url)
      await req(c, "live", { authors: [key.pk], since: now() - 60 })
      subs.push(c)
    }
    expect(new Set(subs.map((c) => serverPidOf(c, relay.port, pids)))).toEqual(new Set(pids))
    const pubs = [await connectTo(pids[0]!), await connectTo(pids[1]!)]
    const events = [
      ...Array.from({ length: 20 }, (_, i) => makeEvent({ created_at: now(), content: `n${i}` }, key)),
      makeEvent({ kind: 20001, created_at: now(), content: "ephemeral" }, key),
      makeEvent({ created_at: now(), content: "x".repeat(20_000) }, key)
    ]
    for (const [i, e] of events.entries()) await publishOk(pubs[i % 2]!, e)
    const marker = makeEvent({ created_at: now(), content: "marker" }, key)
    await publishOk(pubs[0]!, marker)
    const want = [...events, marker].map((e) => e.id).sort()
    for (const s of subs) {
      const got: Array<string> = []
      for (let i = 0; i < want.length; i++) got.push((await nextEvent(s, "live", 10_000)).id)
      expect(got.sort()).toEqual(want)
      expect(logged(s, "EVENT", "live")).toHaveLength(want.length)
    }
    for (const c of [...subs, ...pubs]) await c.close()
  }, 60_000)

  it("a SIGKILLed worker loses no acknowledged event, the other worker's clients stay connected, and it comes back", async () => {
    const [victim, survivor] = workers() as [number, number]
    const key = newKey()
    const subs: Array<RawClient> = []
    for (let i = 0; i < 2; i++) {
      const c = await connectTo(survivor)
      await req(c, "live", { authors: [key.pk], since: now() - 60 })
      subs.push(c)
    }
    let dropped = 0
    for (const s of subs) void s.closed.then(() => dropped++)
    const onVictim = await connectTo(victim)
    const onSurvivor = await connectTo(survivor)
    const batch = (n: number, tag: string) => Array.from({ length: n }, (_, i) => makeEvent({ created_at: now(), content: `${tag}${i}` }, key))

    // Both publish at once; the victim's worker is killed after 30 of its events were acknowledged.
    const [ackedVictim, ackedSurvivor] = await Promise.all([
      pump(onVictim, batch(400, "v"), (n) => {
        if (n === 30) process.kill(victim, "SIGKILL")
      }),
      pump(onSurvivor, batch(150, "s"))
    ])
    expect(ackedVictim.size).toBeGreaterThanOrEqual(30)
    expect(ackedVictim.size).toBeLessThan(400)
    expect(ackedSurvivor.size).toBe(150)
    await within(onVictim.closed, 5000, "the killed worker's client to be dropped")

    // A marker last: once it arrives, everything acknowledged before it has arrived too (or never will).
    const marker = makeEvent({ created_at: now(), content: "marker" }, key)
    await publishOk(onSurvivor, marker)
    const acked = [...ackedVictim, ...ackedSurvivor]
    for (const s of subs) {
      await within(s.next((f) => f[0] === "EVENT" && f[2].id === marker.id, 10_000), 10_000, "the marker")
      const got = logged(s, "EVENT", "live").map((f) => f[2].id as string)
      expect(new Set(got).size).toBe(got.length)
      expect(got).toEqual(expect.arrayContaining(acked))
    }
    expect(dropped).toBe(0)

    // Every acknowledged event is stored.
    const reader = await connectTo(survivor)
    const stored = await req(reader, "ids", { ids: acked, limit: acked.length })
    expect(stored.events.map((e) => e.id).sort()).toEqual([...acked].sort())

    // The worker comes back, serves, and gets what the other worker is sent.
    await outputMatching(relay, /worker \d \(pid \d+\) is back and listening/, 30_000)
    const now2 = workers()
    expect(now2).toHaveLength(2)
    expect(now2).toContain(survivor)
    const reborn = now2.find((p) => p !== survivor)!
    expect(reborn).not.toBe(victim)
    const late = await connectTo(reborn)
    await req(late, "late", { authors: [key.pk], since: now() - 60, limit: 0 })
    const after = makeEvent({ created_at: now(), content: "after the restart" }, key)
    await publishOk(onSurvivor, after)
    expect((await nextEvent(late, "late", 10_000)).id).toBe(after.id)
    for (const c of [...subs, onSurvivor, reader, late]) await c.close()
  }, 90_000)

  it("drains and stops every worker and PostgreSQL on SIGTERM, exit 0", async () => {
    const pids = workers()
    const all = childPids(relay.child.pid!, "")
    expect(all.length).toBeGreaterThan(pids.length) // the workers and PostgreSQL
    await relay.stop()
    expect(relay.child.exitCode).toBe(0)
    for (const pid of all) expect(() => process.kill(pid, 0)).toThrow()
  }, 60_000)
})

describe("workers: settings", () => {
  it("refuses the memory store with more than one worker, naming the fix", async () => {
    const r = await runCli(["serve"], { PARRHESIA_STORE: "memory", PARRHESIA_WORKERS: "2", PARRHESIA_PORT: "0" })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/"workers" \(2 processes\) needs the postgres store.*workers 1/)
  })

  it("stops with exit 1, naming the worker, when workers fail during start-up (no restart loop)", async () => {
    const r = await runCli(["serve"], {
      PARRHESIA_STORE: "postgres",
      PARRHESIA_WORKERS: "2",
      PARRHESIA_PORT: "0",
      PARRHESIA_DATABASE_URL: "postgres://nobody:secret@127.0.0.1:9/none"
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/parrhesia: storage: cannot connect to PostgreSQL/)
    expect(r.stderr).toMatch(/parrhesia: workers: worker \d ended during start-up \(exit code 1\)/)
    expect(r.stderr).not.toMatch(/restarting it/)
  }, 30_000)

  it("refuses a workers value that is neither a count nor auto", async () => {
    const r = await runCli(["serve"], { PARRHESIA_STORE: "memory", PARRHESIA_WORKERS: "two", PARRHESIA_PORT: "0" })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/setting "workers" must be a number from 1 to 999 or "auto", got "two"/)
  })
})
