/**
 * Several relay processes on one PostgreSQL database form one relay: a
 * subscriber on either process gets every event published on the other,
 * exactly once, stored or ephemeral, small or over PostgreSQL's 8,000-byte
 * notification limit in bytes (sent in pieces); a subscriber on the publishing
 * process is not served twice. Stored events travel only with the commit that
 * stored them (the store's writer notifies; Fanout puts only ephemeral events
 * on the bus), so their arrival on the other process proves that path.
 */
import { bytesToHex } from "@noble/hashes/utils.js"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runBenchCli } from "../../src/client/bench.ts"
import { makeEvent, newKey } from "../support/nostr.ts"
import { usePostgresDatabase } from "../support/postgres.ts"
import { runCli, startRelayProcess, type RelayProcess } from "../support/processes.ts"
import { connect, logged, nextEvent, now, publish, publishOk, req, type RawClient } from "../support/ws.ts"

const db = usePostgresDatabase()

const adminKey = newKey()

/** Publishes fresh events of `key` on `c` until the answer matches `want` (the other process follows a change within moments). */
const publishUntil = async (c: RawClient, key: ReturnType<typeof newKey>, want: RegExp) => {
  let last = ""
  for (let i = 0; i < 100; i++) {
    const r = await publish(c, makeEvent({ created_at: now(), content: `attempt ${i}` }, key))
    last = r.accepted ? "accepted" : r.message
    if (want.test(last)) return last
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return last
}

describe("processes sharing one PostgreSQL database (ClusterBus over LISTEN/NOTIFY)", () => {
  let a: RelayProcess
  let b: RelayProcess
  beforeAll(async () => {
    const env = { PARRHESIA_STORE: "postgres", PARRHESIA_DATABASE_URL: db.url(), PARRHESIA_ADMIN_PUBKEYS: adminKey.pk }
    // One after the other: the first applies the migrations.
    a = await startRelayProcess(env)
    b = await startRelayProcess(env)
  })
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
  })

  it("delivers what is published on one process to subscribers on both, once each", async () => {
    const key = newKey()
    const subs: Array<RawClient> = []
    for (const r of [a, b, a, b]) {
      const c = await connect(r.url)
      await req(c, "live", { authors: [key.pk], since: now() - 60 })
      subs.push(c)
    }
    const pubA = await connect(a.url)
    const pubB = await connect(b.url)
    const stored = Array.from({ length: 10 }, (_, i) => makeEvent({ created_at: now(), content: `n${i}` }, key))
    const ephemeral = makeEvent({ kind: 20001, created_at: now(), content: "ephemeral" }, key)
    const big = makeEvent({ created_at: now(), content: "x".repeat(20_000) }, key)
    const big60 = makeEvent({ created_at: now(), content: "y".repeat(60_000) }, key)
    // Over the limit and never stored: only pieces can carry them (nothing to read back).
    const ephemeral20 = makeEvent({ kind: 20002, created_at: now(), content: "é".repeat(10_000) }, key)
    const ephemeral60 = makeEvent({ kind: 20003, created_at: now(), content: "z".repeat(60_000) }, key)
    // Under the limit in characters, over it in bytes (3 bytes each in UTF-8).
    const wide = makeEvent({ created_at: now(), content: "€".repeat(4000) }, key)
    for (const [i, e] of stored.entries()) await publishOk(i % 2 === 0 ? pubA : pubB, e)
    await publishOk(pubB, ephemeral)
    await publishOk(pubA, big)
    await publishOk(pubB, wide)
    await publishOk(pubA, big60)
    await publishOk(pubA, ephemeral20)
    await publishOk(pubA, ephemeral60)
    const all = [...stored, ephemeral, big, wide, big60, ephemeral20, ephemeral60].map((e) => e.id).sort()
    for (const s of subs) {
      const got: Array<string> = []
      for (let i = 0; i < all.length; i++) got.push((await nextEvent(s, "live", 10_000)).id)
      expect(got.sort()).toEqual(all)
    }
    // Nothing twice: a marker published last arrives next, with no extra copy before it.
    const marker = makeEvent({ created_at: now(), content: "marker" }, key)
    await publishOk(pubB, marker)
    for (const s of subs) {
      expect((await nextEvent(s, "live", 10_000)).id).toBe(marker.id)
      expect(logged(s, "EVENT", "live")).toHaveLength(all.length + 1)
    }
    for (const c of [...subs, pubA, pubB]) await c.close()
  })

  it("a NIP-86 change made on one process holds on the others", async () => {
    const spammer = newKey()
    const sk = { PARRHESIA_ADMIN_SECRET_KEY: bytesToHex(adminKey.sk) }
    const ban = await runCli(["admin", "banpubkey", spammer.pk, "spam", "--url", a.url], sk)
    expect(ban.code, ban.stderr).toBe(0)
    const onA = await connect(a.url)
    const onB = await connect(b.url)
    expect((await publish(onA, makeEvent({ created_at: now() }, spammer))).message).toMatch(/^blocked: /)
    expect(await publishUntil(onB, spammer, /^blocked: /)).toMatch(/^blocked: this pubkey is banned/)
    const unban = await runCli(["admin", "unbanpubkey", spammer.pk, "--url", b.url], sk)
    expect(unban.code, unban.stderr).toBe(0)
    expect(await publishUntil(onA, spammer, /^accepted$/)).toBe("accepted")
    await onA.close()
    await onB.close()
  }, 30_000)

  it("carries a fanout load across processes: 200 subscribers on one, the publisher on the other", async () => {
    let out = ""
    const code = await runBenchCli([a.url, "--scenarios", "fanout", "--rate", "50", "--seconds", "2", "--events", "10", "--cache", "", "--publish-to", b.url], {}, {
      out: (x) => void (out += x),
      err: () => {}
    })
    expect(code).toBe(0)
    const r = JSON.parse(out.split("\n")[0]!)
    expect(r.fanout).toMatchObject({ publishedTo: b.url, subscribers: 200, duplicates: 0, lost: 0 })
    expect(r.fanout.delivered).toBe(r.fanout.expected)
  }, 60_000)
})
