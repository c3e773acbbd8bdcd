/**
 * Fault: with two workers, one dies at once after every start (here: the
 * test SIGKILLs each new process of that slot as soon as it appears, as a
 * crash in start-up code or an OOM right away would). The primary must back
 * off (each restart waits longer than the one before: no spinning) and keep
 * reporting it, while the other worker keeps serving: its clients stay
 * connected and their EVENTs keep being acknowledged.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { missingInDb, embeddedUrl, startLoad } from "../support/faults.ts"
import { startRelayProcess, type RelayProcess } from "../support/processes.ts"
import { childPids, serverPidOf } from "../support/sockets.ts"
import { connect, type RawClient } from "../support/ws.ts"

describe("fault: a worker that dies at once after every start", () => {
  const dir = mkdtempSync(join(tmpdir(), "parrhesia-fault-crashloop-"))
  let relay: RelayProcess | undefined
  afterAll(async () => {
    await relay?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it("is restarted with a growing backoff while the other worker keeps serving", async () => {
    relay = await startRelayProcess({ PARRHESIA_STORE: "postgres", PARRHESIA_WORKERS: "2", PARRHESIA_DATA_DIR: dir })
    const primary = relay.child.pid!
    const [victim, survivor] = childPids(primary, "main.ts") as [number, number]
    // The load runs on the survivor only (round-robin: connect until one lands there).
    let probe: RawClient | undefined
    for (let i = 0; i < 12 && probe === undefined; i++) {
      const c = await connect(relay.url)
      if (serverPidOf(c, relay.port, [survivor]) === survivor) probe = c
      else await c.close()
    }
    expect(probe).toBeDefined()
    await probe!.close()

    // Every process of the victim's slot dies as soon as it exists.
    const killed: Array<number> = []
    const killer = setInterval(() => {
      for (const pid of childPids(primary, "main.ts")) {
        if (pid === survivor || killed.includes(pid)) continue
        killed.push(pid)
        try {
          process.kill(pid, "SIGKILL")
        } catch {
          /* gone already */
        }
      }
    }, 5)
    process.kill(victim, "SIGKILL")
    killed.push(victim)
    const load = await startLoad(relay.url, { sockets: 2 })
    try {
      // Long enough for several restarts: 100 + 200 + 400 + 800 + 1600 ms of backoff, plus each fork.
      const deadline = Date.now() + 15_000
      while (Date.now() < deadline && (relay.output().match(/worker \d \(pid \d+\) ended \(signal SIGKILL\); restarting it in \d+ ms/g) ?? []).length < 6) {
        await load.ackedMore(10)
      }
    } finally {
      clearInterval(killer)
    }
    await load.stop()

    const delays = [...relay.output().matchAll(/worker (\d) \(pid \d+\) ended \(signal SIGKILL\); restarting it in (\d+) ms/g)].map((m) => Number(m[2]))
    console.log(`[fault] worker crash loop: ${killed.length} starts killed, restart delays ${delays.join(", ")} ms; the other worker acknowledged ${load.acked.size}`)
    expect(delays.length).toBeGreaterThanOrEqual(6)
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThan(delays[i - 1]!)
    // The survivor served throughout: its clients stayed, everything acknowledged is stored.
    expect(childPids(primary, "main.ts")).toContain(survivor)
    expect(load.closed()).toBe(0)
    expect(load.unanswered()).toBe(0)
    expect(load.refused).toEqual([])
    expect(await missingInDb(embeddedUrl(dir), load.acked)).toEqual([])
  }, 60_000)
})
