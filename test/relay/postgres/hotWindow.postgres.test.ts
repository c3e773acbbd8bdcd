/**
 * The hot window on PostgreSQL, two relays on one database (as two workers or hosts): each fills
 * its window from the store at start and from the other's commits through LISTEN/NOTIFY, answers
 * REQs from it, and applies a deletion made on the other.
 */
import { describe, expect, it } from "vitest"
import { storeFromConfig } from "../../../src/storage/layer.ts"
import { idsOf, makeEvent, newKey } from "../../support/nostr.ts"
import { usePostgresDatabase } from "../../support/postgres.ts"
import { startRelay, type TestRelay } from "../../support/relay.ts"
import { useRelays } from "../../support/relays.ts"
import { now, publishOk, req, type RawClient } from "../../support/ws.ts"

const db = usePostgresDatabase()

const metric = async (relay: TestRelay, line: string): Promise<number> => {
  const text = await (await fetch(`${relay.httpUrl}/metrics`)).text()
  const found = text.split("\n").find((l) => l.startsWith(`${line} `))
  return found === undefined ? NaN : Number(found.slice(line.length + 1))
}

let seq = 0
/** The ids a REQ answers, asked again until `done` holds (another process's commit arrives by NOTIFY). */
const eventually = async (c: RawClient, filter: Record<string, unknown>, done: (ids: ReadonlyArray<string>) => boolean) => {
  for (let i = 0; ; i++) {
    // A fresh subscription id each time: the earlier ones stay open and get live events.
    const ids = idsOf((await req(c, `q${seq++}`, filter)).events)
    if (done(ids) || i === 50) return ids
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe("hot window on postgres", () => {
  const relays = useRelays((o) => startRelay({ store: "postgres", databaseUrl: db.url(), hotWindowBytes: 8 * 1024 * 1024, ...o }, { stores: storeFromConfig }))

  it("fills from the store, follows the other process's commits and deletions, and answers from memory", async () => {
    const k = newKey()
    const a = await relays.start()
    const ca = await relays.open(a)
    const before = Array.from({ length: 3 }, (_, i) => makeEvent({ created_at: now() - 30 + i, content: `before ${i}` }, k))
    for (const e of before) await publishOk(ca, e)

    // Started after those were stored: they reach its window through the fill at start.
    const b = await relays.start()
    const cb = await relays.open(b)
    expect(await metric(b, "parrhesia_hot_window_events")).toBeGreaterThanOrEqual(3)
    expect(await metric(b, "parrhesia_hot_window_covered_since")).toBe(0)

    const hits = await metric(b, 'parrhesia_hot_window_answers_total{result="hit"}')
    expect(idsOf((await req(cb, "fill", { authors: [k.pk] })).events)).toEqual(before.map((e) => e.id).reverse())
    expect(await metric(b, 'parrhesia_hot_window_answers_total{result="hit"}')).toBe(hits + 1)

    // Stored through the other relay: heard by NOTIFY, answered from memory.
    const later = makeEvent({ created_at: now() - 5, content: "later" }, k)
    await publishOk(ca, later)
    expect(await eventually(cb, { authors: [k.pk], limit: 1 }, (ids) => ids[0] === later.id)).toEqual([later.id])

    // Deleted through the other relay: gone from this one's window too.
    await publishOk(ca, makeEvent({ kind: 5, created_at: now(), tags: [["e", later.id]] }, k))
    const after = await eventually(cb, { authors: [k.pk], kinds: [1] }, (ids) => !ids.includes(later.id))
    expect(after).toEqual(before.map((e) => e.id).reverse())
    const answered = await metric(b, 'parrhesia_hot_window_answers_total{result="hit"}')
    expect(answered).toBeGreaterThan(hits + 1)
    expect(await metric(b, 'parrhesia_hot_window_answers_total{result="miss"}')).toBe(0)
  })
})
