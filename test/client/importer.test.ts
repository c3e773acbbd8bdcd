/**
 * The import core over the relay's real write pipeline (coreLayer) on the memory store: what each
 * kind of line becomes (stored, duplicate, superseded, refused with its reason, malformed with its
 * line number, ephemeral skipped), deletions and requests to vanish applied in file order, the
 * source marked Import for the policy, and an import run twice storing nothing new.
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { coreLayer } from "../../src/app.ts"
import { importLines, MALFORMED_LISTED, newTally } from "../../src/client/importer.ts"
import type { LineSource } from "../../src/client/jsonLines.ts"
import { RelayConfig } from "../../src/config/RelayConfig.ts"
import type { Settings } from "../../src/config/settings.ts"
import { layerNoble } from "../../src/verify/SignatureVerifier.ts"
import { eventJson, type NostrEvent } from "../../src/nostr/index.ts"
import { EventStore } from "../../src/storage/EventStore.ts"
import { layerMemoryStores } from "../../src/storage/layer.ts"
import { makeEvent, newKey } from "../support/nostr.ts"

const now = () => Math.floor(Date.now() / 1000)

/** Lines as a source, in batches of `per` (batch edges must not matter). */
const linesOf = (lines: ReadonlyArray<string>, per = 3): LineSource => ({
  name: "test",
  size: undefined,
  bytesRead: () => 0,
  batches: (async function* () {
    for (let i = 0; i < lines.length; i += per) yield lines.slice(i, i + per)
  })()
})

const pipeline = (overrides: Partial<Settings> = {}) =>
  coreLayer.pipe(Layer.provideMerge(Layer.mergeAll(layerMemoryStores, layerNoble)), Layer.provideMerge(RelayConfig.layerWith(overrides)))

const storedIds = Effect.gen(function* () {
  const store = yield* EventStore
  return (yield* store.query([{}])).map((e) => e.id).sort()
})

const line = (e: NostrEvent) => JSON.stringify(e)

describe("importLines", () => {
  it.live("stores, counts duplicates and superseded versions, lists malformed lines by number, skips ephemeral events", () =>
    Effect.gen(function* () {
      const k = newKey()
      const t = now() - 1000
      const notes = Array.from({ length: 10 }, (_, i) => makeEvent({ created_at: t + i }, k))
      const profileNew = makeEvent({ kind: 0, created_at: t + 20, content: "{\"name\":\"new\"}" }, k)
      const profileOld = makeEvent({ kind: 0, created_at: t + 10, content: "{\"name\":\"old\"}" }, k)
      const ephemeral = makeEvent({ kind: 20001, created_at: t }, k)
      const badSig = { ...makeEvent({ created_at: t }, k), sig: "0".repeat(128) }
      const lines = [
        ...notes.slice(0, 5).map(line),
        "",
        "{not json",
        line(notes[0]!),
        JSON.stringify({ kind: 1, content: "no id" }),
        "[\"EVENT\",{}]",
        line(profileNew),
        line(profileOld),
        line(ephemeral),
        "   ",
        JSON.stringify(badSig),
        ...notes.slice(5).map(line)
      ]
      const tally = yield* importLines(linesOf(lines), { info: "test.jsonl", maxInFlight: 4 })
      expect(tally).toMatchObject({
        lines: lines.length,
        events: 15,
        stored: 11,
        duplicate: 1,
        superseded: 1,
        ephemeral: 1,
        refusedTotal: 1,
        malformed: 3,
        stopped: false
      })
      expect(Object.fromEntries(tally.refused)).toEqual({ "invalid: signature verification failed": 1 })
      expect(tally.malformedLines).toEqual([
        { line: 7, reason: "not JSON" },
        { line: 9, reason: "id must be 64 lowercase hex characters" },
        { line: 10, reason: "event must be a JSON object" }
      ])
      expect(yield* storedIds).toEqual([...notes.map((e) => e.id), profileNew.id].sort())
    }).pipe(Effect.provide(pipeline())))

  it.live("applies a deletion request and a request to vanish to the events read before them, as the relay did", () =>
    Effect.gen(function* () {
      const k = newKey()
      const gone = newKey()
      const t = now() - 1000
      const kept = makeEvent({ created_at: t }, k)
      const deleted = Array.from({ length: 50 }, (_, i) => makeEvent({ created_at: t + i }, k))
      const deletion = makeEvent({ kind: 5, created_at: t + 100, tags: deleted.map((e) => ["e", e.id]) }, k)
      const vanishing = Array.from({ length: 20 }, (_, i) => makeEvent({ created_at: t + i }, gone))
      const vanish = makeEvent({ kind: 62, created_at: t + 200, tags: [["relay", "ALL_RELAYS"]] }, gone)
      const after = makeEvent({ created_at: t + 300 }, gone)
      // The deleted events again after the request: refused, as on the relay.
      const lines = [kept, ...deleted, ...vanishing, deletion, vanish, after, deleted[0]!].map(line)
      const tally = yield* importLines(linesOf(lines, 7), { info: "test.jsonl", maxInFlight: 64 })
      expect(tally.stored).toBe(1 + 50 + 20 + 3)
      expect(Object.fromEntries(tally.refused)).toEqual({ "blocked: this event was deleted and cannot be republished": 1 })
      expect(yield* storedIds).toEqual([kept.id, deletion.id, vanish.id, after.id].sort())
    }).pipe(Effect.provide(pipeline())))

  it.live("run again, it stores nothing new: every event is a duplicate", () =>
    Effect.gen(function* () {
      const k = newKey()
      const t = now() - 1000
      const events = [
        ...Array.from({ length: 30 }, (_, i) => makeEvent({ created_at: t + i }, k)),
        makeEvent({ kind: 30023, created_at: t + 40, tags: [["d", "a"]] }, k),
        makeEvent({ kind: 5, created_at: t + 50, tags: [["e", "f".repeat(64)]] }, k)
      ]
      const lines = events.map(line)
      const first = yield* importLines(linesOf(lines), { info: "x" })
      expect(first.stored).toBe(events.length)
      const before = yield* storedIds
      const second = yield* importLines(linesOf(lines), { info: "x" })
      expect(second).toMatchObject({ stored: 0, duplicate: events.length, refusedTotal: 0 })
      expect(yield* storedIds).toEqual(before)
    }).pipe(Effect.provide(pipeline())))

  it.live("run after an interruption, it finds what is stored already with one query per batch, without checking signatures again", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const k = newKey()
      const t = now() - 1000
      const events = Array.from({ length: 60 }, (_, i) => makeEvent({ created_at: t + i }, k))
      // The first 40 stored by an earlier run (straight into the store: the pipeline has not seen them).
      for (const e of events.slice(0, 40)) yield* store.put(e)
      // A damaged signature on a stored event: known by its id, so not checked again.
      const lines = events.map((e, i) => (i === 3 ? JSON.stringify({ ...e, sig: "0".repeat(128) }) : line(e)))
      const tally = yield* importLines(linesOf(lines, 10), { info: "x" })
      expect(tally).toMatchObject({ events: 60, duplicate: 40, stored: 20, refusedTotal: 0 })
      expect((yield* storedIds).length).toBe(60)
    }).pipe(Effect.provide(pipeline())))

  it.live("goes through the relay's write policy with the source marked Import and the file as its info", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "parrhesia-import-policy-"))
      const module = join(dir, "policy.js")
      writeFileSync(
        module,
        'export default [(ctx, e) => (e.content.startsWith("refuse") ? `blocked: ${ctx.source?.type} from ${ctx.source?.info}` : undefined)]\n'
      )
      const k = newKey()
      const banned = newKey()
      const t = now() - 1000
      const lines = [
        makeEvent({ created_at: t, content: "fine" }, k),
        makeEvent({ created_at: t + 1, content: "refuse me" }, k),
        makeEvent({ created_at: t + 2 }, banned),
        makeEvent({ kind: 4, created_at: t + 3, tags: [["p", banned.pk]], content: "a DM" }, k),
        makeEvent({ created_at: t + 4, tags: [["-"]], content: "protected (NIP-70): the author counts as authenticated" }, k)
      ].map(line)
      return yield* Effect.gen(function* () {
        const tally = yield* importLines(linesOf(lines), { info: "dump.jsonl" })
        expect(Object.fromEntries(tally.refused)).toEqual({
          "blocked: Import from dump.jsonl": 1,
          "blocked: this pubkey is banned on this relay": 1
        })
        expect(tally.stored).toBe(3)
      }).pipe(Effect.provide(pipeline({ policyModules: [module], bannedPubkeys: [banned.pk], authRequired: "writes" })))
    }))

  it.live("keeps the first malformed lines by number and counts them all; stops reading when aborted", () =>
    Effect.gen(function* () {
      const garbage = Array.from({ length: MALFORMED_LISTED + 20 }, (_, i) => `garbage ${i}`)
      const tally = yield* importLines(linesOf(garbage, 50), { info: "x" })
      expect(tally.malformed).toBe(MALFORMED_LISTED + 20)
      expect(tally.malformedLines).toHaveLength(MALFORMED_LISTED)
      expect(tally.malformedLines[MALFORMED_LISTED - 1]).toEqual({ line: MALFORMED_LISTED, reason: "not JSON" })

      const k = newKey()
      const events = Array.from({ length: 40 }, (_, i) => makeEvent({ created_at: now() - 100 + i }, k))
      const controller = new AbortController()
      controller.abort()
      const counted = newTally()
      const stopped = yield* importLines(linesOf(events.map(line), 10), { info: "x", signal: controller.signal, tally: counted })
      expect(stopped).toBe(counted)
      expect(stopped).toMatchObject({ stopped: true, lines: 10, stored: 10 })
      expect(eventJson(events[0]!)).toBe(line(events[0]!))
    }).pipe(Effect.provide(pipeline())))
})
