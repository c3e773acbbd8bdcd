/**
 * Who may write and read: NIP-42 auth requirements, the operator's lists
 * (bans, allow-list, kinds), NIP-70 protected events, and private kinds.
 * Each rule is one small function; Policy.ts lists the ones configured.
 *
 * Prefixes: `auth-required:` before any AUTH, `restricted:` when
 * authenticated (or identified by the event's own pubkey) but not allowed,
 * `blocked:` for bans and refused kinds.
 */
import { Effect } from "effect"
import { AuthRequired, Blocked, Pow, powDifficulty, Restricted, type Filter, type NostrEvent } from "../nostr/index.ts"

export const GIFT_WRAP_KIND = 1059
import type { ModerationShape } from "../moderation/Moderation.ts"
import type { ReadCheck, RequestContext, WriteCheck } from "./types.ts"

const pass = Effect.void

// ---------------------------------------------------------------- writes

/** `authRequired: writes | all`: no EVENT before an AUTH. */
export const authForWrites: WriteCheck = (ctx) =>
  ctx.authenticated.size === 0 ? Effect.fail(new AuthRequired({ message: "this relay accepts events only after AUTH (NIP-42)" })) : pass

export const notBannedEvent = (m: ModerationShape): WriteCheck => (_ctx, e) =>
  m.isEventBanned(e.id) ? Effect.fail(new Blocked({ message: "this event is banned on this relay" })) : pass

export const notBannedAuthor = (m: ModerationShape): WriteCheck => (_ctx, e) =>
  m.isPubkeyBanned(e.pubkey) ? Effect.fail(new Blocked({ message: "this pubkey is banned on this relay" })) : pass

/** Allow-list mode: only allowed authors publish (the event's own pubkey identifies its author). */
export const allowedAuthor = (m: ModerationShape): WriteCheck => (_ctx, e) =>
  m.allowListActive() && !m.isPubkeyAllowed(e.pubkey)
    ? Effect.fail(new Restricted({ message: "this relay only accepts events from allowed pubkeys" }))
    : pass

export const allowedKind = (m: ModerationShape): WriteCheck => (_ctx, e) =>
  m.isKindAllowed(e.kind) ? pass : Effect.fail(new Blocked({ message: `kind ${e.kind} is not accepted on this relay` }))

const isProtected = (e: NostrEvent) => {
  for (const t of e.tags) if (t.length === 1 && t[0] === "-") return true
  return false
}

/** NIP-70: an event with a `["-"]` tag is accepted only from a connection authenticated as its author. */
export const protectedEvents: WriteCheck = (ctx, e) => {
  if (!isProtected(e)) return pass
  if (ctx.authenticated.size === 0) {
    return Effect.fail(new AuthRequired({ message: "this event is protected (NIP-70): AUTH as its author to publish it" }))
  }
  return ctx.authenticated.has(e.pubkey)
    ? pass
    : Effect.fail(new Restricted({ message: "this event is protected (NIP-70): only its author may publish it" }))
}

/** NIP-59 spam protection: gift wraps come from one-time keys, so the connection is asked to AUTH instead. */
export const giftWrapsNeedAuth: WriteCheck = (ctx, e) =>
  e.kind === GIFT_WRAP_KIND && ctx.authenticated.size === 0
    ? Effect.fail(new AuthRequired({ message: "gift wraps are accepted after AUTH (NIP-42) on this relay" }))
    : pass

/** NIP-59 spam protection: proof of work on gift wraps. */
export const giftWrapPow = (min: number): WriteCheck => (_ctx, e) => {
  if (e.kind !== GIFT_WRAP_KIND) return pass
  const bits = powDifficulty(e.id)
  return bits < min ? Effect.fail(new Pow({ message: `gift wraps need a difficulty of ${min}, this one has ${bits}` })) : pass
}

/** Who is a NIP-43 member of the relay (the group store's relay scope, through GroupView). */
export interface RelayMembers {
  readonly isMember: (pubkey: string) => boolean
}

/** NIP-43 members-only: the author must be a member (join and leave requests excepted). */
export const memberAuthor = (m: RelayMembers): WriteCheck => (_ctx, e) =>
  e.kind === 28934 || e.kind === 28936 || m.isMember(e.pubkey)
    ? pass
    : Effect.fail(new Restricted({ message: "this relay only accepts events from its members (NIP-43)" }))

// ---------------------------------------------------------------- reads

/** Readers must be authenticated as a member (NIP-43 members-only `all`, and invite requests). */
const asMember = (m: RelayMembers, ctx: RequestContext, what: string) => {
  if (ctx.authenticated.size === 0) return Effect.fail(new AuthRequired({ message: `${what}: AUTH (NIP-42) as a member first` }))
  for (const pk of ctx.authenticated) if (m.isMember(pk)) return pass
  return Effect.fail(new Restricted({ message: `${what}: only members (NIP-43)` }))
}

export const memberReader = (m: RelayMembers): ReadCheck => (ctx) => asMember(m, ctx, "this relay serves its members")

/** NIP-43: invite codes (kind 28935) go to members only. */
export const invitesForMembers = (m: RelayMembers): ReadCheck => (ctx, filters) =>
  filters.some((f) => f.kinds?.includes(28935)) ? asMember(m, ctx, "invite codes") : pass

/** `authRequired: reads | all`: no REQ/COUNT before an AUTH. */
export const authForReads: ReadCheck = (ctx) =>
  ctx.authenticated.size === 0 ? Effect.fail(new AuthRequired({ message: "this relay serves reads only after AUTH (NIP-42)" })) : pass

/** `allowListReads`: with an allow-list, readers must be authenticated as an allowed pubkey. */
export const allowedReader = (m: ModerationShape): ReadCheck => (ctx) => {
  if (!m.allowListActive()) return pass
  if (ctx.authenticated.size === 0) {
    return Effect.fail(new AuthRequired({ message: "this relay serves only allowed pubkeys: AUTH (NIP-42) first" }))
  }
  for (const pk of ctx.authenticated) if (m.isPubkeyAllowed(pk)) return pass
  return Effect.fail(new Restricted({ message: "this relay serves only allowed pubkeys" }))
}

/** A filter that names a private kind needs an AUTH first (what it may see is then narrowed per event). */
export const privateKindsNeedAuth = (restricted: ReadonlySet<number>): ReadCheck => (ctx, filters) => {
  if (ctx.authenticated.size > 0) return pass
  for (const f of filters) {
    if (f.kinds === undefined) continue
    for (const k of f.kinds) {
      if (restricted.has(k)) {
        return Effect.fail(new AuthRequired({ message: `kind ${k} is served only to its author or recipients: AUTH (NIP-42) first` }))
      }
    }
  }
  return pass
}

// ---------------------------------------------------------------- what a connection may see

/** Whether an event of a private kind may go to this connection: authenticated as its author or a `p`-tagged pubkey. */
export const mayReadPrivate = (ctx: RequestContext, e: NostrEvent): boolean => {
  if (ctx.authenticated.size === 0) return false
  if (ctx.authenticated.has(e.pubkey)) return true
  for (const t of e.tags) if (t[0] === "p" && t.length > 1 && ctx.authenticated.has(t[1]!)) return true
  return false
}

/**
 * Rewrites one filter so the store returns only what the connection may see
 * of the private kinds: the public part (the filter without private kinds)
 * plus, for each authenticated pubkey, the private kinds it wrote and those
 * that `p`-tag it. A filter that cannot reach a private kind is unchanged.
 */
export const scopePrivate = (restricted: ReadonlySet<number>, ctx: RequestContext, f: Filter): ReadonlyArray<Filter> => {
  if (restricted.size === 0) return [f]
  const privateKinds = f.kinds === undefined ? [...restricted] : f.kinds.filter((k) => restricted.has(k))
  if (privateKinds.length === 0) return [f]
  const out: Array<Filter> = []
  if (f.kinds === undefined) out.push({ ...f, excludeKinds: [...(f.excludeKinds ?? []), ...restricted] })
  else if (privateKinds.length < f.kinds.length) out.push({ ...f, kinds: f.kinds.filter((k) => !restricted.has(k)) })
  for (const pk of ctx.authenticated) {
    if (f.authors === undefined || f.authors.includes(pk)) out.push({ ...f, kinds: privateKinds, authors: [pk] })
    // Recipient: whatever the filter asks of `p`, the event must also p-tag this pubkey. (Narrowing
    // the filter's own `#p` to [pk] missed an event p-tagging both a value asked for and the recipient.)
    const p = f.tags?.["p"]
    if (p !== undefined && p.length === 1 && p[0] === pk) out.push({ ...f, kinds: privateKinds })
    else out.push({ ...f, kinds: privateKinds, alsoTagged: { name: "p", value: pk } })
  }
  return out
}
