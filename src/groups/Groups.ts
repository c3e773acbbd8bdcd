/**
 * NIP-29 relay-based groups: the write side. Ingest asks `admit` about every
 * event that passed the signature and policy checks:
 *
 * - kinds 39000-39005 are the relay's own (signed with its key): refused from
 *   anyone else;
 * - an `h`-tagged event of a managed group follows the group's rules
 *   (restricted: members write; supported kinds; late publication; `previous`
 *   references must name events this relay has in the group);
 * - moderation events (9000-9020) are applied when the author's role permits
 *   them, join (9021) and leave (9022) requests are answered, the relay
 *   issuing the matching 9000 / 9001; create-group (9007) makes a group when
 *   `groupCreation` allows the author;
 * - after every change the relay regenerates the group's 39000-39003 and
 *   39005, signs, stores and fans them out.
 *
 * A change is written through the GroupStore (GroupView) before the event is
 * stored (as Ingest does for deletion requests), under one lock per process so
 * a check and its change are not interleaved with another; moderation and
 * join/leave events are then stored as the group's history, except 9008 (the
 * group and its events are gone). `h` tags naming no managed group are refused
 * unless `groupsUnmanaged`; NIP-EE's kind 445 is left alone (its `h` names an
 * MLS group).
 */
import { Context, Effect, Layer, Semaphore } from "effect"
import { RelayIdentity } from "../auth/RelayIdentity.ts"
import { RelayConfig } from "../config/RelayConfig.ts"
import {
  AuthRequired,
  Blocked,
  couldNot,
  Duplicate,
  firstTagValue,
  Invalid,
  nowSeconds,
  Restricted,
  type NostrEvent,
  type Rejection
} from "../nostr/index.ts"
import type { RequestContext } from "../policy/types.ts"
import { EventStore, FreshReads } from "../storage/EventStore.ts"
import { RELAY_SCOPE, type GroupRecord } from "../storage/GroupStore.ts"
import { Fanout } from "../subscriptions/Fanout.ts"
import { GroupView } from "./GroupView.ts"
import * as R from "./rules.ts"

/** What `admit` decided for an event it took over: stored as usual, or answered without storing. */
export interface Admission {
  readonly store: boolean
  /** The OK message ("" or `prefix: text`). */
  readonly message: string
  /** Ids this deleted (a delete-event), or "all" (a delete-group): a resend of them is no duplicate to answer from memory. */
  readonly forget?: ReadonlyArray<string> | "all"
}

export interface GroupSummary {
  readonly id: string
  readonly name: string
  readonly private: boolean
  readonly restricted: boolean
  readonly hidden: boolean
  readonly closed: boolean
  readonly parent: string | null
  readonly children: ReadonlyArray<string>
  readonly members: number
  readonly admins: ReadonlyArray<{ readonly pubkey: string; readonly roles: ReadonlyArray<string> }>
}

export interface GroupsShape {
  readonly enabled: boolean
  /** Whether `admit` has anything to say about this event (a group kind or an `h` tag): a cheap, synchronous test for every EVENT. */
  readonly concerns: (e: NostrEvent) => boolean
  /**
   * The group rules for one event, applying what it asks (moderation, join, leave, creation);
   * undefined when it is stored as usual, an Admission when answered here, a Rejection when refused.
   */
  readonly admit: (e: NostrEvent, ctx: RequestContext) => Effect.Effect<Admission | undefined, Rejection>
  // ---------------------------------------------------------------- operators (NIP-86)
  readonly list: () => ReadonlyArray<GroupSummary>
  /** Deletes a group, its events and the relay's events about it; its children become roots. */
  readonly deleteGroup: (id: string) => Effect.Effect<boolean, Rejection>
  /** Makes a pubkey an admin of a group (a member with these roles; default "admin"). */
  readonly putAdmin: (id: string, pubkey: string, roles?: ReadonlyArray<string>) => Effect.Effect<void, Rejection>
  /** Takes every role from a member (it stays a member); false when it had none. */
  readonly removeAdmin: (id: string, pubkey: string) => Effect.Effect<boolean, Rejection>
}

/** Events of a group looked at for `previous` references (29.md: "the last 50 events seen by the user"). */
const RECENT_WINDOW = 200
/** The relay's newest events looked at when a reference is not among its group's. */
const RELAY_WINDOW = 1000
/** Groups whose recent ids are kept in memory. */
const RECENT_GROUPS = 1000

const pass = Effect.succeed(undefined)
const stored: Admission = { store: true, message: "" }

export class Groups extends Context.Service<Groups, GroupsShape>()("parrhesia/groups/Groups") {
  static readonly layer = Layer.effect(
    Groups,
    Effect.gen(function* () {
      const config = yield* RelayConfig
      const view = yield* GroupView
      const store = yield* EventStore
      const fanout = yield* Fanout
      const identityOf = (yield* RelayIdentity).get
      const lock = yield* Semaphore.make(1)
      const locked = lock.withPermits(1)
      const identity = Effect.mapError(identityOf, couldNot("load the relay key"))
      const fresh = <A, E>(eff: Effect.Effect<A, E>) => Effect.provideService(eff, FreshReads, true)

      // ---------------------------------------------------------------- the relay's own events

      /** created_at of the relay's addressable events, per address: never twice the same second, so the newest wins. */
      const lastAt = new Map<string, number>()
      const nextAt = (address: string) =>
        Effect.map(nowSeconds, (now) => {
          const t = Math.max(now, (lastAt.get(address) ?? 0) + 1)
          lastAt.set(address, t)
          return t
        })

      const publish = (t: R.Template) =>
        Effect.gen(function* () {
          const me = yield* identity
          const address = t.kind >= 30000 ? `${t.kind}:${t.tags[0]![1]}` : undefined
          for (let attempt = 0; ; attempt++) {
            const created_at = address !== undefined ? yield* nextAt(address) : yield* nowSeconds
            const e = me.sign({ kind: t.kind, created_at, tags: t.tags, content: t.content })
            const outcome = yield* Effect.mapError(store.put(e), couldNot("store the group's state"))
            // Another process wrote a newer version of this address: date ours after it.
            if (outcome === "superseded" && attempt < 5) continue
            if (outcome === "stored") yield* fanout.publish(e)
            return
          }
        })

      /** Signs and publishes the state events of these groups (default: all of them). */
      const regenerate = (ids: Iterable<string>, kinds: ReadonlyArray<number> = R.PUBLISHED_KINDS) =>
        Effect.forEach(
          [...new Set(ids)],
          (id) => {
            const g = view.group(id)
            if (g === undefined) return Effect.void
            return Effect.forEach(
              R.relayEventsOf(g, view.members(id)).filter((t) => kinds.includes(t.kind)),
              publish,
              { discard: true }
            )
          },
          { discard: true }
        )

      /** The relay's own 9000 / 9001 for a join or leave (29.md: "the relay will automatically issue"). */
      const issue = (kind: number, group: string, pubkey: string, roles: ReadonlyArray<string> = []) =>
        publish({ kind, content: "", tags: [["h", group], ["p", pubkey, ...roles]] })

      // ---------------------------------------------------------------- timeline references

      const recent = new Map<string, Set<string>>()
      const loadRecent = (group: string) =>
        Effect.map(fresh(store.query([{ tags: { h: [group] }, limit: RECENT_WINDOW }])), (events) => {
          recent.delete(group)
          recent.set(group, new Set(events.map((e) => e.id.slice(0, 8))))
          if (recent.size > RECENT_GROUPS) recent.delete(recent.keys().next().value!)
          return events
        })
      const remember = (group: string, id: string) => void recent.get(group)?.add(id.slice(0, 8))

      const timeline = (e: NostrEvent, g: GroupRecord) =>
        Effect.gen(function* () {
          const refs = R.previousOf(e)
          if (R.failed(refs)) return yield* new Invalid({ message: refs.error })
          const min = config.groupsMinPrevious
          if (refs.length === 0 && min === 0) return
          let known = recent.get(g.id)
          const missing = () => refs.filter((r) => !known!.has(r))
          let events: ReadonlyArray<NostrEvent> | undefined
          if (known === undefined || missing().length > 0 || min > 0) {
            events = yield* Effect.mapError(loadRecent(g.id), couldNot("check the timeline references"))
            known = recent.get(g.id)!
          }
          let unknown = missing()
          if (unknown.length > 0) {
            // Not among the group's recent events: any recent event of this relay counts (29.md: "any event in the
            // last 50 events seen by the user in the relay"; refused are references to events not in its database).
            const newest = yield* Effect.mapError(fresh(store.query([{ limit: RELAY_WINDOW }])), couldNot("check the timeline references"))
            const seen = new Set(newest.map((x) => x.id.slice(0, 8)))
            unknown = unknown.filter((r) => !seen.has(r))
          }
          if (unknown.length > 0) {
            return yield* new Invalid({
              message: `unknown timeline reference${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}: a previous tag names the first 8 hex characters of recent events this relay has`
            })
          }
          if (min > 0) {
            // Others: not the author, and not the relay (its 9000 / 9001 may be referenced, but a group's first posts need not).
            const me = yield* identity
            const others = events!.slice(0, 50).filter((x) => x.pubkey !== e.pubkey && x.pubkey !== me.pubkey).length
            const need = Math.min(min, others)
            if (new Set(refs).size < need) {
              return yield* new Invalid({ message: `events of group ${g.id} must carry at least ${need} timeline references (previous) to recent events by others` })
            }
          }
        })

      const latePublication = (e: NostrEvent) =>
        Effect.flatMap(nowSeconds, (now) => {
          const max = config.groupsLatePublicationSeconds
          return max > 0 && e.created_at < now - max
            ? Effect.fail(new Invalid({ message: `this event is dated ${now - e.created_at} seconds ago: group events older than ${max} seconds are refused (NIP-29 late publication)` }))
            : Effect.void
        })

      // ---------------------------------------------------------------- deleting

      /** Deletes the events with these ids as their authors could (NIP-09 tombstones: they cannot come back). */
      const deleteEvents = (events: ReadonlyArray<NostrEvent>) =>
        Effect.gen(function* () {
          const byAuthor = new Map<string, Array<NostrEvent>>()
          for (const e of events) byAuthor.set(e.pubkey, [...(byAuthor.get(e.pubkey) ?? []), e])
          let removed = 0
          for (const [pubkey, es] of byAuthor) {
            removed += yield* store.deleteByRequest({ pubkey, ids: es.map((e) => e.id), addresses: [], until: Math.max(...es.map((e) => e.created_at)) })
          }
          return removed
        }).pipe(Effect.mapError(couldNot("delete the events")))

      const removeGroup = (g: GroupRecord) =>
        Effect.gen(function* () {
          // Its children become roots; its parent forgets it.
          const updated: Array<GroupRecord> = []
          for (const c of g.children) {
            const child = view.group(c)
            if (child !== undefined && child.parent === g.id) updated.push({ ...child, parent: null })
          }
          const parent = g.parent === null ? undefined : view.group(g.parent)
          if (parent !== undefined) updated.push({ ...parent, children: parent.children.filter((c) => c !== g.id) })
          const removed = yield* Effect.mapError(view.deleteGroup(g.id, updated), couldNot("delete the group"))
          if (!removed) return false
          // The relay's state events of the group (its own addressable events, deleted as their author), every
          // version up to the newest (dated ahead of now when it changed several times in a second).
          const me = yield* identity
          const current = yield* Effect.mapError(
            fresh(store.query([{ kinds: R.RELAY_GROUP_KINDS, authors: [me.pubkey], tags: { d: [g.id] } }])),
            couldNot("find the group's state")
          )
          let until = yield* nowSeconds
          for (const k of R.RELAY_GROUP_KINDS) until = Math.max(until, lastAt.get(`${k}:${g.id}`) ?? 0)
          for (const e of current) until = Math.max(until, e.created_at)
          for (const k of R.RELAY_GROUP_KINDS) lastAt.set(`${k}:${g.id}`, until)
          yield* Effect.mapError(
            store.deleteByRequest({ pubkey: me.pubkey, ids: [], addresses: R.RELAY_GROUP_KINDS.map((kind) => ({ kind, pubkey: me.pubkey, d: g.id })), until }),
            couldNot("delete the group's state")
          )
          // Its events: a private group's history must not become readable by all.
          for (let round = 0; round < 10_000; round++) {
            const batch = yield* Effect.mapError(fresh(store.query([{ tags: { h: [g.id] }, limit: 500 }])), couldNot("find the group's events"))
            if (batch.length === 0 || (yield* deleteEvents(batch)) === 0) break
          }
          recent.delete(g.id)
          yield* regenerate(updated.map((u) => u.id), [R.GROUP_METADATA])
          return true
        })

      // ---------------------------------------------------------------- requests

      const create = (e: NostrEvent, ctx: RequestContext, id: string) =>
        Effect.gen(function* () {
          if (!R.isGroupId(id)) return yield* new Invalid({ message: "a group id is 1 to 128 letters, digits, - and _" })
          if (config.groupCreation === "off") return yield* new Restricted({ message: "creating groups is off on this relay" })
          if (!ctx.authenticated.has(e.pubkey)) {
            return yield* ctx.authenticated.size === 0
              ? new AuthRequired({ message: "create a group after AUTH (NIP-42) as its creator" })
              : new Restricted({ message: "a group is created by the pubkey this connection authenticated as (NIP-42)" })
          }
          if (config.groupCreation === "members" && !view.isMember(RELAY_SCOPE, e.pubkey)) {
            return yield* new Restricted({ message: "only members of this relay (NIP-43) may create groups" })
          }
          if (config.groupCreation === "admins" && !config.adminPubkeys.includes(e.pubkey)) {
            return yield* new Restricted({ message: "only the relay's administrators may create groups" })
          }
          yield* latePublication(e)
          const made = yield* Effect.mapError(
            view.createGroup(R.newGroup(id, e.created_at), { scope: id, pubkey: e.pubkey, roles: R.CREATOR_ROLES }),
            couldNot("create the group")
          )
          if (!made) return yield* new Duplicate({ message: `group ${id} already exists` })
          // The creator's role as a relay 9000 too, so the group's state can be rebuilt from its events alone.
          yield* issue(R.PUT_USER, id, e.pubkey, R.CREATOR_ROLES)
          yield* regenerate([id])
          remember(id, e.id)
          return stored
        })

      const join = (e: NostrEvent, g: GroupRecord) =>
        Effect.gen(function* () {
          if (view.isMember(g.id, e.pubkey)) return yield* new Duplicate({ message: `you are already a member of group ${g.id}` })
          const code = firstTagValue(e, "code")
          let invited = false
          if (code !== undefined && code !== "") {
            const invite = yield* Effect.mapError(view.claimInvite(g.id, code), couldNot("check the invite code"))
            invited = invite !== undefined && (invite.expiresAt === 0 || invite.expiresAt >= (yield* nowSeconds))
            if (!invited && g.closed) return yield* new Restricted({ message: `that invite code is not valid for group ${g.id}, which is closed: ask one of its admins for a valid one` })
          }
          if (g.closed && !invited) {
            return yield* new Restricted({ message: `group ${g.id} is closed: a join request needs an invite code (a code tag); this request is refused, not kept for review` })
          }
          yield* Effect.mapError(view.putMember({ scope: g.id, pubkey: e.pubkey, roles: [] }), couldNot("store the membership"))
          yield* issue(R.PUT_USER, g.id, e.pubkey)
          yield* regenerate([g.id], [R.GROUP_MEMBERS])
          return stored
        })

      const leave = (e: NostrEvent, g: GroupRecord) =>
        Effect.gen(function* () {
          const removed = yield* Effect.mapError(view.removeMember(g.id, e.pubkey), couldNot("store the membership"))
          if (!removed) return yield* new Duplicate({ message: `you are not a member of group ${g.id}` })
          yield* issue(R.REMOVE_USER, g.id, e.pubkey)
          yield* regenerate([g.id], [R.GROUP_ADMINS, R.GROUP_MEMBERS])
          return stored
        })

      const moderate = (e: NostrEvent, g: GroupRecord) =>
        Effect.gen(function* () {
          const need = R.PERMISSION_OF_KIND[e.kind]
          if (need === undefined) return yield* new Invalid({ message: `kind ${e.kind} is not a moderation action this relay knows (9000-9002, 9005, 9007-9010)` })
          const me = yield* identity
          const actorRoles = view.rolesOf(g.id, e.pubkey)
          const mine = e.pubkey === me.pubkey ? new Set(R.ALL_PERMISSIONS) : R.permissionsOf(actorRoles)
          if (!mine.has(need)) {
            return yield* new Restricted({
              message: actorRoles === undefined ? `only members of group ${g.id} whose role permits it may ${need}` : `your roles in group ${g.id} do not permit ${need} (see its kind 39003)`
            })
          }
          switch (e.kind) {
            case R.PUT_USER:
            case R.REMOVE_USER: {
              const users = R.usersOf(e)
              if (R.failed(users)) return yield* new Invalid({ message: users.error })
              for (const u of users) {
                const current = view.rolesOf(g.id, u.pubkey)
                if (current !== undefined && u.pubkey !== e.pubkey && !R.outranks(mine, R.permissionsOf(current))) {
                  return yield* new Restricted({ message: `you cannot change a member of group ${g.id} who holds permissions you lack` })
                }
                if (e.kind === R.PUT_USER && !R.outranks(mine, R.permissionsOf(u.roles))) {
                  return yield* new Restricted({ message: `you cannot grant roles with permissions you lack (${u.roles.join(", ")})` })
                }
              }
              for (const u of users) {
                yield* Effect.mapError(
                  e.kind === R.PUT_USER ? view.putMember({ scope: g.id, pubkey: u.pubkey, roles: u.roles }) : view.removeMember(g.id, u.pubkey),
                  couldNot("store the membership")
                )
              }
              yield* regenerate([g.id], [R.GROUP_ADMINS, R.GROUP_MEMBERS])
              return stored
            }
            case R.EDIT_METADATA: {
              const parsed = R.metadataOf(e, g)
              if (R.failed(parsed)) return yield* new Invalid({ message: parsed.error })
              const children = R.childOrder(g.children, parsed.children)
              if (R.failed(children)) return yield* new Invalid({ message: children.error })
              const parent = parsed.group.parent
              const wrong = R.hierarchyError(view.group, g.id, parent)
              if (wrong !== undefined) return yield* new Invalid({ message: wrong })
              if (parent !== null && e.pubkey !== me.pubkey && !R.isAdmin(view.rolesOf(parent, e.pubkey))) {
                return yield* new Restricted({ message: `only an admin of ${parent} (per its kind 39001) may make it the parent of ${g.id}` })
              }
              const saves: Array<GroupRecord> = [{ ...parsed.group, children }]
              if (parent !== g.parent) {
                const old = g.parent === null ? undefined : view.group(g.parent)
                if (old !== undefined) saves.push({ ...old, children: old.children.filter((c) => c !== g.id) })
                const next = parent === null ? undefined : view.group(parent)
                if (next !== undefined) saves.push({ ...next, children: [...next.children.filter((c) => c !== g.id), g.id] })
              }
              yield* Effect.mapError(view.saveGroups(saves), couldNot("store the metadata"))
              yield* regenerate(saves.map((s) => s.id), [R.GROUP_METADATA])
              return stored
            }
            case R.DELETE_EVENT: {
              const ids = e.tags.filter((t) => t[0] === "e").map((t) => t[1] ?? "")
              if (ids.length === 0 || ids.some((id) => !/^[0-9a-f]{64}$/.test(id))) return yield* new Invalid({ message: "name the events to delete in e tags (64-hex ids)" })
              const found = yield* Effect.mapError(fresh(store.query([{ ids, limit: ids.length }])), couldNot("find the events"))
              const foreign = found.find((x) => R.groupIdOf(x) !== g.id)
              if (foreign !== undefined) return yield* new Invalid({ message: `event ${foreign.id} is not in group ${g.id}` })
              yield* deleteEvents(found)
              return { ...stored, forget: ids } satisfies Admission
            }
            case R.DELETE_GROUP: {
              yield* removeGroup(g)
              return { store: false, message: "", forget: "all" } satisfies Admission
            }
            case R.CREATE_INVITE: {
              const code = firstTagValue(e, "code")
              if (code === undefined || code === "" || code.length > 200) return yield* new Invalid({ message: "a create-invite carries its code (1-200 characters) in a code tag" })
              yield* Effect.mapError(view.addInvite({ scope: g.id, code, expiresAt: 0, singleUse: false }), couldNot("store the invite"))
              return stored
            }
            case R.UPDATE_PINS: {
              const pins = R.pinsOf(e)
              if (R.failed(pins)) return yield* new Invalid({ message: pins.error })
              yield* Effect.mapError(view.saveGroups([{ ...g, pins }]), couldNot("store the pins"))
              yield* regenerate([g.id], [R.GROUP_PINS])
              return stored
            }
          }
          return yield* new Invalid({ message: `kind ${e.kind} is not a moderation action this relay knows` })
        })

      /** An ordinary event of a managed group: restricted groups take their members' only, and the kinds they list. */
      const message = (e: NostrEvent, g: GroupRecord) => {
        if (g.restricted && !view.isMember(g.id, e.pubkey)) return Effect.fail(new Restricted({ message: `only members may write to group ${g.id}` }))
        if (g.supportedKinds !== null && !g.supportedKinds.includes(String(e.kind))) {
          return Effect.fail(new Blocked({ message: `group ${g.id} does not take kind ${e.kind}` }))
        }
        return pass
      }

      const admit = (e: NostrEvent, ctx: RequestContext): Effect.Effect<Admission | undefined, Rejection> => {
        if (e.kind >= R.GROUP_METADATA && e.kind <= R.GROUP_PINS) {
          return Effect.flatMap(identity, (me) =>
            e.pubkey === me.pubkey ? pass : Effect.fail(new Blocked({ message: `kind ${e.kind} is group state this relay signs with its own key (NIP-29)` }))
          )
        }
        if (e.kind === R.MLS_GROUP_MESSAGE) return pass
        const id = R.groupIdOf(e)
        if (id === undefined) {
          return R.isGroupManagementKind(e.kind) ? Effect.fail(new Invalid({ message: "a group event needs an h tag naming its group (NIP-29)" })) : pass
        }
        if (R.failed(id)) return Effect.fail(new Invalid({ message: id.error }))
        const existing = view.group(id)
        if (existing === undefined) {
          if (e.kind === R.CREATE_GROUP) return locked(Effect.suspend(() => (view.group(id) !== undefined ? Effect.fail(new Duplicate({ message: `group ${id} already exists` })) : create(e, ctx, id))))
          if (R.isGroupManagementKind(e.kind) || !config.groupsUnmanaged) return Effect.fail(new Invalid({ message: `there is no group ${id} on this relay (NIP-29)` }))
          return pass
        }
        return Effect.gen(function* () {
          yield* latePublication(e)
          yield* timeline(e, existing)
          if (!R.isGroupManagementKind(e.kind)) {
            yield* message(e, existing)
            remember(id, e.id)
            return undefined
          }
          if (e.kind === R.CREATE_GROUP) return yield* new Duplicate({ message: `group ${id} already exists` })
          // The group as it is once the lock is held (another change may have come first).
          const answer = yield* locked(
            Effect.suspend((): Effect.Effect<Admission, Rejection> => {
              const g = view.group(id)
              if (g === undefined) return Effect.fail(new Invalid({ message: `there is no group ${id} on this relay (NIP-29)` }))
              return e.kind === R.JOIN_REQUEST ? join(e, g) : e.kind === R.LEAVE_REQUEST ? leave(e, g) : moderate(e, g)
            })
          )
          if (answer.store) remember(id, e.id)
          return answer
        })
      }

      const list = () =>
        view.groups().map((g): GroupSummary => {
          const members = view.members(g.id)
          return {
            id: g.id,
            name: g.name,
            private: g.private,
            restricted: g.restricted,
            hidden: g.hidden,
            closed: g.closed,
            parent: g.parent,
            children: g.children,
            members: members.length,
            admins: members.filter((m) => R.isAdmin(m.roles)).map((m) => ({ pubkey: m.pubkey, roles: m.roles }))
          }
        })

      const noGroup = (id: string) => new Invalid({ message: `there is no group ${id} on this relay` })

      const concerns = (e: NostrEvent) => {
        if ((e.kind >= 9000 && e.kind <= 9022) || (e.kind >= R.GROUP_METADATA && e.kind <= R.GROUP_PINS)) return true
        for (const t of e.tags) if (t[0] === "h") return true
        return false
      }

      return Groups.of({
        enabled: config.groups,
        concerns,
        admit: config.groups ? admit : () => pass,
        list,
        deleteGroup: (id) =>
          locked(
            Effect.suspend(() => {
              const g = view.group(id)
              return g === undefined ? Effect.succeed(false) : removeGroup(g)
            })
          ),
        putAdmin: (id, pubkey, roles = R.CREATOR_ROLES) =>
          locked(
            Effect.gen(function* () {
              if (view.group(id) === undefined) return yield* noGroup(id)
              yield* Effect.mapError(view.putMember({ scope: id, pubkey, roles }), couldNot("store the membership"))
              yield* issue(R.PUT_USER, id, pubkey, roles)
              yield* regenerate([id], [R.GROUP_ADMINS, R.GROUP_MEMBERS])
            })
          ),
        removeAdmin: (id, pubkey) =>
          locked(
            Effect.gen(function* () {
              if (view.group(id) === undefined) return yield* noGroup(id)
              const roles = view.rolesOf(id, pubkey)
              if (roles === undefined || roles.length === 0) return false
              yield* Effect.mapError(view.putMember({ scope: id, pubkey, roles: [] }), couldNot("store the membership"))
              yield* issue(R.PUT_USER, id, pubkey)
              yield* regenerate([id], [R.GROUP_ADMINS, R.GROUP_MEMBERS])
              return true
            })
          )
      })
    })
  )
}
