/**
 * `parrhesia sync` between relay processes: one on memory and one on
 * PostgreSQL with overlapping data converge with --both (NIP-77 bridged);
 * a third started empty converges from them; a relay without NIP-77 is
 * compared by REQ windows (split down to its limit); refusals are reported
 * with their reason and exit 1.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeEvent, newKey, T0 } from "../support/nostr.ts"
import { usePostgresDatabase } from "../support/postgres.ts"
import { runCli, startRelayProcess, type RelayProcess } from "../support/processes.ts"
import { publishAll, storedIds } from "../support/ws.ts"
import type { NostrEvent } from "../../src/nostr/index.ts"

const db = usePostgresDatabase()

const sorted = (events: ReadonlyArray<NostrEvent>) => events.map((e) => e.id).sort()
const report = (stdout: string) => JSON.parse(stdout) as {
  method: string
  rounds: number
  converged: boolean
  directions: Array<{ missing: number; accepted: number; refused: Record<string, number> }>
}

describe("parrhesia sync", () => {
  const relays: Array<RelayProcess> = []
  const start = async (env: Record<string, string> = {}) => {
    const r = await startRelayProcess(env)
    relays.push(r)
    return r
  }
  let memory: RelayProcess
  let postgres: RelayProcess
  const key = newKey()
  // Spread over a day, some sharing a second: windows and id-prefix bounds both get exercised.
  const ev = (i: number) => makeEvent({ created_at: T0 + Math.floor(i / 3) * 600, content: `note ${i}` }, key)
  const shared = Array.from({ length: 60 }, (_, i) => ev(i))
  const onlyMemory = Array.from({ length: 25 }, (_, i) => ev(100 + i))
  const onlyPostgres = Array.from({ length: 35 }, (_, i) => ev(200 + i))

  beforeAll(async () => {
    ;[memory, postgres] = await Promise.all([start(), start({ PARRHESIA_STORE: "postgres", PARRHESIA_DATABASE_URL: db.url() })])
    await Promise.all([publishAll(memory.url, [...shared, ...onlyMemory]), publishAll(postgres.url, [...shared, ...onlyPostgres])])
  })
  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()))
  })

  it("makes two relays with different stores converge (--both, over NIP-77)", async () => {
    const run = await runCli(["sync", memory.url, postgres.url, "--both", "--json"])
    expect(run.code, run.stderr).toBe(0)
    const r = report(run.stdout)
    expect(r.method).toBe("negentropy")
    expect(r.converged).toBe(true)
    expect(r.directions.map((d) => [d.missing, d.accepted])).toEqual([
      [25, 25],
      [35, 35]
    ])
    const everything = sorted([...shared, ...onlyMemory, ...onlyPostgres])
    expect(await storedIds(memory.url)).toEqual(everything)
    expect(await storedIds(postgres.url)).toEqual(everything)
    // A second run finds nothing to do.
    const again = report((await runCli(["sync", memory.url, postgres.url, "--both", "--json"])).stdout)
    expect(again.directions.map((d) => d.missing)).toEqual([0, 0])
  })

  it("fills a third, empty relay from them; a filter limits what is compared", async () => {
    const empty = await start()
    const other = newKey()
    const foreign = [makeEvent({ created_at: T0 + 5, kind: 7 }, other), makeEvent({ created_at: T0 + 6, kind: 1 }, other)]
    await publishAll(postgres.url, foreign)
    const onlyKind7 = await runCli(["sync", postgres.url, empty.url, "--filter", JSON.stringify({ kinds: [7] }), "--json"])
    expect(onlyKind7.code, onlyKind7.stderr).toBe(0)
    expect(await storedIds(empty.url)).toEqual([foreign[0]!.id])
    const run = await runCli(["sync", postgres.url, empty.url])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/negentropy: \d+ rounds/)
    expect(run.stdout).toMatch(/in sync/)
    expect(await storedIds(empty.url)).toEqual(await storedIds(postgres.url))
    expect((await storedIds(empty.url)).length).toBe(60 + 25 + 35 + 2)
  })

  it("compares by REQ windows when a relay has no NIP-77, splitting windows to its limit", async () => {
    const plain = await start({ PARRHESIA_NEGENTROPY: "false", PARRHESIA_MAX_LIMIT: "7", PARRHESIA_DEFAULT_LIMIT: "7" })
    const mine = Array.from({ length: 4 }, (_, i) => makeEvent({ created_at: T0 + 50_000 + i, content: `plain ${i}` }, key))
    await publishAll(plain.url, mine)
    const atMemory = (await storedIds(memory.url)).length
    const run = await runCli(["sync", memory.url, plain.url, "--both", "--json"])
    expect(run.code, run.stderr).toBe(0)
    const r = report(run.stdout)
    expect(r.method).toBe("req-windows")
    expect(r.rounds).toBeGreaterThan(atMemory / 7) // at most 7 events a window
    expect(r.directions.map((d) => d.missing)).toEqual([atMemory, 4])
    expect(await storedIds(plain.url, { authors: [key.pk] })).toEqual(await storedIds(memory.url, { authors: [key.pk] }))
    expect(run.stderr).toMatch(/^sync: /m) // the progress line
  })

  it("reports what the destination refused, with its reason, and exits 1", async () => {
    const strict = await start({ PARRHESIA_ALLOWED_KINDS: "1" })
    const source = await start()
    const k = newKey()
    await publishAll(source.url, [makeEvent({ kind: 1 }, k), makeEvent({ kind: 7 }, k), makeEvent({ kind: 7 }, k)])
    const run = await runCli(["sync", source.url, strict.url])
    expect(run.code).toBe(1)
    expect(run.stdout).toMatch(/1 accepted, 2 refused/)
    expect(run.stdout).toMatch(/2 x blocked: /)
    expect(run.stdout).toMatch(/NOT in sync/)
  })

  it("waits out a destination's rate limit instead of counting its refusals", async () => {
    const slow = await start({ PARRHESIA_EVENTS_PER_SECOND_PER_CONNECTION: "40", PARRHESIA_RATE_LIMIT_BURST_SECONDS: "1" })
    const run = await runCli(["sync", memory.url, slow.url, "--json"])
    expect(run.code, run.stderr).toBe(0)
    const r = JSON.parse(run.stdout) as { converged: boolean; directions: Array<{ missing: number; accepted: number; rateLimited: number }> }
    expect(r.converged).toBe(true)
    expect(r.directions[0]!.accepted).toBe(r.directions[0]!.missing)
    expect(r.directions[0]!.rateLimited).toBeGreaterThan(0)
    expect(await storedIds(slow.url)).toEqual(await storedIds(memory.url))
  }, 60_000)

  it("exits 3 naming a relay it cannot reach, and 2 on bad usage", async () => {
    const run = await runCli(["sync", "ws://127.0.0.1:9", memory.url])
    expect(run.code).toBe(3)
    expect(run.stderr).toMatch(/cannot connect to ws:\/\/127\.0\.0\.1:9/)
    expect((await runCli(["sync", memory.url])).code).toBe(2)
    expect((await runCli(["sync", memory.url, "http://x", "--both"])).stderr).toMatch(/not a ws:\/\/ or wss:\/\/ URL/)
    expect((await runCli(["sync", memory.url, memory.url, "--filter", "{nope"])).code).toBe(2)
  })
})
