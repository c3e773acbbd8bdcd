/**
 * `parrhesia admin` as a child process against a relay started in-process:
 * signed calls succeed and print their result; refusals exit non-zero with
 * the relay's reason.
 */
import { spawn } from "node:child_process"
import { join } from "node:path"
import { bytesToHex } from "@noble/hashes/utils.js"
import { nip19 } from "nostr-tools"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { decodeNsec } from "../../src/client/admin.ts"
import { newKey } from "../support/nostr.ts"
import { startRelay, type TestRelay } from "../support/relay.ts"
import { connect, now, publish } from "../support/ws.ts"
import { makeEvent } from "../support/nostr.ts"

const MAIN = join(import.meta.dirname, "../../src/main.ts")

const admin = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PARRHESIA_")))
    const child = spawn(process.execPath, [MAIN, "admin", ...args], { env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (err += d))
    const t = setTimeout(() => child.kill("SIGKILL"), 30_000)
    child.once("exit", (code) => {
      clearTimeout(t)
      resolve({ code, out, err })
    })
  })

const key = newKey()
let relay: TestRelay
beforeAll(async () => {
  relay = await startRelay({ adminPubkeys: [key.pk] })
})
afterAll(() => relay.close())

describe("parrhesia admin", { timeout: 60_000 }, () => {
  it("bans a pubkey with a hex key over the ws:// URL, lists it with an nsec over http://, and the ban holds", async () => {
    const target = newKey()
    const ban = await admin(["banpubkey", target.pk, "spam", "--url", relay.url], { PARRHESIA_ADMIN_SECRET_KEY: bytesToHex(key.sk) })
    expect(ban).toMatchObject({ code: 0, out: "true\n" })
    const list = await admin(["listbannedpubkeys"], { PARRHESIA_ADMIN_SECRET_KEY: nip19.nsecEncode(key.sk), PARRHESIA_URL: relay.httpUrl })
    expect(list.code).toBe(0)
    expect(list.out.trim().split("\n").map((l) => JSON.parse(l))).toEqual([{ pubkey: target.pk, reason: "spam" }])
    const c = await connect(relay.url)
    expect((await publish(c, makeEvent({ created_at: now() }, target))).message).toMatch(/^blocked: /)
    await c.close()
    const kinds = await admin(["allowkind", "1", "--url", relay.url], { PARRHESIA_ADMIN_SECRET_KEY: bytesToHex(key.sk) })
    expect(kinds.code).toBe(0)
  })

  it("exits non-zero with the reason: not an admin, bad params, no key, unreachable", async () => {
    const stranger = await admin(["listbannedpubkeys", "--url", relay.url], { PARRHESIA_ADMIN_SECRET_KEY: bytesToHex(newKey().sk) })
    expect(stranger.code).toBe(1)
    expect(stranger.err).toMatch(/HTTP 403.*not an administrator/)
    const bad = await admin(["banpubkey", "nothex", "--url", relay.url], { PARRHESIA_ADMIN_SECRET_KEY: bytesToHex(key.sk) })
    expect(bad.code).toBe(1)
    expect(bad.err).toMatch(/64 hex/)
    const noKey = await admin(["supportedmethods", "--url", relay.url], {})
    expect(noKey.code).toBe(2)
    expect(noKey.err).toMatch(/PARRHESIA_ADMIN_SECRET_KEY/)
    const badKey = await admin(["supportedmethods", "--url", relay.url], { PARRHESIA_ADMIN_SECRET_KEY: "nsec1qqqq" })
    expect(badKey.code).toBe(2)
    const down = await admin(["supportedmethods", "--url", "http://127.0.0.1:1"], { PARRHESIA_ADMIN_SECRET_KEY: bytesToHex(key.sk) })
    expect(down.code).toBe(3)
    expect(down.err).toMatch(/cannot reach/)
  })

  it("reaches the NIP-43 membership methods", async () => {
    const withMembers = await startRelay({ adminPubkeys: [key.pk], nip43: true })
    try {
      const env = { PARRHESIA_ADMIN_SECRET_KEY: bytesToHex(key.sk), PARRHESIA_URL: withMembers.httpUrl }
      const member = newKey().pk
      expect(await admin(["addmember", member], env)).toMatchObject({ code: 0, out: "true\n" })
      expect(JSON.parse((await admin(["listmembers"], env)).out)).toEqual({ pubkey: member, roles: [], listed: null })
      expect((await admin(["createinvite"], env)).out).toMatch(/^"[\w-]+"\n$/)
    } finally {
      await withMembers.close()
    }
  })

  it("decodes nsec keys exactly as nostr-tools encodes them, and refuses a bad checksum", () => {
    for (let i = 0; i < 20; i++) {
      const k = newKey()
      expect(bytesToHex(decodeNsec(nip19.nsecEncode(k.sk)))).toBe(bytesToHex(k.sk))
    }
    const good = nip19.nsecEncode(key.sk)
    const broken = good.slice(0, -1) + (good.endsWith("q") ? "p" : "q")
    expect(() => decodeNsec(broken)).toThrow(/checksum/)
  })
})
