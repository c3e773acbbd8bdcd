/**
 * GroupView over a store: changes written through then applied, and a reload
 * for another process's change that read the store before a local change
 * does not undo that change (it reads again).
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect } from "effect"
import { makeGroupView } from "../../src/groups/GroupView.ts"
import { newGroup } from "../../src/groups/rules.ts"
import { RELAY_SCOPE, type GroupData, type GroupStoreShape } from "../../src/storage/GroupStore.ts"
import { makeMemoryGroupStore } from "../../src/storage/memory/MemoryGroupStore.ts"

const A = "a".repeat(64)

describe("GroupView", () => {
  it.effect("writes through, then answers synchronously", () =>
    Effect.gen(function* () {
      const view = yield* makeGroupView(makeMemoryGroupStore())
      expect(yield* view.createGroup({ ...newGroup("g", 1), private: true }, { scope: "g", pubkey: A, roles: ["admin"] })).toBe(true)
      expect(view.group("g")?.private).toBe(true)
      expect(view.privateGroups().has("g")).toBe(true)
      expect(view.rolesOf("g", A)).toEqual(["admin"])
      expect(view.anyMember("g", new Set([A]))).toBe(true)
      yield* view.putMember({ scope: RELAY_SCOPE, pubkey: A, roles: [] })
      expect(view.isMember(RELAY_SCOPE, A)).toBe(true)
      expect(view.memberCount()).toBe(1)
      expect(yield* view.removeMember("g", A)).toBe(true)
      expect(view.memberCount()).toBe(0)
      expect(yield* view.deleteGroup("g", [])).toBe(true)
      expect(view.privateGroups().size).toBe(0)
    })
  )

  it.live("a remote reload that read a stale snapshot reads again", () =>
    Effect.gen(function* () {
      const inner = makeMemoryGroupStore()
      let reload: (scope: string | undefined) => void = () => {}
      const gate = yield* Deferred.make<void>()
      const reread = yield* Deferred.make<void>()
      let loads = 0
      const store: GroupStoreShape = {
        ...inner,
        // The second load (the reload) takes its snapshot, then waits for the gate; the third says it ran.
        load: Effect.gen(function* () {
          const snapshot: GroupData = yield* inner.load
          const n = ++loads
          if (n === 2) yield* Deferred.await(gate)
          if (n === 3) yield* Deferred.succeed(reread, undefined)
          return snapshot
        }),
        onRemoteChange: (f) => void (reload = f)
      }
      const view = yield* makeGroupView(store)
      reload(undefined)
      // The reload holds a snapshot without the group; the group is created meanwhile.
      yield* Effect.yieldNow
      yield* view.createGroup(newGroup("fresh", 1), { scope: "fresh", pubkey: A, roles: ["admin"] })
      yield* Deferred.succeed(gate, undefined)
      // The stale snapshot is dropped and the store read again (the reload applies that read before this resumes).
      yield* Deferred.await(reread)
      yield* Effect.yieldNow
      expect(loads).toBe(3)
      expect(view.group("fresh")).toBeDefined()
    })
  )
})
