/**
 * NIP-43 relay membership. Members and unclaimed invite codes live in the
 * Moderation lists (persisted with the moderation store). The relay signs,
 * with its own key, the member list (kind 13534) and an add (8000) or remove
 * (8001) event for each change, all with the NIP-70 `-` tag, and stores and
 * fans them out itself. Join requests (28934) claim an invite code once;
 * leave requests (28936) end a membership; a REQ for kind 28935 by an
 * authenticated member gets a fresh invite, signed on the fly.
 */
import { randomBytes } from "node:crypto"
import { Context, Effect, Layer } from "effect"
import { RelayIdentity } from "../auth/RelayIdentity.ts"
import { RelayConfig } from "../config/RelayConfig.ts"
import { Moderation } from "../moderation/Moderation.ts"
import { firstTagValue, Invalid, nowSeconds, Restricted, ServerError, type NostrEvent, type Rejection } from "../nostr/index.ts"
import { EventStore } from "../storage/EventStore.ts"
import { Fanout } from "../subscriptions/Fanout.ts"

export const JOIN_KIND = 28934
export const INVITE_KIND = 28935
export const LEAVE_KIND = 28936
export const MEMBER_LIST_KIND = 13534
export const ADD_MEMBER_KIND = 8000
export const REMOVE_MEMBER_KIND = 8001
/** How far a join or leave request's created_at may be from now ("now, plus or minus a few minutes"). */
export const REQUEST_WINDOW_SECONDS = 300

export interface MembershipShape {
  readonly enabled: boolean
  /** Answers a join (28934) or leave (28936) request: the OK message when accepted, a Rejection otherwise. */
  readonly handleRequest: (e: NostrEvent) => Effect.Effect<string, Rejection>
  /** A fresh invite code, signed as a kind 28935 event (the caller checked the requester is a member). */
  readonly inviteEvent: Effect.Effect<NostrEvent, Rejection>
  /** A fresh invite code for an operator to hand out. */
  readonly createInvite: Effect.Effect<string, Rejection>
  readonly addMember: (pubkey: string) => Effect.Effect<boolean, Rejection>
  readonly removeMember: (pubkey: string) => Effect.Effect<boolean, Rejection>
  readonly members: () => ReadonlyArray<string>
}

export class Membership extends Context.Service<Membership, MembershipShape>()("parrhesia/membership/Membership") {
  static readonly layer = Layer.effect(
    Membership,
    Effect.gen(function* () {
      const config = yield* RelayConfig
      const moderation = yield* Moderation
      const store = yield* EventStore
      const fanout = yield* Fanout
      const identityOf = (yield* RelayIdentity).get
      const enabled = config.nip43
      const failed = (what: string) => (e: { readonly message: string }) => new ServerError({ message: `could not ${what} (${e.message})` })

      /** created_at of the relay's events: never twice the same second, so a newer member list always wins. */
      let lastAt = 0
      const nextAt = Effect.map(nowSeconds, (now) => (lastAt = Math.max(now, lastAt + 1)))

      const publishSigned = (kind: number, tags: ReadonlyArray<ReadonlyArray<string>>) =>
        Effect.gen(function* () {
          const identity = yield* Effect.mapError(identityOf, failed("load the relay key"))
          const e = identity.sign({ kind, created_at: yield* nextAt, tags: [["-"], ...tags], content: "" })
          yield* Effect.mapError(store.put(e), failed("store the membership event"))
          yield* fanout.publish(e)
        })

      const announce = (pubkey: string, added: boolean) =>
        Effect.andThen(
          publishSigned(added ? ADD_MEMBER_KIND : REMOVE_MEMBER_KIND, [["p", pubkey]]),
          publishSigned(MEMBER_LIST_KIND, moderation.list("members").map((m) => ["member", m.value]))
        )

      const addMember = (pubkey: string) =>
        Effect.gen(function* () {
          const added = yield* Effect.mapError(moderation.addMember(pubkey), failed("store the membership"))
          if (added) yield* announce(pubkey, true)
          return added
        })
      const removeMember = (pubkey: string) =>
        Effect.gen(function* () {
          const removed = yield* Effect.mapError(moderation.removeMember(pubkey), failed("store the membership"))
          if (removed) yield* announce(pubkey, false)
          return removed
        })

      const createInvite = Effect.gen(function* () {
        const code = randomBytes(16).toString("base64url")
        const now = yield* nowSeconds
        yield* Effect.mapError(moderation.addInvite(code, now + config.inviteTtlSeconds), failed("store the invite"))
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
          if (moderation.isMember(e.pubkey)) return "duplicate: you are already a member of this relay"
          const expires = yield* Effect.mapError(moderation.takeInvite(claim), failed("check the invite"))
          if (expires === undefined) return yield* new Restricted({ message: "that is an invalid invite code" })
          if (expires < (yield* nowSeconds)) return yield* new Restricted({ message: "that invite code is expired" })
          yield* addMember(e.pubkey)
          return `info: welcome to ${config.relayUrl || config.name}!`
        })

      const leave = (e: NostrEvent) =>
        Effect.gen(function* () {
          yield* inRequestWindow(e)
          const removed = yield* removeMember(e.pubkey)
          return removed ? "info: you are no longer a member of this relay" : "duplicate: you were not a member of this relay"
        })

      return Membership.of({
        enabled,
        handleRequest: (e) => (e.kind === JOIN_KIND ? join(e) : leave(e)),
        inviteEvent: Effect.gen(function* () {
          const code = yield* createInvite
          const identity = yield* Effect.mapError(identityOf, failed("load the relay key"))
          return identity.sign({ kind: INVITE_KIND, created_at: yield* nowSeconds, tags: [["-"], ["claim", code]], content: "" })
        }),
        createInvite,
        addMember,
        removeMember,
        members: () => moderation.list("members").map((m) => m.value)
      })
    })
  )
}
