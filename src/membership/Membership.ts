/**
 * NIP-43 relay membership. Members (with their role ids), unclaimed invite
 * codes and role definitions live in the group store's relay scope
 * (GroupView, RELAY_SCOPE), beside the NIP-29 groups: who belongs is kept in
 * one place. The relay signs, with its own key, the member list (kind 13534,
 * each `member` tag followed by the member's role ids), an add (8000) or
 * remove (8001) event for each change and one role definition (33534) per
 * role, all with the NIP-70 `-` tag, and stores and fans them out itself.
 * Join requests (28934) claim an invite code once; leave requests (28936) end
 * a membership; a REQ for kind 28935 by an authenticated member gets a fresh
 * invite, signed on the fly.
 */
import { randomBytes } from "node:crypto"
import { Context, Effect, Layer } from "effect"
import { RelayIdentity } from "../auth/RelayIdentity.ts"
import { RelayConfig } from "../config/RelayConfig.ts"
import { GroupView } from "../groups/GroupView.ts"
import { couldNot, firstTagValue, Invalid, nowSeconds, Restricted, type NostrEvent, type Rejection } from "../nostr/index.ts"
import { sameRelayUrl } from "../nostr/relayUrl.ts"
import { EventStore, FreshReads } from "../storage/EventStore.ts"
import { RELAY_SCOPE, type RoleRecord } from "../storage/GroupStore.ts"
import { Fanout } from "../subscriptions/Fanout.ts"

export const JOIN_KIND = 28934
export const INVITE_KIND = 28935
export const LEAVE_KIND = 28936
export const MEMBER_LIST_KIND = 13534
export const ADD_MEMBER_KIND = 8000
export const REMOVE_MEMBER_KIND = 8001
export const ROLE_KIND = 33534
/** A member's own list of the relays it belongs to (43.md: consulted beside the relay's 13534). */
export const MEMBER_RELAYS_KIND = 10010
/** How far a join or leave request's created_at may be from now ("now, plus or minus a few minutes"). */
export const REQUEST_WINDOW_SECONDS = 300

export interface MemberEntry {
  readonly pubkey: string
  readonly roles: ReadonlyArray<string>
}

/** A member as both sides see it (43.md: consult the relay's 13534 and the member's own 10010). */
export interface ListedMember extends MemberEntry {
  /** Whether the member's latest kind 10010 here names this relay (a `relay` or `r` tag); null: it has none here. */
  readonly listed: boolean | null
}

/** A role as an operator gives it (NIP-86 `setmemberrole`); "" leaves an optional tag out. */
export type RoleInput = Omit<RoleRecord, "scope">

export interface MembershipShape {
  readonly enabled: boolean
  /** Answers a join (28934) or leave (28936) request: the OK message when accepted, a Rejection otherwise. */
  readonly handleRequest: (e: NostrEvent) => Effect.Effect<string, Rejection>
  /** A fresh invite code, signed as a kind 28935 event (the caller checked the requester is a member). */
  readonly inviteEvent: Effect.Effect<NostrEvent, Rejection>
  /** A fresh invite code for an operator to hand out. */
  readonly createInvite: Effect.Effect<string, Rejection>
  /** Adds a member, or changes its roles (role ids of `roles()`); false when nothing changed. */
  readonly addMember: (pubkey: string, roles?: ReadonlyArray<string>) => Effect.Effect<boolean, Rejection>
  readonly removeMember: (pubkey: string) => Effect.Effect<boolean, Rejection>
  readonly isMember: (pubkey: string) => boolean
  readonly members: () => ReadonlyArray<MemberEntry>
  /** The members with what their own 10010 says, this relay being known by `urls`. */
  readonly listedMembers: (urls: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<ListedMember>, Rejection>
  /** Defines (or redefines) a role and publishes its kind 33534. */
  readonly setRole: (role: RoleInput) => Effect.Effect<void, Rejection>
  /** Removes a role (from every member too), deletes its 33534 and republishes the member list. */
  readonly removeRole: (id: string) => Effect.Effect<boolean, Rejection>
  readonly roles: () => ReadonlyArray<RoleInput>
}

export class Membership extends Context.Service<Membership, MembershipShape>()("parrhesia/membership/Membership") {
  static readonly layer = Layer.effect(
    Membership,
    Effect.gen(function* () {
      const config = yield* RelayConfig
      const view = yield* GroupView
      const store = yield* EventStore
      const fanout = yield* Fanout
      const identityOf = (yield* RelayIdentity).get
      const enabled = config.nip43

      /** created_at of the relay's events: never twice the same second, so a newer member list always wins. */
      let lastAt = 0
      const nextAt = Effect.map(nowSeconds, (now) => (lastAt = Math.max(now, lastAt + 1)))

      const publishSigned = (kind: number, tags: ReadonlyArray<ReadonlyArray<string>>) =>
        Effect.gen(function* () {
          const identity = yield* Effect.mapError(identityOf, couldNot("load the relay key"))
          const e = identity.sign({ kind, created_at: yield* nextAt, tags: [["-"], ...tags], content: "" })
          yield* Effect.mapError(store.put(e), couldNot("store the membership event"))
          yield* fanout.publish(e)
        })

      const members = () => view.members(RELAY_SCOPE).map((m) => ({ pubkey: m.pubkey, roles: m.roles }))
      const memberList = Effect.suspend(() => publishSigned(MEMBER_LIST_KIND, members().map((m) => ["member", m.pubkey, ...m.roles])))

      const addMember = (pubkey: string, roles: ReadonlyArray<string> = []) =>
        Effect.gen(function* () {
          const before = view.rolesOf(RELAY_SCOPE, pubkey)
          if (before !== undefined && before.length === roles.length && before.every((r, i) => r === roles[i])) return false
          const known = new Set(view.roles(RELAY_SCOPE).map((r) => r.id))
          const unknown = roles.find((r) => !known.has(r))
          if (unknown !== undefined) return yield* new Invalid({ message: `no role ${unknown} is defined on this relay` })
          const added = yield* Effect.mapError(view.putMember({ scope: RELAY_SCOPE, pubkey, roles }), couldNot("store the membership"))
          if (added) yield* publishSigned(ADD_MEMBER_KIND, [["p", pubkey]])
          yield* memberList
          return true
        })
      const removeMember = (pubkey: string) =>
        Effect.gen(function* () {
          const removed = yield* Effect.mapError(view.removeMember(RELAY_SCOPE, pubkey), couldNot("store the membership"))
          if (removed) {
            yield* publishSigned(REMOVE_MEMBER_KIND, [["p", pubkey]])
            yield* memberList
          }
          return removed
        })

      const createInvite = Effect.gen(function* () {
        const code = randomBytes(16).toString("base64url")
        const now = yield* nowSeconds
        yield* Effect.mapError(view.addInvite({ scope: RELAY_SCOPE, code, expiresAt: now + config.inviteTtlSeconds, singleUse: true }), couldNot("store the invite"))
        return code
      })

      const inRequestWindow = (e: NostrEvent) =>
        Effect.flatMap(nowSeconds, (now) =>
          Math.abs(e.created_at - now) > REQUEST_WINDOW_SECONDS
            ? Effect.fail(new Invalid({ message: `a membership request must be dated within ${REQUEST_WINDOW_SECONDS} seconds of now` }))
            : Effect.void
        )

      const join = (e: NostrEvent) =>
        Effect.gen(function* () {
          yield* inRequestWindow(e)
          const claim = firstTagValue(e, "claim")
          if (claim === undefined || claim === "") return yield* new Restricted({ message: "a join request needs a claim tag with an invite code" })
          if (view.isMember(RELAY_SCOPE, e.pubkey)) return "duplicate: you are already a member of this relay"
          const invite = yield* Effect.mapError(view.claimInvite(RELAY_SCOPE, claim), couldNot("check the invite"))
          if (invite === undefined) return yield* new Restricted({ message: "that is an invalid invite code" })
          if (invite.expiresAt !== 0 && invite.expiresAt < (yield* nowSeconds)) return yield* new Restricted({ message: "that invite code is expired" })
          yield* addMember(e.pubkey)
          return `info: welcome to ${config.relayUrl || config.name}!`
        })

      const leave = (e: NostrEvent) =>
        Effect.gen(function* () {
          yield* inRequestWindow(e)
          const removed = yield* removeMember(e.pubkey)
          return removed ? "info: you are no longer a member of this relay" : "duplicate: you were not a member of this relay"
        })

      const roleTags = (r: RoleInput): ReadonlyArray<ReadonlyArray<string>> => [
        ["d", r.id],
        ...(r.label !== "" ? [["label", r.label]] : []),
        ...(r.description !== "" ? [["description", r.description]] : []),
        ...(r.color !== "" ? [["color", r.color]] : []),
        ...(r.order !== "" ? [["order", r.order]] : [])
      ]

      const setRole = (r: RoleInput) =>
        Effect.gen(function* () {
          yield* Effect.mapError(view.putRole({ scope: RELAY_SCOPE, ...r }), couldNot("store the role"))
          yield* publishSigned(ROLE_KIND, roleTags(r))
        })

      const removeRole = (id: string) =>
        Effect.gen(function* () {
          const hadMembers = view.members(RELAY_SCOPE).some((m) => m.roles.includes(id))
          const removed = yield* Effect.mapError(view.removeRole(RELAY_SCOPE, id), couldNot("remove the role"))
          if (!removed) return false
          const identity = yield* Effect.mapError(identityOf, couldNot("load the relay key"))
          // The role's definition is the relay's own addressable event: deleted as its author would (NIP-09).
          yield* Effect.mapError(
            store.deleteByRequest({ pubkey: identity.pubkey, ids: [], addresses: [{ kind: ROLE_KIND, pubkey: identity.pubkey, d: id }], until: yield* nextAt }),
            couldNot("delete the role event")
          )
          if (hadMembers) yield* memberList
          return true
        })

      /** 43.md: membership is both the relay's list and the member's own 10010 naming the relay. */
      const listedMembers = (urls: ReadonlyArray<string>) =>
        Effect.gen(function* () {
          const all = members()
          const lists =
            all.length === 0
              ? []
              : yield* Effect.mapError(
                  Effect.provideService(store.query([{ kinds: [MEMBER_RELAYS_KIND], authors: all.map((m) => m.pubkey) }]), FreshReads, true),
                  couldNot("read the members' relay lists")
                )
          const byAuthor = new Map(lists.map((e) => [e.pubkey, e]))
          return all.map((m): ListedMember => {
            const list = byAuthor.get(m.pubkey)
            if (list === undefined) return { ...m, listed: null }
            const named = list.tags.some((t) => (t[0] === "relay" || t[0] === "r") && t[1] !== undefined && urls.some((u) => sameRelayUrl(t[1]!, u)))
            return { ...m, listed: named }
          })
        })

      return Membership.of({
        enabled,
        handleRequest: (e) => (e.kind === JOIN_KIND ? join(e) : leave(e)),
        inviteEvent: Effect.gen(function* () {
          const code = yield* createInvite
          const identity = yield* Effect.mapError(identityOf, couldNot("load the relay key"))
          return identity.sign({ kind: INVITE_KIND, created_at: yield* nowSeconds, tags: [["-"], ["claim", code]], content: "" })
        }),
        createInvite,
        addMember,
        removeMember,
        isMember: (pk) => view.isMember(RELAY_SCOPE, pk),
        members,
        listedMembers,
        setRole,
        removeRole,
        roles: () => view.roles(RELAY_SCOPE).map(({ scope: _scope, ...r }) => r)
      })
    })
  )
}
