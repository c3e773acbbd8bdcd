/**
 * `parrhesia sync` against relays that are not ours: an independent NIP-77
 * relay (its responder is @nostr-dev-kit/sync), a relay that answers NEG-OPEN
 * with a NOTICE (compared by REQ instead), and remotes that send garbage,
 * claim NIP-77 and then fail it, or drop the connection mid-session: each is
 * named, and the exit code is 3.
 */
import { Negentropy as TheirNegentropy, NegentropyStorage } from "@nostr-dev-kit/sync"
import { matchFilters } from "nostr-tools/filter"
import { afterEach, describe, expect, it } from "vitest"
import type WebSocket from "ws"
import { runSyncCli } from "../../src/client/syncCli.ts"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { startFakeRelay, type FakeRelay } from "../support/fakeRelay.ts"
import { makeEvent, newKey, T0 } from "../support/nostr.ts"
import { startRelay, type TestRelay } from "../support/relay.ts"
import { connect, publishOk, req } from "../support/ws.ts"

const sync = async (...argv: Array<string>) => {
  let out = ""
  let err = ""
  const code = await runSyncCli(argv, {}, { out: (s) => void (out += s), err: (s) => void (err += s), tty: false })
  return { code, out, err }
}

/** A small relay of its own kind: events in a list, REQ by filter, EVENT stored; NIP-77 by @nostr-dev-kit/sync when `neg`. */
const independentRelay = (events: Array<NostrEvent>, neg: boolean) => {
  const sessions = new Map<string, TheirNegentropy>()
  const send = (ws: WebSocket, f: unknown) => ws.send(JSON.stringify(f))
  return startFakeRelay(
    (f, ws) => {
      if (!Array.isArray(f)) return send(ws, ["NOTICE", "bad frame"])
      if (f[0] === "EVENT") {
        if (!events.some((e) => e.id === f[1].id)) events.push(f[1])
        return send(ws, ["OK", f[1].id, true, ""])
      }
      if (f[0] === "REQ") {
        const [, sub, ...filters] = f
        const limit = Math.min(...filters.map((x: { limit?: number }) => x.limit ?? 500))
        const found = events.filter((e) => matchFilters(filters, e as never)).sort((a, b) => b.created_at - a.created_at).slice(0, limit)
        for (const e of found) send(ws, ["EVENT", sub, e])
        return send(ws, ["EOSE", sub])
      }
      if (f[0] === "CLOSE") return
      if (!neg) return send(ws, ["NOTICE", `ERROR: unknown command ${f[0]}`])
      if (f[0] === "NEG-OPEN") {
        const storage = new NegentropyStorage()
        for (const e of events.filter((e) => matchFilters([f[2]], e as never))) storage.insert(e.created_at, Buffer.from(e.id, "hex"))
        storage.seal()
        sessions.set(f[1], new TheirNegentropy(storage, 20_000))
      }
      const session = sessions.get(f[1])
      if (f[0] === "NEG-CLOSE") return void sessions.delete(f[1])
      if (!session) return send(ws, ["NEG-ERR", f[1], "closed: no session"])
      void session.reconcile(Buffer.from(f[f[0] === "NEG-OPEN" ? 3 : 2], "hex")).then((r) => send(ws, ["NEG-MSG", f[1], Buffer.from(r.nextMessage!).toString("hex")]))
    },
    { name: "independent", supported_nips: neg ? [1, 11, 77] : [1, 11] }
  )
}

describe("parrhesia sync against other relays", () => {
  let ours: TestRelay
  const fakes: Array<FakeRelay> = []
  afterEach(async () => {
    await ours?.close()
    await Promise.all(fakes.splice(0).map((f) => f.close()))
  })
  const fake = async (r: Promise<FakeRelay>) => {
    const f = await r
    fakes.push(f)
    return f
  }
  const seed = async (n: number) => {
    ours = await startRelay()
    const key = newKey()
    const events = Array.from({ length: n }, (_, i) => makeEvent({ created_at: T0 + i * 7, content: `n${i}` }, key))
    const c = await connect(ours.url)
    for (const e of events) await publishOk(c, e)
    await c.close()
    return events
  }
  const oursHas = async () => {
    const c = await connect(ours.url)
    const r = await req(c, "x", { limit: 5000 })
    await c.close()
    return r.events.map((e) => e.id).sort()
  }

  it("converges with an independent NIP-77 relay, both ways, over NIP-77", async () => {
    const mine = await seed(300)
    const theirs = [...mine.slice(0, 280), ...Array.from({ length: 15 }, (_, i) => makeEvent({ created_at: T0 + 5000 + i }))]
    const other = await fake(independentRelay(theirs, true))
    const run = await sync(ours.url, other.url, "--both", "--json")
    expect(run.code, run.err).toBe(0)
    const report = JSON.parse(run.out)
    expect(report.method).toBe("negentropy")
    expect(report.directions.map((d: { missing: number }) => d.missing)).toEqual([20, 15])
    expect(theirs.map((e) => e.id).sort()).toEqual(await oursHas())
  })

  it("falls back to REQ windows when NEG-OPEN gets a NOTICE from a relay that does not claim NIP-77", async () => {
    const mine = await seed(40)
    const theirs: Array<NostrEvent> = mine.slice(0, 10)
    const other = await fake(independentRelay(theirs, false))
    const run = await sync(ours.url, other.url, "--json")
    expect(run.code, run.err).toBe(0)
    const report = JSON.parse(run.out)
    expect(report.method).toBe("req-windows")
    expect(report.fallbackReason).toMatch(/does not speak NIP-77.*NOTICE/)
    expect(theirs.map((e) => e.id).sort()).toEqual(await oursHas())
  })

  it("names a relay that sends garbage", async () => {
    await seed(3)
    const other = await fake(startFakeRelay((_, ws) => ws.send("this is not JSON")))
    const run = await sync(ours.url, other.url)
    expect(run.code).toBe(3)
    expect(run.err).toContain(`${other.url} broke the protocol: a frame that is not JSON`)
  })

  it("names a relay that claims NIP-77 and sends an invalid negentropy message, or refuses it", async () => {
    await seed(3)
    const bad = await fake(startFakeRelay((f, ws) => ws.send(JSON.stringify(["NEG-MSG", f[1], "61ff00"])), { supported_nips: [1, 77] }))
    const run = await sync(ours.url, bad.url)
    expect(run.code).toBe(3)
    expect(run.err).toContain(`${bad.url} claims NIP-77 but sent an invalid negentropy message`)
    const refusing = await fake(startFakeRelay((f, ws) => ws.send(JSON.stringify(["NEG-ERR", f[1], "error: storage on fire"])), { supported_nips: [77] }))
    const run2 = await sync(refusing.url, ours.url)
    expect(run2.code).toBe(3)
    expect(run2.err).toContain(`${refusing.url} claims NIP-77 but failed it`)
    expect(run2.err).toContain("storage on fire")
  })

  it("names a relay that drops the connection mid-session", async () => {
    await seed(3)
    const dropper = await fake(startFakeRelay((f, ws) => (f[0] === "NEG-OPEN" ? ws.terminate() : undefined), { supported_nips: [77] }))
    const run = await sync(ours.url, dropper.url)
    expect(run.code).toBe(3)
    expect(run.err).toMatch(new RegExp(`connection to ${dropper.url} dropped`))
  })
})
