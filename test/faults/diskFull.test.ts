/**
 * Fault: the database's disk is full. The embedded PostgreSQL's data folder
 * is on a small tmpfs mounted by the test, which then fills the rest of it.
 * EVENTs must be refused with `error:` (the database's own "No space left on
 * device"), nothing acknowledged lost, /ready 503 naming it while /health
 * stays ok, the relay never exits, and writes resume by themselves once space
 * is freed, whether or not clients write meanwhile (a rolled-back probe write
 * finds out). Mounting needs root (CI runs as root); elsewhere the test is
 * skipped and says why.
 */
import { execFileSync } from "node:child_process"
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { embeddedUrl, get, httpOf, missingInDb, notReady, readyAgain, sleep, startLoad } from "../support/faults.ts"
import { startRelayProcess, type RelayProcess } from "../support/processes.ts"

const mount = (dir: string, size: string) => execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", dir], { stdio: "pipe" })
const umount = (dir: string) => execFileSync("umount", ["-l", dir], { stdio: "pipe" })

/** Why a tmpfs cannot be mounted here (undefined: it can). */
const cannotMount = (): string | undefined => {
  const probe = mkdtempSync(join(tmpdir(), "parrhesia-mount-probe-"))
  try {
    mount(probe, "1m")
    umount(probe)
    return undefined
  } catch (e) {
    const err = (e as { stderr?: Buffer }).stderr?.toString().trim()
    return `cannot mount a tmpfs here (${err || (e as Error).message}); run as root, as CI does`
  } finally {
    rmSync(probe, { recursive: true, force: true })
  }
}

const skipReason = cannotMount()
if (skipReason !== undefined) console.warn(`[fault] disk full: SKIPPED: ${skipReason}`)

/** Writes zeros to `file` until the filesystem is full. */
const fill = (file: string) => {
  const fd = openSync(file, "w")
  const chunk = Buffer.alloc(1 << 20)
  try {
    for (;;) writeSync(fd, chunk)
  } catch {
    try {
      for (;;) writeSync(fd, chunk.subarray(0, 4096))
    } catch {
      /* full */
    }
  } finally {
    closeSync(fd)
  }
}

describe("fault: the database's disk is full", () => {
  const dir = mkdtempSync(join(tmpdir(), "parrhesia-fault-disk-"))
  let mounted = false
  let relay: RelayProcess | undefined
  afterAll(async () => {
    await relay?.stop()
    if (mounted) umount(dir)
    rmSync(dir, { recursive: true, force: true })
  })

  it.skipIf(skipReason !== undefined)("refuses EVENTs with error:, loses nothing acknowledged, never exits, and writes again once space is freed", async () => {
    // Room for initdb (~42 MB) and some events.
    mount(dir, "96m")
    mounted = true
    const dataDir = join(dir, "data")
    mkdirSync(dataDir)
    relay = await startRelayProcess({ PARRHESIA_STORE: "postgres", PARRHESIA_DATA_DIR: dataDir })
    const load = await startLoad(relay.url, { sockets: 2 })
    await load.ackedMore(100)

    const filled = performance.now()
    fill(join(dir, "filler"))
    const { ms: noticed, reason } = await notReady(relay.url, filled)
    expect(reason).toMatch(/^writes fail: .*No space left on device/)
    expect((await get(httpOf(relay.url), "/health")).status).toBe(200)
    const refusedBefore = load.refused.length
    await sleep(1500)
    expect(load.refused.length).toBeGreaterThan(refusedBefore)
    expect(load.refused.at(-1)!.message).toMatch(/^error: .*No space left on device/)

    // Nobody needs to write for the relay to notice the space is back.
    await load.stop()
    rmSync(join(dir, "filler"))
    const freed = performance.now()
    const ready = await readyAgain(relay.url, freed, { timeoutMs: 30_000 })
    const after = await startLoad(relay.url, { sockets: 1 })
    await after.ackedMore(50)
    await after.stop()
    console.log(
      `[fault] disk full: not ready ${Math.round(noticed)} ms after the disk filled (${load.refused.length} EVENTs refused); ` +
        `ready ${Math.round(ready.ms)} ms after space was freed`
    )
    expect(ready.ms).toBeLessThan(10_000)
    for (const r of [...load.refused, ...after.refused]) expect(r.message).toMatch(/^error: /)
    expect(load.closed() + after.closed()).toBe(0)
    expect(load.unanswered() + after.unanswered()).toBe(0)
    expect(relay.child.exitCode).toBeNull()
    expect(await missingInDb(embeddedUrl(dataDir), [...load.acked, ...after.acked])).toEqual([])
  }, 60_000)
})
