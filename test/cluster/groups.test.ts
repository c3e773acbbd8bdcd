/**
 * NIP-29 groups across relay processes on one PostgreSQL database: a change
 * made on one process (creation, flags, membership, invites, a NIP-86 call)
 * holds on the other, as moderation does (the group store notifies the
 * scopes it changed; each process reloads them). The other process learns of
 * a change within moments, so a check retries until it holds.
 */
import { bytesToHex } from "@noble/hashes/utils.js"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { authenticate } from "../support/auth.ts"
import { makeEvent, newKey, type Key } from "../support/nostr.ts"
import { usePostgresDatabase } from "../support/postgres.ts"
import { runCli, startRelayProcess, type RelayProcess } from "../support/processes.ts"
import { connect, now, publish, publishOk, req, type RawClient } from "../support/ws.ts"

const db = usePostgresDatabase()
const adminKey = newKey()
const relayKey = newKey()

let n = 0
const ev = (key: Key, kind: number, group: string, tags: ReadonlyArray<ReadonlyArray<string>> = []) =>
  makeEvent({ kind, created_at: now(), content: `#${++n}`, tags: [["h", group], ...tags] }, key)

/** Publishes fresh events made by `make` until the answer matches `want` (the other process follows within moments). */
const until = async (c: RawClient, make: () => ReturnType<typeof makeEvent>, want: RegExp) => {
  let last = ""
  for (let i = 0; i < 100; i++) {
    const r = await publish(c, make())
    last = r.accepted ? `accepted ${r.message}`.trim() : r.message
    if (want.test(last)) return last
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return last
}

describe("NIP-29 groups across processes sharing one PostgreSQL database", () => {
  let a: RelayProcess
  let b: RelayProcess
  const clients: Array<RawClient> = []
  const as = async (r: RelayProcess, key: Key) => {
    const c = await connect(r.url)
    clients.push(c)
    await authenticate(c, r.url, key)
    return c
  }
  beforeAll(async () => {
    const env = {
      PARRHESIA_STORE: "postgres",
      PARRHESIA_DATABASE_URL: db.url(),
      PARRHESIA_ADMIN_PUBKEYS: adminKey.pk,
      PARRHESIA_RELAY_SECRET_KEY: bytesToHex(relayKey.sk)
    }
    // One after the other: the first applies the migrations.
    a = await startRelayProcess(env)
    b = await startRelayProcess(env)
  })
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()))
    await Promise.all([a?.stop(), b?.stop()])
  })

  it("a group made and changed on one process holds on the other, both ways", async () => {
    const owner = newKey()
    const member = newKey()
    const outsider = newKey()
    const onA = await as(a, owner)
    const onB = await as(b, owner)
    const id = `cluster-${process.pid}`
    await publishOk(onA, ev(owner, 9007, id))
    // B knows the group and its admin: the owner's edit made on B is applied.
    expect(await until(onB, () => ev(owner, 9002, id, [["name", "Cluster"], ["restricted"], ["private"]]), /^accepted/)).toBe("accepted")
    // A follows B's edit: restricted and private there too.
    expect(await until(onA, () => ev(outsider, 9, id), /^restricted: /)).toMatch(/^restricted: only members/)
    // A member put on A may write on B.
    await publishOk(onA, ev(owner, 9000, id, [["p", member.pk]]))
    const memberOnB = await as(b, member)
    expect(await until(memberOnB, () => ev(member, 9, id), /^accepted/)).toBe("accepted")
    // Private: read by the member on either process, not by the outsider.
    const outsiderOnA = await as(a, outsider)
    expect((await req(outsiderOnA, "r", { kinds: [9], "#h": [id] })).end).toEqual({ type: "CLOSED", message: expect.stringMatching(/^restricted: /) })
    const memberOnA = await as(a, member)
    expect((await req(memberOnA, "r", { kinds: [9], "#h": [id] })).events.length).toBeGreaterThan(0)
    // The relay-signed state made on either process carries the relay's one key.
    const meta = (await req(memberOnA, "m", { kinds: [39000], "#d": [id] })).events
    expect(meta.map((e) => e.pubkey)).toEqual([relayKey.pk])
    expect(meta[0]!.tags).toContainEqual(["name", "Cluster"])

    // An invite made on B lets a join on A into the now closed group; the code works once per joiner.
    await publishOk(onB, ev(owner, 9002, id, [["name", "Cluster"], ["restricted"], ["private"], ["closed"]]))
    await publishOk(onB, ev(owner, 9009, id, [["code", "cluster-code"]]))
    const joiner = newKey()
    const joinerOnA = await connect(a.url)
    clients.push(joinerOnA)
    expect(await until(joinerOnA, () => ev(joiner, 9021, id, [["code", "cluster-code"]]), /^accepted|^duplicate/)).toBe("accepted")
    expect((await publish(joinerOnA, ev(joiner, 9021, id))).message).toMatch(/^duplicate: /)
  }, 60_000)

  it("NIP-86 group calls made on one process hold on the other", async () => {
    const owner = newKey()
    const helper = newKey()
    const onA = await as(a, owner)
    const id = `ops-${process.pid}`
    await publishOk(onA, ev(owner, 9007, id))
    const sk = { PARRHESIA_ADMIN_SECRET_KEY: bytesToHex(adminKey.sk) }
    const added = await runCli(["admin", "addgroupadmin", id, helper.pk, "--url", b.url], sk)
    expect(added.code, added.stderr).toBe(0)
    // The new admin acts on A.
    const helperOnA = await as(a, helper)
    expect(await until(helperOnA, () => ev(helper, 9002, id, [["name", "Renamed"]]), /^accepted/)).toBe("accepted")
    const listed = await runCli(["admin", "listgroups", "--url", a.url], sk)
    expect(listed.stdout).toContain(`"id":"${id}"`)
    expect(listed.stdout).toContain("Renamed")
    const deleted = await runCli(["admin", "deletegroup", id, "--url", b.url], sk)
    expect(deleted.code, deleted.stderr).toBe(0)
    expect(await until(onA, () => ev(owner, 9, id), /^invalid: /)).toMatch(/no group/)
  }, 60_000)
})
