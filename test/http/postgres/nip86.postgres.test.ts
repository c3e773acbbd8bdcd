import { describe, expect, it } from "vitest"
import { storeFromConfig } from "../../../src/storage/layer.ts"
import { newKey } from "../../support/nostr.ts"
import { rpc } from "../../support/nip98.ts"
import { usePostgresDatabase } from "../../support/postgres.ts"
import { startRelay } from "../../support/relay.ts"
import { connect, now, publish } from "../../support/ws.ts"
import { makeEvent } from "../../support/nostr.ts"
import { nip86Suite } from "../nip86.suite.ts"

const db = usePostgresDatabase()
const start = (overrides: Parameters<typeof startRelay>[0] = {}) =>
  startRelay({ ...overrides, store: "postgres", databaseUrl: db.url() }, { stores: storeFromConfig })

nip86Suite("postgres", start)

describe("NIP-86 changes survive a restart (postgres)", () => {
  it("keeps bans, kinds and relay information", async () => {
    const admin = newKey()
    const banned = newKey()
    const first = await start({ adminPubkeys: [admin.pk] })
    for (const [m, p] of [["banpubkey", [banned.pk, "spam"]], ["disallowkind", [9]], ["changerelayname", ["Persistent"]]] as const) {
      expect((await rpc(first.httpUrl, admin, m, p)).body).toEqual({ result: true })
    }
    await first.close()
    const second = await start({ adminPubkeys: [admin.pk] })
    try {
      const doc = (await (await fetch(second.httpUrl, { headers: { accept: "application/nostr+json" } })).json()) as { name: string }
      expect(doc.name).toBe("Persistent")
      expect((await rpc(second.httpUrl, admin, "listbannedpubkeys")).body.result).toEqual(expect.arrayContaining([{ pubkey: banned.pk, reason: "spam" }]))
      const c = await connect(second.url)
      expect((await publish(c, makeEvent({ created_at: now() }, banned))).message).toMatch(/^blocked: /)
      expect((await publish(c, makeEvent({ kind: 9, created_at: now() }))).message).toMatch(/^blocked: /)
      await c.close()
    } finally {
      await second.close()
    }
  })
})
