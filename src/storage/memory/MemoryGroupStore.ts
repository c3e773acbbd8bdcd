/** In-memory GroupStore: for tests and `store: memory` (nothing survives a restart). */
import { Effect, Layer } from "effect"
import {
  GroupStore,
  type GroupData,
  type GroupRecord,
  type GroupStoreShape,
  type InviteRecord,
  type MemberRecord,
  type RoleRecord,
  type ScopeData
} from "../GroupStore.ts"

export const makeMemoryGroupStore = (): GroupStoreShape => {
  const groups = new Map<string, GroupRecord>()
  /** scope -> pubkey -> member */
  const members = new Map<string, Map<string, MemberRecord>>()
  const invites = new Map<string, Map<string, InviteRecord>>()
  const roles = new Map<string, Map<string, RoleRecord>>()
  const of = <V>(m: Map<string, Map<string, V>>, scope: string) => {
    let s = m.get(scope)
    if (s === undefined) m.set(scope, (s = new Map()))
    return s
  }
  const scopeData = (scope: string): ScopeData => ({
    group: groups.get(scope),
    members: [...(members.get(scope)?.values() ?? [])],
    roles: [...(roles.get(scope)?.values() ?? [])]
  })
  return {
    load: Effect.sync(
      (): GroupData => ({
        groups: [...groups.values()],
        members: [...members.values()].flatMap((m) => [...m.values()]),
        roles: [...roles.values()].flatMap((m) => [...m.values()])
      })
    ),
    loadScope: (scope) => Effect.sync(() => scopeData(scope)),
    createGroup: (group, creator) =>
      Effect.sync(() => {
        if (groups.has(group.id)) return false
        groups.set(group.id, group)
        of(members, group.id).set(creator.pubkey, creator)
        return true
      }),
    saveGroups: (list) => Effect.sync(() => void list.forEach((g) => groups.set(g.id, g))),
    deleteGroup: (id, updated) =>
      Effect.sync(() => {
        if (!groups.delete(id)) return false
        members.delete(id)
        invites.delete(id)
        roles.delete(id)
        for (const g of updated) groups.set(g.id, g)
        return true
      }),
    putMember: (m) =>
      Effect.sync(() => {
        const s = of(members, m.scope)
        const added = !s.has(m.pubkey)
        s.set(m.pubkey, m)
        return added
      }),
    removeMember: (scope, pubkey) => Effect.sync(() => members.get(scope)?.delete(pubkey) ?? false),
    addInvite: (i) => Effect.sync(() => void of(invites, i.scope).set(i.code, i)),
    claimInvite: (scope, code) =>
      Effect.sync(() => {
        const s = invites.get(scope)
        const i = s?.get(code)
        if (i !== undefined && i.singleUse) s!.delete(code)
        return i
      }),
    putRole: (r) => Effect.sync(() => void of(roles, r.scope).set(r.id, r)),
    removeRole: (scope, id) =>
      Effect.sync(() => {
        if (!(roles.get(scope)?.delete(id) ?? false)) return false
        const s = members.get(scope)
        if (s !== undefined) for (const [pk, m] of s) if (m.roles.includes(id)) s.set(pk, { ...m, roles: m.roles.filter((r) => r !== id) })
        return true
      })
  }
}

export const layerMemoryGroups: Layer.Layer<GroupStore> = Layer.sync(GroupStore, makeMemoryGroupStore)
