/**
 * Query-plan regression: over a seeded, ANALYZEd dataset spread across the
 * partitions, the core REQ and COUNT shapes use indexes and never scan an
 * events partition sequentially.
 */
import { randomBytes } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { kindClass, type Filter, type NostrEvent } from "../../../src/nostr/index.ts"
import { EventStore } from "../../../src/storage/EventStore.ts"
import { compileCount, compileQuery } from "../../../src/storage/postgres/compile.ts"
import { PostgresStore } from "../../../src/storage/postgres/PostgresEventStore.ts"
import { postgresStoreLayer, usePostgresDatabase } from "../../support/postgres.ts"

const db = usePostgresDatabase()

const hex = (n: number) => randomBytes(n).toString("hex")
const now = Math.floor(Date.now() / 1000)
const DAY = 86_400
const authors = Array.from({ length: 150 }, () => hex(32))
const kinds = [0, 1, 3, 5, 6, 7, 1059, 1111, 9735, 10002, 30023, 30311, 4, 16, 42, 1984, 9802, 31923, 20, 21]

/**
 * Synthetic events (the store does not check signatures), spread evenly over
 * the partitions the store creates (last month .. three months ahead) and the
 * DEFAULT partition (very old timestamps), ~1,500 rows each.
 */
const N = 9000
const nowDate = new Date()
const monthStart = (offset: number) => Date.UTC(nowDate.getUTCFullYear(), nowDate.getUTCMonth() + offset, 2) / 1000
const seed: Array<NostrEvent> = Array.from({ length: N }, (_, i) => {
  const kind = kinds[i % kinds.length]!
  const slot = i % 6
  const created_at = slot === 5 ? 1_500_000_000 + i : monthStart(slot - 1) + Math.floor(i / 6) * 60
  const tags: Array<Array<string>> = [
    ["p", authors[(i * 7) % authors.length]!],
    ["e", hex(32)],
    ["t", `topic${i % 40}`]
  ]
  if (kind >= 30000) tags.push(["d", `slot-${i}`])
  return { id: hex(32), pubkey: authors[i % authors.length]!, created_at, kind, tags, content: `seed ${i}`, sig: hex(64) }
})

interface PlanNode {
  readonly "Node Type": string
  readonly "Relation Name"?: string
  readonly "Index Name"?: string
  readonly Plans?: ReadonlyArray<PlanNode>
}

const summary = (p: PlanNode, depth = 0): string =>
  [`${"  ".repeat(depth)}${p["Node Type"]} ${p["Relation Name"] ?? ""} ${p["Index Name"] ?? ""}`, ...(p.Plans ?? []).map((c) => summary(c, depth + 1))].join("\n")

const nodes = (p: PlanNode): Array<PlanNode> => [p, ...(p.Plans ?? []).flatMap(nodes)]

const sample = seed[1234]!
const shapes: ReadonlyArray<readonly [string, ReadonlyArray<Filter>]> = [
  ["ids", [{ ids: seed.slice(100, 120).map((e) => e.id) }]],
  ["one id", [{ ids: [sample.id] }]],
  ["one author, limit", [{ authors: [authors[3]!], limit: 50 }]],
  ["authors + kinds, limit", [{ authors: authors.slice(0, 5), kinds: [1, 7], limit: 50 }]],
  ["kinds, limit", [{ kinds: [1], limit: 100 }]],
  ["#e", [{ tags: { e: [sample.tags[1]![1]!] }, limit: 50 }]],
  ["#p, limit", [{ tags: { p: [authors[9]!] }, limit: 50 }]],
  ["#p + kinds", [{ kinds: [1059], tags: { p: [authors[9]!] }, limit: 50 }]],
  ["#d + author + kind", [{ kinds: [30023], authors: [seed[10]!.pubkey], tags: { d: ["slot-10"] } }]],
  ["since/until, limit", [{ since: now - 10 * DAY, until: now - 5 * DAY, limit: 100 }]],
  ["kinds since/until, limit", [{ kinds: [1], since: now - 3 * DAY, until: now, limit: 20 }]],
  ["two filters", [{ authors: [authors[1]!], limit: 10 }, { tags: { p: [authors[2]!] }, limit: 10 }]]
]

const countShapes: ReadonlyArray<readonly [string, ReadonlyArray<Filter>]> = [
  ["count author", [{ authors: [authors[3]!] }]],
  ["count author + kind", [{ authors: [authors[3]!], kinds: [7] }]],
  ["count #p", [{ tags: { p: [authors[9]!] } }]],
  ["count #e", [{ tags: { e: [sample.tags[1]![1]!] } }]],
  ["count ids", [{ ids: seed.slice(0, 20).map((e) => e.id) }]],
  ["count since/until", [{ kinds: [7], since: now - 2 * DAY, until: now }]]
]

describe("compiled REQ SQL", () => {
  it("ids within the limit compile without ORDER BY/LIMIT, so stale statistics cannot pick a created_at walk", () => {
    const ids = seed.slice(0, 20).map((e) => e.id)
    expect(compileQuery([{ ids, limit: 500 }], now).text).not.toMatch(/LIMIT|ORDER BY/)
    // more ids than the limit: the limit must still apply in SQL
    expect(compileQuery([{ ids, limit: 5 }], now).text).toMatch(/ORDER BY .* LIMIT/)
  })
})

describe("postgres query plans", () => {
  it.live(
    "core REQ and COUNT shapes use indexes and no sequential scan of events",
    () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const pg = yield* PostgresStore
        yield* Effect.forEach(seed, (e) => store.put(e), { concurrency: 400, discard: true })
        yield* Effect.orDie(pg.admin.unsafe(`ANALYZE`))
        const partitions = (yield* pg.readRaw(
          `SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'events'::regclass`
        )) as ReadonlyArray<{ n: number }>
        expect(partitions[0]!.n).toBeGreaterThanOrEqual(4)

        const check = (name: string, text: string, params: ReadonlyArray<unknown>) =>
          Effect.gen(function* () {
            // Run a few times first so a generic plan, if the server switches to one, is what we inspect.
            for (let i = 0; i < 6; i++) yield* pg.readRaw(text, params)
            const rows = (yield* pg.readRaw(`EXPLAIN (FORMAT JSON) ${text}`, params)) as ReadonlyArray<Record<string, unknown>>
            const plan = (rows[0]!["QUERY PLAN"] as ReadonlyArray<{ Plan: PlanNode }>)[0]!.Plan
            const all = nodes(plan)
            const seq = all.filter((n) => n["Node Type"] === "Seq Scan" && /^event/.test(n["Relation Name"] ?? ""))
            const indexed = all.filter((n) => /Index/.test(n["Node Type"]))
            expect(seq.map((n) => n["Relation Name"]), `${name}: seq scans in\n${summary(plan)}`).toEqual([])
            expect(indexed.length, `${name}: no index use`).toBeGreaterThan(0)
          })

        for (const [name, filters] of shapes) {
          const q = compileQuery(filters, now)
          yield* check(name, q.text, q.params)
        }
        for (const [name, filters] of countShapes) {
          const q = compileCount(filters, now)
          yield* check(name, q.text, q.params)
        }
        // ids under the relay's default limit: each id must be a primary-key probe. Walking the
        // created_at index "until the limit" would scan every row when fewer ids exist than the limit.
        {
          // regular kinds only: every one of them is stored (no replacement among them)
          const wanted = seed.filter((e) => kindClass(e.kind) === "regular" && e.kind !== 5).slice(0, 20).map((e) => e.id)
          const q = compileQuery([{ ids: wanted, limit: 500 }], now)
          for (let i = 0; i < 6; i++) yield* pg.readRaw(q.text, q.params)
          const rows = (yield* pg.readRaw(`EXPLAIN (FORMAT JSON) ${q.text}`, q.params)) as ReadonlyArray<Record<string, unknown>>
          const plan = (rows[0]!["QUERY PLAN"] as ReadonlyArray<{ Plan: PlanNode }>)[0]!.Plan
          const used = nodes(plan).filter((n) => /Index/.test(n["Node Type"])).map((n) => n["Index Name"] ?? "")
          expect(used.length, summary(plan)).toBeGreaterThan(0)
          expect(used.filter((name) => !/pkey/.test(name)), `ids + limit must probe primary keys:\n${summary(plan)}`).toEqual([])
          const got = yield* store.query([{ ids: wanted, limit: 500 }])
          expect(got.map((e) => e.id).sort()).toEqual([...wanted].sort())
          expect(got.map((e) => e.created_at)).toEqual([...got.map((e) => e.created_at)].sort((a, b) => b - a))
        }
        // The shapes also answer correctly.
        expect((yield* store.query([{ ids: [sample.id] }]))[0]?.id).toBe(sample.id)
      }).pipe(Effect.provide(postgresStoreLayer(db))),
    120_000
  )
})
