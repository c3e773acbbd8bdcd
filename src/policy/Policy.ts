/**
 * Policy: ordered lists of small checks on writes and reads (khatru's idea,
 * with typed Effects). Each check either succeeds or fails with a Rejection
 * carrying its NIP-01 prefix; the first failure wins. The lists are
 * assembled from the configuration (`fromSettings`); adding a rule means
 * writing one function (limits.ts, access.ts) and listing it here.
 *
 * Besides the checks, Policy decides what a connection may see: `canServe`
 * for each event sent (stored or live) and `scopeFilters`, which narrows a
 * REQ/COUNT's filters so the store returns only that (private kinds).
 */
import { Context, Effect, Layer } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import type { Settings } from "../config/settings.ts"
import { GroupView } from "../groups/GroupView.ts"
import { Moderation, type ModerationShape } from "../moderation/Moderation.ts"
import { nowSeconds, type Filter, type NostrEvent, type Rejection, type ServedEvent } from "../nostr/index.ts"
import { RELAY_SCOPE } from "../storage/GroupStore.ts"
import * as Access from "./access.ts"
import { groupsNeedMembership, hasGroupRestrictions, mayReadGroupEvent, scopeGroups, type GroupReads } from "./groups.ts"
import { limitChecks } from "./limits.ts"
import type { ReadCheck, RequestContext, WriteCheck } from "./types.ts"

export type { EventSource, ReadCheck, RequestContext, SourceType, WriteCheck } from "./types.ts"
export { limitChecks } from "./limits.ts"

const pass = Effect.void

/** NIP-29 kinds that carry an invite code (create-invite 9009, join request 9021): served to their author only. */
const SECRET_GROUP_KINDS = [9009, 9021]

/**
 * Runs checks in order, the first failure wins. A check that passes returns the shared
 * `Effect.void`, recognised here without running it: on the hot path (every EVENT, every
 * REQ) a list of passing checks costs a loop of function calls, not a chain of effects.
 */
export const runAll = <Args extends ReadonlyArray<unknown>>(checks: ReadonlyArray<(...args: Args) => Effect.Effect<void, Rejection>>) => {
  const from = (i: number, args: Args): Effect.Effect<void, Rejection> => {
    for (; i < checks.length; i++) {
      const r = checks[i]!(...args)
      if (r === pass) continue
      const next = i + 1
      return next === checks.length ? r : Effect.flatMap(r, () => from(next, args))
    }
    return pass
  }
  return (...args: Args) => from(0, args)
}

export interface PolicyShape {
  /** Cheap checks (limits, PoW, the operator's lists): run before hashing and signature checks. */
  readonly checkLimits: (ctx: RequestContext, event: NostrEvent) => Effect.Effect<void, Rejection>
  /** Every other write rule: run after the signature is known good. */
  readonly checkWrite: (ctx: RequestContext, event: NostrEvent) => Effect.Effect<void, Rejection>
  readonly checkRead: (ctx: RequestContext, filters: ReadonlyArray<Filter>) => Effect.Effect<void, Rejection>
  /** Whether this event may be sent to this connection (live or stored). Synchronous: runs per delivery. */
  readonly canServe: (ctx: RequestContext, event: NostrEvent) => boolean
  /** `canServe` for a stored event served as its text: the event is parsed only when a private kind needs its tags. */
  readonly canServeStored: (ctx: RequestContext, event: ServedEvent) => boolean
  /** Whether the operator's bans hide an event (by id or author) from every reader; for NIP-77, which sees no whole events. */
  readonly isBanned: (id: string, pubkey: string) => boolean
  /** The filters to give the store for one client filter, so it returns only what `canServe` allows. */
  readonly scopeFilter: (ctx: RequestContext, filter: Filter) => ReadonlyArray<Filter>
}

export interface PolicyLists {
  readonly limits: ReadonlyArray<WriteCheck>
  readonly write: ReadonlyArray<WriteCheck>
  readonly read: ReadonlyArray<ReadCheck>
  /** Kinds served only to their author or `p`-tagged recipients. */
  readonly privateKinds?: ReadonlySet<number>
  /** Bans that hide stored events from every reader. */
  readonly moderation?: ModerationShape
  /** NIP-29: private groups' events and hidden groups' state served to their members only. */
  readonly groups?: GroupReads
}

/**
 * The write and read rules the configuration asks for, in order. `members` is NIP-43 relay
 * membership (the group store's relay scope): without it the NIP-43 rules are left out; `groups`
 * the NIP-29 groups (GroupView): with `groups` on, their read rules, and the kinds that carry
 * invite codes (9009, 9021) served to their authors only.
 */
export const fromSettings = (s: Settings, m: ModerationShape, members?: Access.RelayMembers, groups?: GroupReads): PolicyLists => {
  const withGroups = s.groups && groups !== undefined
  const privateKinds = new Set([...s.restrictedReadKinds, ...(withGroups ? SECRET_GROUP_KINDS : [])])
  const authWrites = s.authRequired === "writes" || s.authRequired === "all"
  const authReads = s.authRequired === "reads" || s.authRequired === "all"
  return {
    // The operator's lists are Set lookups: checked before the id and signature, so banned
    // and unwanted events cost no hashing or verification (and a resent banned event is
    // refused rather than answered as a duplicate).
    limits: [
      ...limitChecks(s),
      Access.notBannedEvent(m),
      Access.notBannedAuthor(m),
      Access.allowedAuthor(m),
      Access.allowedKind(m),
      ...(s.nip43 && s.membersOnly !== "off" && members !== undefined ? [Access.memberAuthor(members)] : [])
    ],
    write: [
      ...(authWrites ? [Access.authForWrites] : []),
      Access.protectedEvents,
      ...(s.giftWrapAuth ? [Access.giftWrapsNeedAuth] : []),
      ...(s.giftWrapMinPow > 0 ? [Access.giftWrapPow(s.giftWrapMinPow)] : [])
    ],
    read: [
      ...(authReads ? [Access.authForReads] : []),
      ...(s.allowListReads ? [Access.allowedReader(m)] : []),
      ...(privateKinds.size > 0 ? [Access.privateKindsNeedAuth(privateKinds)] : []),
      ...(s.nip43 && s.membersOnly === "all" && members !== undefined ? [Access.memberReader(members)] : []),
      ...(s.nip43 && members !== undefined ? [Access.invitesForMembers(members)] : []),
      ...(withGroups ? [groupsNeedMembership(groups)] : [])
    ],
    privateKinds,
    moderation: m,
    ...(withGroups ? { groups } : {})
  }
}

export class Policy extends Context.Service<Policy, PolicyShape>()("parrhesia/policy/Policy") {
  /** A policy from explicit check lists. */
  static readonly make = (lists: PolicyLists): PolicyShape => {
    const limits = runAll(lists.limits)
    const write = runAll(lists.write)
    const read = runAll(lists.read)
    const privateKinds = lists.privateKinds ?? new Set<number>()
    const m = lists.moderation
    const g = lists.groups
    const canServe = (ctx: RequestContext, e: NostrEvent): boolean => {
      if (m !== undefined && m.hasServeRestrictions() && (m.isEventBanned(e.id) || m.isPubkeyBanned(e.pubkey))) return false
      if (g !== undefined && !mayReadGroupEvent(g, ctx, e)) return false
      return !privateKinds.has(e.kind) || Access.mayReadPrivate(ctx, e)
    }
    const canServeStored = (ctx: RequestContext, e: ServedEvent): boolean => {
      if (m !== undefined && m.hasServeRestrictions() && (m.isEventBanned(e.id) || m.isPubkeyBanned(e.pubkey))) return false
      // Parsed only when a private or hidden group exists and the text could name one.
      if (g !== undefined && hasGroupRestrictions(g) && (e.json.includes('"h"') || (e.kind >= 39000 && e.kind <= 39005)) && !mayReadGroupEvent(g, ctx, e.event())) {
        return false
      }
      return !privateKinds.has(e.kind) || Access.mayReadPrivate(ctx, e.event())
    }
    return {
      checkLimits: (ctx, e) => Effect.flatMap(nowSeconds, (now) => limits(ctx, e, now)),
      checkWrite: (ctx, e) => (lists.write.length === 0 ? pass : Effect.flatMap(nowSeconds, (now) => write(ctx, e, now))),
      checkRead: (ctx, f) => read(ctx, f),
      canServe,
      canServeStored,
      isBanned: (id, pubkey) => m !== undefined && m.hasServeRestrictions() && (m.isEventBanned(id) || m.isPubkeyBanned(pubkey)),
      scopeFilter:
        g === undefined
          ? (ctx, f) => Access.scopePrivate(privateKinds, ctx, f)
          : (ctx, f) => (hasGroupRestrictions(g) ? scopeGroups(g, ctx, f).flatMap((x) => Access.scopePrivate(privateKinds, ctx, x)) : Access.scopePrivate(privateKinds, ctx, f))
    }
  }

  static readonly layer = Layer.effect(
    Policy,
    Effect.gen(function* () {
      const config = yield* RelayConfig
      const moderation = yield* Moderation
      const groups = yield* GroupView
      return Policy.of(Policy.make(fromSettings(config, moderation, { isMember: (pk) => groups.isMember(RELAY_SCOPE, pk) }, groups)))
    })
  )
}
