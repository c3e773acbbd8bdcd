/**
 * The GroupStore contract: one suite for every adapter. `makeLayer` is called
 * per test and must give an EMPTY store; `reopen` (when the adapter persists)
 * gives a second store over the same data, as after a restart.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import { newGroup } from "../../src/groups/rules.ts"
import { GroupStore, RELAY_SCOPE, type GroupRecord, type GroupStoreShape } from "../../src/storage/GroupStore.ts"

type Body = (store: GroupStoreShape) => Effect.Effect<void, unknown>

const A = "a".repeat(64)
const B = "b".repeat(64)
const C = "c".repeat(64)

/** A group record as rules.ts makes a new one (open, public, no metadata), with `over` changed. */
export const groupOf = (id: string, over: Partial<GroupRecord> = {}): GroupRecord => ({ ...newGroup(id, 1_700_000_000), ...over })

const byPubkey = <T extends { readonly pubkey: string }>(xs: ReadonlyArray<T>) => [...xs].sort((x, y) => x.pubkey.localeCompare(y.pubkey))

export const groupStoreContract = (name: string, makeLayer: () => Layer.Layer<GroupStore, unknown>, reopen?: () => Layer.Layer<GroupStore, unknown>) =>
  describe(`GroupStore contract: ${name}`, () => {
    const test = (title: string, body: Body) => it.live(title, () => Effect.flatMap(GroupStore, body).pipe(Effect.provide(makeLayer())))

    test("starts empty", (store) =>
      Effect.gen(function* () {
        expect(yield* store.load).toEqual({ groups: [], members: [], roles: [] })
        expect(yield* store.loadScope("pizza")).toEqual({ group: undefined, members: [], roles: [] })
      }))

    test("creates a group with its creator once; the id is taken afterwards", (store) =>
      Effect.gen(function* () {
        expect(yield* store.createGroup(groupOf("pizza"), { scope: "pizza", pubkey: A, roles: ["admin"] })).toBe(true)
        expect(yield* store.createGroup(groupOf("pizza", { name: "other" }), { scope: "pizza", pubkey: B, roles: ["admin"] })).toBe(false)
        const scope = yield* store.loadScope("pizza")
        expect(scope.group).toEqual(groupOf("pizza"))
        expect(scope.members).toEqual([{ scope: "pizza", pubkey: A, roles: ["admin"] }])
      }))

    test("keeps every field of a group: metadata, flags, kinds, parent, ordered children, ordered pins", (store) =>
      Effect.gen(function* () {
        yield* store.createGroup(groupOf("tech"), { scope: "tech", pubkey: A, roles: ["admin"] })
        const full = groupOf("tech", {
          name: "Tech",
          picture: "https://example.com/p.png",
          about: "about ünïcode",
          banner: "https://example.com/b.png",
          private: true,
          restricted: true,
          hidden: true,
          closed: true,
          supportedKinds: ["9", "11"],
          parent: "root",
          children: ["zeta", "alpha", "mid"],
          pins: [["e", "d".repeat(64)], ["a", `30023:${A}:post`], ["e", "e".repeat(64)]]
        })
        yield* store.saveGroups([full])
        expect((yield* store.loadScope("tech")).group).toEqual(full)
        // An empty supported_kinds list (no kinds) differs from none (every kind).
        yield* store.saveGroups([{ ...full, supportedKinds: [] }])
        expect((yield* store.loadScope("tech")).group?.supportedKinds).toEqual([])
        expect((yield* store.load).groups).toEqual([{ ...full, supportedKinds: [] }])
      }))

    test("saves several groups together and deletes one with its members and invites", (store) =>
      Effect.gen(function* () {
        yield* store.createGroup(groupOf("parent"), { scope: "parent", pubkey: A, roles: ["admin"] })
        yield* store.createGroup(groupOf("child"), { scope: "child", pubkey: A, roles: ["admin"] })
        yield* store.saveGroups([groupOf("parent", { children: ["child"] }), groupOf("child", { parent: "parent" })])
        yield* store.putMember({ scope: "parent", pubkey: B, roles: [] })
        yield* store.addInvite({ scope: "parent", code: "xyz", expiresAt: 0, singleUse: false })
        expect(yield* store.deleteGroup("parent", [groupOf("child")])).toBe(true)
        expect(yield* store.deleteGroup("parent", [])).toBe(false)
        expect(yield* store.loadScope("parent")).toEqual({ group: undefined, members: [], roles: [] })
        expect(yield* store.claimInvite("parent", "xyz")).toBeUndefined()
        expect((yield* store.loadScope("child")).group).toEqual(groupOf("child"))
        // A new group may take the id again, without the old members.
        expect(yield* store.createGroup(groupOf("parent"), { scope: "parent", pubkey: C, roles: ["admin"] })).toBe(true)
        expect((yield* store.loadScope("parent")).members).toEqual([{ scope: "parent", pubkey: C, roles: ["admin"] }])
      }))

    test("members per scope: added, roles replaced, removed once", (store) =>
      Effect.gen(function* () {
        expect(yield* store.putMember({ scope: "g", pubkey: A, roles: [] })).toBe(true)
        expect(yield* store.putMember({ scope: "g", pubkey: A, roles: ["moderator", "gardener"] })).toBe(false)
        expect(yield* store.putMember({ scope: RELAY_SCOPE, pubkey: A, roles: [] })).toBe(true)
        expect(yield* store.putMember({ scope: "g", pubkey: B, roles: [] })).toBe(true)
        expect(byPubkey((yield* store.loadScope("g")).members)).toEqual([
          { scope: "g", pubkey: A, roles: ["moderator", "gardener"] },
          { scope: "g", pubkey: B, roles: [] }
        ])
        expect((yield* store.loadScope(RELAY_SCOPE)).members).toEqual([{ scope: RELAY_SCOPE, pubkey: A, roles: [] }])
        expect(yield* store.removeMember("g", A)).toBe(true)
        expect(yield* store.removeMember("g", A)).toBe(false)
        expect((yield* store.loadScope(RELAY_SCOPE)).members.length).toBe(1)
        expect((yield* store.load).members.length).toBe(2)
      }))

    test("invites: single-use ones are claimed once, reusable ones stay", (store) =>
      Effect.gen(function* () {
        yield* store.addInvite({ scope: RELAY_SCOPE, code: "once", expiresAt: 1_800_000_000, singleUse: true })
        yield* store.addInvite({ scope: "g", code: "many", expiresAt: 0, singleUse: false })
        expect(yield* store.claimInvite(RELAY_SCOPE, "once")).toEqual({ scope: RELAY_SCOPE, code: "once", expiresAt: 1_800_000_000, singleUse: true })
        expect(yield* store.claimInvite(RELAY_SCOPE, "once")).toBeUndefined()
        expect(yield* store.claimInvite("g", "many")).toEqual({ scope: "g", code: "many", expiresAt: 0, singleUse: false })
        expect(yield* store.claimInvite("g", "many")).toEqual({ scope: "g", code: "many", expiresAt: 0, singleUse: false })
        // Codes belong to their scope.
        expect(yield* store.claimInvite(RELAY_SCOPE, "many")).toBeUndefined()
      }))

    test("role definitions: kept, replaced, removed with the role taken off members", (store) =>
      Effect.gen(function* () {
        const king = { scope: RELAY_SCOPE, id: "28b7e50f", label: "king", description: "ruler", color: "37", order: "1" }
        yield* store.putRole(king)
        yield* store.putRole({ ...king, label: "queen" })
        yield* store.putMember({ scope: RELAY_SCOPE, pubkey: A, roles: ["28b7e50f", "other"] })
        expect((yield* store.loadScope(RELAY_SCOPE)).roles).toEqual([{ ...king, label: "queen" }])
        expect(yield* store.removeRole(RELAY_SCOPE, "28b7e50f")).toBe(true)
        expect(yield* store.removeRole(RELAY_SCOPE, "28b7e50f")).toBe(false)
        const after = yield* store.loadScope(RELAY_SCOPE)
        expect(after.roles).toEqual([])
        expect(after.members).toEqual([{ scope: RELAY_SCOPE, pubkey: A, roles: ["other"] }])
      }))

    if (reopen !== undefined) {
      it.live("keeps everything across a restart", () =>
        Effect.gen(function* () {
          yield* Effect.flatMap(GroupStore, (s) =>
            Effect.gen(function* () {
              yield* s.createGroup(groupOf("kept", { private: true, children: ["x"] }), { scope: "kept", pubkey: A, roles: ["admin"] })
              yield* s.putMember({ scope: RELAY_SCOPE, pubkey: B, roles: [] })
              yield* s.addInvite({ scope: "kept", code: "c0de", expiresAt: 0, singleUse: false })
            })
          ).pipe(Effect.provide(makeLayer()))
          const [data, invite] = yield* Effect.flatMap(GroupStore, (s) => Effect.all([s.load, s.claimInvite("kept", "c0de")])).pipe(Effect.provide(reopen()))
          expect(data.groups).toEqual([groupOf("kept", { private: true, children: ["x"] })])
          expect(byPubkey(data.members)).toEqual([
            { scope: "kept", pubkey: A, roles: ["admin"] },
            { scope: RELAY_SCOPE, pubkey: B, roles: [] }
          ])
          expect(invite?.code).toBe("c0de")
        })
      )
    }
  })
