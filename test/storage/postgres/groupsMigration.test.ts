/**
 * Migration 0007 carries NIP-43 relay membership over from the moderation
 * lists to the group store: members (scope '') and unclaimed invites (single
 * use, their expiry kept), and leaves no member or invite in moderation_entries.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { loadMigrations, runMigrations } from "../../../src/storage/postgres/Migrator.ts"
import { makePostgresGroupStore } from "../../../src/storage/postgres/PostgresGroupStore.ts"
import { RELAY_SCOPE } from "../../../src/storage/GroupStore.ts"
import { usePostgresDatabase, withClient } from "../../support/postgres.ts"

const db = usePostgresDatabase()

describe("migration 0007 (groups)", () => {
  it("moves NIP-43 members and invites from the moderation lists", async () => {
    const all = loadMigrations()
    const before = all.filter((m) => m.id < 7)
    expect(all.some((m) => m.name === "0007_groups.sql")).toBe(true)
    const A = "a".repeat(64)
    const B = "b".repeat(64)
    await withClient(db.url(), (sql) =>
      Effect.gen(function* () {
        yield* runMigrations(sql, before)
        yield* sql.unsafe(
          "INSERT INTO moderation_entries (list, value, reason) VALUES ('members', $1, ''), ('members', $2, ''), ('invites', 'code1', '1900000000'), ('bannedPubkeys', $1, 'x')",
          [A, B]
        )
        yield* runMigrations(sql, all)
        const left = yield* sql.unsafe<{ list: string }>("SELECT list FROM moderation_entries ORDER BY list")
        expect(left.map((r) => r.list)).toEqual(["bannedPubkeys"])
        const store = makePostgresGroupStore(sql).shape
        const scope = yield* store.loadScope(RELAY_SCOPE)
        expect(scope.members.map((m) => m.pubkey).sort()).toEqual([A, B])
        expect(yield* store.claimInvite(RELAY_SCOPE, "code1")).toEqual({ scope: RELAY_SCOPE, code: "code1", expiresAt: 1_900_000_000, singleUse: true })
        expect(yield* store.claimInvite(RELAY_SCOPE, "code1")).toBeUndefined()
      })
    )
  })
})
