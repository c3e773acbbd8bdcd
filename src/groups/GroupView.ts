/**
 * GroupView: the group store as one in-memory view for the hot path
 * (synchronous lookups: is this group managed, private, hidden; is this pubkey
 * a member, with which roles), for NIP-29 groups and for NIP-43 relay
 * membership (RELAY_SCOPE). Loaded whole at start; every change is written
 * through the GroupStore first, then applied here, so it holds at once on
 * open connections and survives restarts; a scope another process changed is
 * reloaded from the store (GroupStore.onRemoteChange).
 *
 * It decides nothing: the NIP-29 rules are in rules.ts and Groups.ts, the
 * NIP-43 ones in membership/.
 */
import { Context, Effect, Layer } from "effect"
import type { StoreError } from "../storage/EventStore.ts"
import {
  GroupStore,
  RELAY_SCOPE,
  type GroupRecord,
  type GroupStoreShape,
  type MemberRecord,
  type RoleRecord
} from "../storage/GroupStore.ts"

/** The changes: the store's own (GroupStoreShape says what each does), persisted, then applied to the view. */
type GroupChanges = Pick<
  GroupStoreShape,
  "createGroup" | "saveGroups" | "deleteGroup" | "putMember" | "removeMember" | "addInvite" | "claimInvite" | "putRole" | "removeRole"
>

export interface GroupViewShape extends GroupChanges {
  // ---------------------------------------------------------------- hot-path reads (synchronous)
  readonly group: (id: string) => GroupRecord | undefined
  /** Every managed group, sorted by id. */
  readonly groups: () => ReadonlyArray<GroupRecord>
  /** The member's roles in the scope, or undefined when not a member. */
  readonly rolesOf: (scope: string, pubkey: string) => ReadonlyArray<string> | undefined
  readonly isMember: (scope: string, pubkey: string) => boolean
  /** Whether one of these (authenticated) pubkeys is a member of the scope. */
  readonly anyMember: (scope: string, pubkeys: ReadonlySet<string>) => boolean
  /** The members of a scope, in the order they joined. */
  readonly members: (scope: string) => ReadonlyArray<MemberRecord>
  /** NIP-43 role definitions (RELAY_SCOPE), sorted by id. */
  readonly roles: (scope: string) => ReadonlyArray<RoleRecord>
  /** Ids of the private groups (only members read); empty when there are none. */
  readonly privateGroups: () => ReadonlySet<string>
  /** Ids of the hidden groups (metadata only for members). */
  readonly hiddenGroups: () => ReadonlySet<string>
  /** Members summed over every group (not the relay scope). */
  readonly memberCount: () => number
}

const byId = <T extends { readonly id: string }>(a: T, b: T) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/** A view over the store, as made by `GroupView.layer`. */
export const makeGroupView = Effect.fnUntraced(function* (store: GroupStoreShape) {
  const groups = new Map<string, GroupRecord>()
  /** scope -> pubkey -> roles (insertion order: the order they joined) */
  const members = new Map<string, Map<string, MemberRecord>>()
  const roles = new Map<string, Map<string, RoleRecord>>()
  let privateIds: ReadonlySet<string> = new Set()
  let hiddenIds: ReadonlySet<string> = new Set()
  let memberTotal = 0

  const derive = () => {
    const p = new Set<string>()
    const h = new Set<string>()
    for (const g of groups.values()) {
      if (g.private) p.add(g.id)
      if (g.hidden) h.add(g.id)
    }
    privateIds = p
    hiddenIds = h
    memberTotal = 0
    for (const [scope, m] of members) if (scope !== RELAY_SCOPE) memberTotal += m.size
  }
  const scopeOf = <V>(m: Map<string, Map<string, V>>, scope: string) => {
    let s = m.get(scope)
    if (s === undefined) m.set(scope, (s = new Map()))
    return s
  }
  const setScope = (scope: string, group: GroupRecord | undefined, ms: ReadonlyArray<MemberRecord>, rs: ReadonlyArray<RoleRecord>) => {
    if (group === undefined) groups.delete(scope)
    else groups.set(scope, group)
    if (ms.length === 0) members.delete(scope)
    else members.set(scope, new Map(ms.map((m) => [m.pubkey, m])))
    if (rs.length === 0) roles.delete(scope)
    else roles.set(scope, new Map(rs.map((r) => [r.id, r])))
  }

  const data = yield* store.load
  for (const g of data.groups) groups.set(g.id, g)
  for (const m of data.members) scopeOf(members, m.scope).set(m.pubkey, m)
  for (const r of data.roles) scopeOf(roles, r.scope).set(r.id, r)
  derive()

  /** Local changes applied so far: a reload that read the store while one was made reads again (its snapshot may predate it). */
  let changes = 0

  // Another process (a worker, another host) changed a scope: reload it (or everything) from the store.
  const reloadOnce = (scope: string | undefined) =>
    Effect.gen(function* () {
      for (;;) {
        const before = changes
        if (scope === undefined) {
          const data = yield* store.load
          if (changes !== before) continue
          groups.clear()
          members.clear()
          roles.clear()
          for (const g of data.groups) groups.set(g.id, g)
          for (const m of data.members) scopeOf(members, m.scope).set(m.pubkey, m)
          for (const r of data.roles) scopeOf(roles, r.scope).set(r.id, r)
        } else {
          const d = yield* store.loadScope(scope)
          if (changes !== before) continue
          setScope(scope, d.group, d.members, d.roles)
        }
        derive()
        return
      }
    }).pipe(Effect.catch((e) => Effect.logWarning(`groups: cannot reload what another process changed: ${e.message}`)))
  store.onRemoteChange?.((scope) => void Effect.runFork(reloadOnce(scope)))

  const applied = <A, E>(eff: Effect.Effect<A, E>, apply: (a: A) => void) =>
    Effect.tap(eff, (a) =>
      Effect.sync(() => {
        changes++
        apply(a)
        derive()
      })
    )

  const shape: GroupViewShape = {
    group: (id) => groups.get(id),
    groups: () => [...groups.values()].sort(byId),
    rolesOf: (scope, pk) => members.get(scope)?.get(pk)?.roles,
    isMember: (scope, pk) => members.get(scope)?.has(pk) ?? false,
    anyMember: (scope, pks) => {
      const m = members.get(scope)
      if (m === undefined) return false
      for (const pk of pks) if (m.has(pk)) return true
      return false
    },
    members: (scope) => [...(members.get(scope)?.values() ?? [])],
    roles: (scope) => [...(roles.get(scope)?.values() ?? [])].sort(byId),
    privateGroups: () => privateIds,
    hiddenGroups: () => hiddenIds,
    memberCount: () => memberTotal,

    createGroup: (g, creator) =>
      applied(store.createGroup(g, creator), (made) => {
        if (!made) return
        groups.set(g.id, g)
        members.set(g.id, new Map([[creator.pubkey, creator]]))
      }),
    saveGroups: (list) => applied(store.saveGroups(list), () => list.forEach((g) => groups.set(g.id, g))),
    deleteGroup: (id, updated) =>
      applied(store.deleteGroup(id, updated), () => {
        setScope(id, undefined, [], [])
        for (const g of updated) groups.set(g.id, g)
      }),
    putMember: (m) => applied(store.putMember(m), () => void scopeOf(members, m.scope).set(m.pubkey, m)),
    removeMember: (scope, pk) =>
      applied(store.removeMember(scope, pk), () => {
        const s = members.get(scope)
        s?.delete(pk)
        if (s?.size === 0) members.delete(scope)
      }),
    addInvite: (i) => store.addInvite(i),
    claimInvite: (scope, code) => store.claimInvite(scope, code),
    putRole: (r) => applied(store.putRole(r), () => void scopeOf(roles, r.scope).set(r.id, r)),
    removeRole: (scope, id) =>
      applied(store.removeRole(scope, id), (removed) => {
        if (!removed) return
        roles.get(scope)?.delete(id)
        const s = members.get(scope)
        if (s !== undefined) for (const [pk, m] of s) if (m.roles.includes(id)) s.set(pk, { ...m, roles: m.roles.filter((r) => r !== id) })
      })
  }
  return shape
})

export class GroupView extends Context.Service<GroupView, GroupViewShape>()("parrhesia/groups/GroupView") {
  /** Loads the stored groups and memberships once and keeps the view current. */
  static readonly layer: Layer.Layer<GroupView, StoreError, GroupStore> = Layer.effect(
    GroupView,
    Effect.gen(function* () {
      return GroupView.of(yield* makeGroupView(yield* GroupStore))
    })
  )
}
