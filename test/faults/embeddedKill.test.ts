/**
 * Fault: the embedded PostgreSQL's postmaster is SIGKILLed (a crash, an OOM
 * kill) while clients publish, with one relay process and with two workers.
 * The supervisor must start it again (WAL recovery): every acknowledged event
 * is still stored, the publishers' sockets stay open, refusals in between are
 * `error:` answers, /ready is 200 again within 10 s of the kill, and LISTEN
 * resumed in every process (a new event reaches subscribers on each). Without
 * the supervisor nothing restarts the server and /ready never comes back.
 * A server that dies again right after each start is restarted ever later
 * (500 ms, 1 s, 2 s, ... 30 s), logged and counted.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { embeddedUrl, get, httpOf, missingInDb, postmasterPid, readyAgain, startLoad } from "../support/faults.ts"
import { makeEvent, newKey } from "../support/nostr.ts"
import { startRelayProcess, type RelayProcess } from "../support/processes.ts"
import { childPids, serverPidOf } from "../support/sockets.ts"
import { connect, nextEvent, now, publish, req, within, type RawClient } from "../support/ws.ts"

describe("fault: the embedded PostgreSQL is SIGKILLed under publishing load", () => {
  let dir = ""
  let relay: RelayProcess | undefined
  afterEach(async () => {
    await relay?.stop()
    relay = undefined
    if (dir !== "") rmSync(dir, { recursive: true, force: true })
  })

  const killAndRecover = async (workers: number) => {
    dir = mkdtempSync(join(tmpdir(), "parrhesia-fault-kill-"))
    relay = await startRelayProcess({ PARRHESIA_STORE: "postgres", PARRHESIA_DATA_DIR: dir, PARRHESIA_WORKERS: String(workers) })
    // Live subscribers on every relay process (round-robin: connect until each one holds one).
    const pids = workers > 1 ? childPids(relay.child.pid!, "main.ts") : [relay.child.pid!]
    const marker = newKey()
    const subscribers = new Map<number, RawClient>()
    for (let i = 0; i < 20 && subscribers.size < pids.length; i++) {
      const c = await connect(relay.url)
      const pid = serverPidOf(c, relay.port, pids)
      if (pid === undefined || subscribers.has(pid)) await c.close()
      else {
        expect((await req(c, "live", { authors: [marker.pk], limit: 0 })).end.type).toBe("EOSE")
        subscribers.set(pid, c)
      }
    }
    expect(subscribers.size).toBe(pids.length)
    const load = await startLoad(relay.url, { sockets: 2 * workers + 1 })
    await load.ackedMore(100)

    const killed = performance.now()
    process.kill(postmasterPid(dir), "SIGKILL")
    const ready = await readyAgain(relay.url, killed, { timeoutMs: 15_000, inARow: 2 * workers })
    await load.ackedMore(100)
    await load.stop()

    // LISTEN resumed in every process: an event stored after the restart reaches every subscriber.
    await within(
      (async () => {
        while ((relay!.output().match(/cluster bus: listening again/g) ?? []).length < pids.length) await new Promise((r) => setTimeout(r, 50))
      })(),
      15_000,
      "every process's cluster bus to listen again"
    )
    const publisher = await connect(relay.url)
    const after = makeEvent({ created_at: now(), content: "after the restart" }, marker)
    expect(await publish(publisher, after)).toEqual({ accepted: true, message: "" })
    for (const s of subscribers.values()) expect((await nextEvent(s, "live", 10_000)).id).toBe(after.id)
    for (const c of [publisher, ...subscribers.values()]) await c.close()

    const restarts = /parrhesia_store_restarts_total (\d+)/.exec((await get(httpOf(relay.url), "/metrics")).body)
    console.log(
      `[fault] embedded SIGKILL, ${workers} process(es): ready again after ${Math.round(ready.ms)} ms (503 seen: ${ready.saw503}); ` +
        `${load.acked.size} acknowledged, ${load.refused.length} refused, slowest OK ${Math.round(load.slowestMs())} ms`
    )
    expect(ready.ms).toBeLessThan(10_000)
    expect(load.closed()).toBe(0)
    expect(load.unanswered()).toBe(0)
    for (const r of load.refused) expect(r.message).toMatch(/^error: /)
    expect(await missingInDb(embeddedUrl(dir), load.acked)).toEqual([])
    expect(relay.output()).toMatch(/the embedded PostgreSQL \(pid \d+\) ended \(signal SIGKILL\)/)
    expect(relay.output()).toMatch(/the embedded PostgreSQL is back/)
    // With workers the primary restarted it and told the worker that answered /metrics.
    expect(Number(restarts?.[1])).toBe(1)
  }

  it("one process: restarted, nothing acknowledged is lost, sockets stay open, ready within 10 s", () => killAndRecover(1), 60_000)
  it("two workers: the primary restarts it, the workers ride through", () => killAndRecover(2), 60_000)

  it("a crash loop (it dies again right after each start) is backed off and reported, never spun", async () => {
    dir = mkdtempSync(join(tmpdir(), "parrhesia-fault-loop-"))
    relay = await startRelayProcess({ PARRHESIA_STORE: "postgres", PARRHESIA_DATA_DIR: dir })
    const load = await startLoad(relay.url, { sockets: 1 })
    await load.ackedMore(20)
    // Kill the first server, then each new one as soon as it accepts connections: three deaths in a row.
    const killed: Array<number> = []
    const start = performance.now()
    let reasons: Array<string> = []
    while (killed.length < 3) {
      let pid = 0
      try {
        pid = postmasterPid(dir, { ready: true })
      } catch {
        /* between two servers */
      }
      if (pid > 0 && !killed.includes(pid)) {
        try {
          process.kill(pid, "SIGKILL")
          killed.push(pid)
        } catch {
          /* a stale file */
        }
      }
      const r = await get(httpOf(relay!.url), "/ready").catch(() => undefined)
      if (r?.status === 503) reasons.push((JSON.parse(r.body) as { reason: string }).reason)
      await new Promise((r) => setTimeout(r, 20))
    }
    const lastKill = performance.now()
    const ready = await readyAgain(relay.url, lastKill, { timeoutMs: 20_000 })
    reasons = [...new Set([...reasons, ...ready.reasons])]
    await load.ackedMore(20)
    await load.stop()
    const delays = [...relay.output().matchAll(/; restarting it in (\d+) ms/g)].map((m) => Number(m[1]))
    console.log(`[fault] embedded crash loop: delays ${delays.join(", ")} ms, ready ${Math.round(ready.ms)} ms after the last kill (${Math.round(lastKill - start)} ms of kills)`)
    expect(delays).toEqual([500, 1000, 2000])
    expect(relay.output()).toMatch(/failure 3 in a row: backing off/)
    expect(reasons.some((r) => /ended \(signal SIGKILL\)|restarting/.test(r))).toBe(true)
    expect(ready.ms).toBeLessThan(10_000)
    expect(Number(/parrhesia_store_restarts_total (\d+)/.exec((await get(httpOf(relay.url), "/metrics")).body)?.[1])).toBe(3)
    expect(load.closed()).toBe(0)
    expect(load.unanswered()).toBe(0)
    for (const r of load.refused) expect(r.message).toMatch(/^error: /)
    expect(await missingInDb(embeddedUrl(dir), load.acked)).toEqual([])
  }, 60_000)
})
