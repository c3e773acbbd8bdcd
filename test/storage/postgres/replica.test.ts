/**
 * `readDatabaseUrl` against a real streaming replica (test/support/replica.ts):
 * a relay process with its store on the primary reads REQ and COUNT from the
 * replica — with replay paused on the replica, a new event is acknowledged and
 * on the primary (and seen by the NIP-86 management API, which reads the
 * primary) but REQ and COUNT do not see it until replay resumes. Also: the
 * start-up refusals, and the replica lag gauge in /metrics.
 */
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Relay, useWebSocketImplementation } from "nostr-tools/relay"
import WebSocket from "ws"
import { Effect } from "effect"
import { loadSettings } from "../../../src/config/RelayConfig.ts"
import type { NostrEvent } from "../../../src/nostr/index.ts"
import { freePort } from "../../../src/storage/postgres/EmbeddedPostgres.ts"
import { makeEvent, newKey } from "../../support/nostr.ts"
import { rpc } from "../../support/nip98.ts"
import { runCli, startRelayProcess, type CliRun, type RelayProcess } from "../../support/processes.ts"
import { startPrimaryWithReplica, type PrimaryWithReplica } from "../../support/replica.ts"

useWebSocketImplementation(WebSocket)

const now = () => Math.floor(Date.now() / 1000)

describe("postgres: reads from a streaming replica (readDatabaseUrl)", () => {
  let pr: PrimaryWithReplica | undefined
  let relay: RelayProcess | undefined
  let client: Relay | undefined
  const admin = newKey()
  const env = () => ({
    PARRHESIA_STORE: "postgres",
    PARRHESIA_DATABASE_URL: pr!.primary.url,
    PARRHESIA_DATA_DIR: join(pr!.dir, "relay"),
    PARRHESIA_ADMIN_PUBKEYS: admin.pk
  })

  // A relay whose replica does not answer, started alongside the good one (it must refuse to start).
  let unreachable: { port: number; run: Promise<CliRun> } | undefined

  beforeAll(async () => {
    const t0 = performance.now()
    pr = await startPrimaryWithReplica()
    const t1 = performance.now()
    // The hot window off: with it, the newest events are answered from memory, fresher than any
    // replica, and this suite checks which database REQ and COUNT go to.
    relay = await startRelayProcess({ ...env(), PARRHESIA_READ_DATABASE_URL: pr.replicaUrl, PARRHESIA_HOT_WINDOW_BYTES: "0" })
    // Started once the first relay has migrated the database (two first starts at once race on creating partitions).
    const port = await freePort()
    unreachable = {
      port,
      run: runCli(["serve"], { ...env(), PARRHESIA_READ_DATABASE_URL: `postgres://reader:hunter2@127.0.0.1:${port}/parrhesia`, PARRHESIA_HOST: "127.0.0.1", PARRHESIA_PORT: "0" })
    }
    client = await Relay.connect(relay.url)
    console.log(`primary + replica up in ${(t1 - t0).toFixed(0)} ms, relay in ${(performance.now() - t1).toFixed(0)} ms`)
  }, 60_000)

  afterAll(async () => {
    await unreachable?.run
    client?.close()
    await relay?.stop()
    await pr?.stop()
  }, 30_000)

  const req = (ids: ReadonlyArray<string>) =>
    new Promise<Array<string>>((resolve) => {
      const got: Array<string> = []
      const sub = client!.subscribe([{ ids: [...ids] }], {
        onevent: (e) => got.push(e.id),
        oneose: () => {
          sub.close()
          resolve(got)
        }
      })
    })
  const publish = (e: NostrEvent) => client!.publish({ ...e, tags: e.tags.map((t) => [...t]) })
  const count = (ids: ReadonlyArray<string>) => client!.count([{ ids: [...ids] }], {})
  const onPrimary = async (id: string) =>
    Number((await pr!.onPrimary<{ n: number }>(`SELECT count(*)::integer AS n FROM events WHERE id = decode($1, 'hex')`, [id]))[0]!.n)

  it("answers REQ and COUNT on the replica's read connections; replica lag is small", async () => {
    const lags: Array<number> = []
    const ids: Array<string> = []
    for (let i = 0; i < 5; i++) {
      const e = makeEvent({ kind: 1, created_at: now(), content: `replicated ${i}` })
      await publish(e)
      lags.push(await pr!.waitForReplay())
      ids.push(e.id)
    }
    console.log(`replica replay after OK: ${lags.map((l) => l.toFixed(1)).join(", ")} ms`)
    expect((await req(ids)).sort()).toEqual([...ids].sort())
    expect(await count(ids)).toBe(ids.length)
    const onReplica = await pr!.onReplica<{ n: number }>(
      `SELECT count(*)::integer AS n FROM pg_stat_activity WHERE application_name = 'parrhesia-read'`
    )
    expect(onReplica[0]!.n).toBeGreaterThan(0)
    const onPrim = await pr!.onPrimary<{ n: number }>(
      `SELECT count(*)::integer AS n FROM pg_stat_activity WHERE application_name = 'parrhesia-read'`
    )
    expect(onPrim[0]!.n).toBe(0)
  })

  it("with replay paused, an acknowledged event is on the primary but not in REQ/COUNT until replay resumes", async () => {
    await pr!.onReplica(`SELECT pg_wal_replay_pause()::text`)
    try {
      for (let i = 0; i < 200; i++) {
        const s = await pr!.onReplica<{ s: string }>(`SELECT pg_get_wal_replay_pause_state() AS s`)
        if (s[0]!.s === "paused") break
        await new Promise((r) => setTimeout(r, 10))
      }
      const target = makeEvent({ kind: 1, created_at: now(), content: "behind the replica" })
      const report = makeEvent({ kind: 1984, created_at: now(), content: "spam", tags: [["e", target.id, "spam"]] })
      await publish(target)
      await publish(report)
      expect(await onPrimary(target.id)).toBe(1)
      // The management API reads the primary (FreshReads): it sees the report the replica has not replayed.
      const pending = await rpc(`http://127.0.0.1:${relay!.port}/`, admin, "listeventsneedingmoderation")
      expect((pending.body.result as Array<{ id: string }>).map((r) => r.id)).toContain(target.id)
      // REQ and COUNT read the replica: not there yet.
      expect(await req([target.id])).toEqual([])
      expect(await count([target.id])).toBe(0)
      // Lag shows while paused.
      const lag = await pr!.onReplica<{ behind: boolean }>(`SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn() AS behind`)
      expect(lag[0]!.behind).toBe(true)

      await pr!.onReplica(`SELECT pg_wal_replay_resume()::text`)
      await pr!.waitForReplay()
      expect(await req([target.id])).toEqual([target.id])
      expect(await count([target.id])).toBe(1)
    } finally {
      await pr!.onReplica(`SELECT pg_wal_replay_resume()::text`).catch(() => undefined)
    }
  })

  it("exposes parrhesia_replica_lag_seconds in /metrics", async () => {
    const text = await (await fetch(`http://127.0.0.1:${relay!.port}/metrics`)).text()
    const m = /^parrhesia_replica_lag_seconds (\S+)$/m.exec(text)
    expect(m).not.toBeNull()
    expect(Number(m![1])).toBeGreaterThanOrEqual(0)
  })

  it("refuses readDatabaseUrl without databaseUrl (the embedded server has no replicas) or with the memory store", () => {
    const refused = (env: Record<string, string>) => Effect.runSync(Effect.flip(loadSettings({ env }))).message
    const read = { PARRHESIA_READ_DATABASE_URL: "postgres://u:secret@127.0.0.1:1/db" }
    expect(refused({ ...read, PARRHESIA_STORE: "postgres" })).toMatch(/"readDatabaseUrl" \(a read replica\) needs "databaseUrl"/)
    expect(refused({ ...read, PARRHESIA_STORE: "memory" })).toMatch(/"readDatabaseUrl" \(a read replica\) needs the postgres store/)
    expect(refused({ ...read, DATABASE_URL: "postgres://p@127.0.0.1/db", PARRHESIA_READ_DATABASE_URL: "mysql://x" })).toMatch(/"readDatabaseUrl" must be a postgres:\/\/ URL/)
    expect(Effect.runSync(loadSettings({ env: { ...read, DATABASE_URL: "postgres://p@127.0.0.1/db" } })).readDatabaseUrl).toBe(read.PARRHESIA_READ_DATABASE_URL)
  })

  it("a relay whose replica does not answer refuses to start, naming the URL without its password", async () => {
    const r = await unreachable!.run
    expect(r.code).not.toBe(0)
    const out = r.stdout + r.stderr
    expect(out).toContain(`cannot connect to the read replica (setting readDatabaseUrl) at postgres://reader:***@127.0.0.1:${unreachable!.port}/parrhesia`)
    expect(out).not.toContain("hunter2")
  })
})
