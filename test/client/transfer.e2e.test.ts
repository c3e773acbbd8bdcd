/**
 * `parrhesia import` and `export` end to end, as real processes on a relay's embedded PostgreSQL:
 * a `strfry export`-style file of thousands of events (replaceable and addressable versions, one
 * older version after its newer one, a deletion request and a malformed line) is imported while
 * the relay serves clients (a publisher and a live subscriber); export then gives back exactly the
 * stored set, oldest first, each line the event's canonical JSON; the same file again (gzipped)
 * stores nothing new; with the relay stopped both commands start the server themselves and see
 * the same store.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { eventJson, type NostrEvent } from "../../src/nostr/index.ts"
import { makeEvent, newKey, type Key } from "../support/nostr.ts"
import { runCli, startRelayProcess, type RelayProcess } from "../support/processes.ts"
import { connect, forSub, publishOk, req, within } from "../support/ws.ts"

interface Tally {
  readonly lines: number
  readonly events: number
  readonly stored: number
  readonly duplicate: number
  readonly superseded: number
  readonly refused: Record<string, number>
  readonly refusedTotal: number
  readonly malformed: number
  readonly malformedLines: ReadonlyArray<{ readonly line: number; readonly reason: string }>
}

const dir = mkdtempSync(join(tmpdir(), "parrhesia-transfer-"))
const dataDir = join(dir, "data")
const env = { PARRHESIA_STORE: "postgres", PARRHESIA_DATA_DIR: dataDir, PARRHESIA_LOG_LEVEL: "warn" }
const now = Math.floor(Date.now() / 1000)
const base = now - 10 * 86400

// ------------------------------------------------------------------ the file

const authors: ReadonlyArray<Key> = Array.from({ length: 8 }, () => newKey())
const notes: Array<NostrEvent> = []
for (let i = 0; i < 2400; i++) notes.push(makeEvent({ kind: 1, created_at: base + i * 60, tags: [["t", `topic${i % 7}`]], content: `note ${i}` }, authors[i % 8]!))
/** Three versions of each author's profile; the newest must win. */
const profiles = authors.flatMap((k, a) => [0, 1, 2].map((v) => makeEvent({ kind: 0, created_at: base + 3600 * (10 + v * 10) + a, content: `{"name":"a${a} v${v}"}` }, k)))
/** Three versions of one article (addressable, d = "post"). */
const articles = [0, 1, 2].map((v) => makeEvent({ kind: 30023, created_at: base + 7200 * (5 + v * 5), tags: [["d", "post"]], content: `article v${v}` }, authors[0]!))
/** Author 1 deletes ten of its notes, after them. */
const deletedNotes = notes.filter((e) => e.pubkey === authors[1]!.pk).slice(0, 10)
const deletion = makeEvent({ kind: 5, created_at: base + 2400 * 60, tags: deletedNotes.map((e) => ["e", e.id]) }, authors[1]!)
/** An older profile version after the newest (an export of a relay that got them late). */
const stale = makeEvent({ kind: 0, created_at: base + 3600 * 5, content: '{"name":"stale"}' }, authors[2]!)

const ordered = [...notes, ...profiles, ...articles, deletion].sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1))
const MALFORMED_AT = 1234
const fileLines = [...ordered.slice(0, MALFORMED_AT - 1).map((e) => JSON.stringify(e)), '{"id":"cut off in the mid', ...ordered.slice(MALFORMED_AT - 1).map((e) => JSON.stringify(e)), JSON.stringify(stale)]
const file = join(dir, "strfry-export.jsonl")
writeFileSync(file, fileLines.join("\n") + "\n")
const gzFile = join(dir, "strfry-export.jsonl.gz")
writeFileSync(gzFile, gzipSync(readFileSync(file)))

/** What the relay must hold of the file: notes not deleted, the newest profile of each author, the newest article, the deletion. */
const newest = (events: ReadonlyArray<NostrEvent>) => [...events].sort((a, b) => b.created_at - a.created_at)[0]!
const expectedFromFile = [
  ...notes.filter((e) => !deletedNotes.includes(e)),
  ...authors.map((k) => newest(profiles.filter((p) => p.pubkey === k.pk))),
  newest(articles),
  deletion
]

const importJson = async (path: string) => {
  const r = await runCli(["import", path, "--json"], env)
  return { ...r, tally: JSON.parse(r.stdout) as Tally }
}
const exportLines = async (extra: ReadonlyArray<string> = []) => {
  const out = join(dir, `export-${Math.random().toString(36).slice(2)}.jsonl`)
  const r = await runCli(["export", "--out", out, ...extra], env)
  expect(r.code, r.stderr).toBe(0)
  return { ...r, lines: readFileSync(out, "utf8").split("\n").filter((l) => l !== "") }
}

describe("parrhesia import and export, end to end on the embedded PostgreSQL", { timeout: 240_000 }, () => {
  let relay: RelayProcess
  const published: Array<NostrEvent> = []
  let firstExport: ReadonlyArray<string> = []

  beforeAll(async () => {
    relay = await startRelayProcess(env)
  }, 120_000)
  afterAll(async () => {
    await relay?.stop()
  })

  it("imports the file while the relay serves a publisher and a live subscriber, through the running relay's server", async () => {
    const watcher = await connect(relay.url)
    const watched = authors[7]!.pk
    const initial = await req(watcher, "live", { authors: [watched], kinds: [1] })
    expect(initial.events).toEqual([])
    const publisher = await connect(relay.url)
    const running = importJson(file)
    // A client publishes during the import; every EVENT is answered OK true.
    for (let i = 0; i < 40; i++) {
      const e = makeEvent({ kind: 1, created_at: now - 100 + i, content: `live ${i}` }, authors[3]!)
      await publishOk(publisher, e)
      published.push(e)
    }
    const { code, stderr, tally } = await running
    expect(stderr).toMatch(/the embedded PostgreSQL of the relay running on/)
    expect(code).toBe(1) // one malformed line
    expect(tally.lines).toBe(fileLines.length)
    expect(tally.malformed).toBe(1)
    expect(tally.malformedLines).toEqual([{ line: MALFORMED_AT, reason: "not JSON" }])
    expect(tally.events).toBe(fileLines.length - 1)
    expect(tally.refusedTotal).toBe(0)
    // Every event was stored except versions that met a newer one (in the store or in the same commit), the stale one among them.
    expect(tally.stored + tally.superseded).toBe(tally.events)
    expect(tally.superseded).toBeGreaterThanOrEqual(1)
    expect(tally.duplicate).toBe(0)

    // The live subscriber got the watched author's imported notes as they were stored (the cluster bus).
    const watchedNotes = new Set(notes.filter((e) => e.pubkey === watched).map((e) => e.id))
    const seen = new Set<string>()
    await within(
      (async () => {
        while (seen.size < watchedNotes.size) seen.add((await watcher.next(forSub("live", "EVENT")))[2].id)
      })(),
      30_000,
      "the live subscriber to receive the imported notes"
    )
    expect(seen).toEqual(watchedNotes)

    // The relay answers from the imported data: deleted notes gone, the newest profile served.
    const gone = await req(publisher, "gone", { ids: deletedNotes.map((e) => e.id) })
    expect(gone.events).toEqual([])
    const profile = await req(publisher, "profile", { kinds: [0], authors: [authors[2]!.pk] })
    expect(profile.events.map((e) => e.id)).toEqual([newest(profiles.filter((p) => p.pubkey === authors[2]!.pk)).id])
    await watcher.close()
    await publisher.close()
  })

  it("exports exactly the stored set, oldest first, one canonical JSON object a line", async () => {
    const { lines, stderr } = await exportLines()
    expect(stderr).toMatch(/the embedded PostgreSQL of the relay running on/)
    const events = lines.map((l) => JSON.parse(l) as NostrEvent)
    const expected = [...expectedFromFile, ...published]
    expect(events.map((e) => e.id).sort()).toEqual(expected.map((e) => e.id).sort())
    expect(lines).toEqual(events.map(eventJson))
    for (let i = 1; i < events.length; i++) {
      const [a, b] = [events[i - 1]!, events[i]!]
      expect(a.created_at < b.created_at || (a.created_at === b.created_at && a.id < b.id)).toBe(true)
    }
    // A filter narrows it; the deletion request is there like any stored event.
    const kind5 = await exportLines(["--filter", JSON.stringify({ kinds: [5] })])
    expect(kind5.lines).toEqual([eventJson(deletion)])
    firstExport = lines
  })

  it("a second import of the same file (gzipped) stores nothing new", async () => {
    const { code, tally } = await importJson(gzFile)
    expect(code).toBe(1)
    expect(tally.stored).toBe(0)
    expect(tally.malformedLines).toEqual([{ line: MALFORMED_AT, reason: "not JSON" }])
    // Still stored: duplicates; the deleted notes: refused as deleted; older versions: superseded.
    expect(tally.duplicate).toBe(expectedFromFile.length)
    expect(tally.refused).toEqual({ "blocked: this event was deleted and cannot be republished": deletedNotes.length })
    expect(tally.duplicate + tally.refusedTotal + tally.superseded).toBe(tally.events)
    expect((await exportLines()).lines).toEqual(firstExport)
  })

  it("with the relay stopped, both start the embedded server themselves and see the same store", async () => {
    await relay.stop()
    const again = await importJson(file)
    expect(again.stderr).toMatch(/no relay is running on it: started for this run/)
    expect(again.tally.stored).toBe(0)
    const after = await exportLines()
    expect(after.stderr).toMatch(/started for this run/)
    expect(after.lines).toEqual(firstExport)
  })

  it("refuses bad arguments with a message and exit 2", async () => {
    const bad = [
      [["export", "--filter", "{nope"], /--filter must be a JSON object/],
      [["export", "--filter", '{"limit":5}'], /"limit" is not allowed/],
      [["export", "--bogus"], /unknown option --bogus/],
      [["import", "a.jsonl", "b.jsonl"], /one file at a time/],
      [["import", file, "--concurrency", "0"], /--concurrency is a whole number/]
    ] as const
    for (const [args, message] of bad) {
      const r = await runCli(args, env)
      expect(r.code, r.stderr).toBe(2)
      expect(r.stderr).toMatch(message)
    }
    const missing = await runCli(["import", join(dir, "missing.jsonl")], env)
    expect(missing.code).toBe(3)
    expect(missing.stderr).toMatch(/cannot read .*missing\.jsonl: no such file/)
    const nowhere = await runCli(["export"], { ...env, PARRHESIA_DATA_DIR: join(dir, "no-such-data") })
    expect(nowhere.code).toBe(1)
    expect(nowhere.stderr).toMatch(/there is no store in .*no-such-data .*nothing to export/)
    const memory = await runCli(["export"], { ...env, PARRHESIA_STORE: "memory" })
    expect(memory.code).toBe(2)
    expect(memory.stderr).toMatch(/keeps nothing between runs/)
  })
})
