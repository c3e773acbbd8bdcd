/**
 * Policy: ordered lists of small checks on writes and reads (khatru's idea,
 * with typed Effects). Each check either succeeds or fails with a Rejection
 * carrying its NIP-01 prefix; the first failure wins.
 */
import { Context, Effect, Layer } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import type { Settings } from "../config/settings.ts"
import { expirationOf, Invalid, nowSeconds, type Filter, type NostrEvent, type Rejection } from "../nostr/index.ts"

/** What a check may know about the connection an EVENT or REQ came from. */
export interface RequestContext {
  readonly connectionId: number
  readonly ip: string
  /** Pubkeys authenticated on this connection (NIP-42). */
  readonly authenticated: ReadonlySet<string>
}

export type WriteCheck = (ctx: RequestContext, event: NostrEvent, now: number) => Effect.Effect<void, Rejection>
export type ReadCheck = (ctx: RequestContext, filters: ReadonlyArray<Filter>) => Effect.Effect<void, Rejection>

const pass = Effect.void

/** Counts code points without allocating; `content.length` (UTF-16 units) is an upper bound. */
const codePointLength = (s: string): number => {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) i++
    }
    n++
  }
  return n
}

// ---------------------------------------------------------------- write checks

export const maxTags = (max: number): WriteCheck => (_ctx, e) =>
  e.tags.length > max ? Effect.fail(new Invalid({ message: `too many tags (${e.tags.length} > ${max})` })) : pass

export const maxContent = (max: number): WriteCheck => (_ctx, e) =>
  e.content.length > max && codePointLength(e.content) > max
    ? Effect.fail(new Invalid({ message: `content is longer than ${max} characters` }))
    : pass

export const createdAtWindow = (lowerSeconds: number, upperSeconds: number): WriteCheck => (_ctx, e, now) => {
  if (e.created_at > now + upperSeconds) {
    return Effect.fail(new Invalid({ message: `created_at is more than ${upperSeconds} seconds in the future` }))
  }
  if (lowerSeconds > 0 && e.created_at < now - lowerSeconds) {
    return Effect.fail(new Invalid({ message: `created_at is more than ${lowerSeconds} seconds in the past` }))
  }
  return pass
}

/** NIP-40: an event whose expiration has already passed is not accepted. */
export const notExpired: WriteCheck = (_ctx, e, now) => {
  const exp = expirationOf(e)
  return exp !== undefined && exp <= now ? Effect.fail(new Invalid({ message: "event has already expired (NIP-40)" })) : pass
}

/** The write checks that need only the configuration; cheap, so they run before the id and signature checks. */
export const limitChecks = (s: Settings): ReadonlyArray<WriteCheck> => [
  maxTags(s.maxEventTags),
  maxContent(s.maxContentLength),
  createdAtWindow(s.createdAtLowerLimit, s.createdAtUpperLimit),
  notExpired
]

const runAll = (checks: ReadonlyArray<WriteCheck>) =>
  (ctx: RequestContext, e: NostrEvent, now: number): Effect.Effect<void, Rejection> => {
    if (checks.length === 0) return pass
    if (checks.length === 1) return checks[0]!(ctx, e, now)
    return Effect.forEach(checks, (check) => check(ctx, e, now), { discard: true })
  }

export interface PolicyShape {
  /** Shape-level limits (tags, content, created_at): run before hashing and signature checks. */
  readonly checkLimits: (ctx: RequestContext, event: NostrEvent) => Effect.Effect<void, Rejection>
  /** Every other write rule: run after the signature is known good. */
  readonly checkWrite: (ctx: RequestContext, event: NostrEvent) => Effect.Effect<void, Rejection>
  readonly checkRead: (ctx: RequestContext, filters: ReadonlyArray<Filter>) => Effect.Effect<void, Rejection>
}

export class Policy extends Context.Service<Policy, PolicyShape>()("parrhesia/policy/Policy") {
  /** A policy from explicit check lists (later checks can be appended by features). */
  static readonly make = (lists: {
    readonly limits: ReadonlyArray<WriteCheck>
    readonly write: ReadonlyArray<WriteCheck>
    readonly read: ReadonlyArray<ReadCheck>
  }): PolicyShape => {
    const limits = runAll(lists.limits)
    const write = runAll(lists.write)
    return {
      checkLimits: (ctx, e) => Effect.flatMap(nowSeconds, (now) => limits(ctx, e, now)),
      checkWrite: (ctx, e) => (lists.write.length === 0 ? pass : Effect.flatMap(nowSeconds, (now) => write(ctx, e, now))),
      checkRead: (ctx, f) =>
        lists.read.length === 0 ? pass : Effect.forEach(lists.read, (check) => check(ctx, f), { discard: true })
    }
  }

  static readonly layer = Layer.effect(
    Policy,
    Effect.gen(function* () {
      const config = yield* RelayConfig
      return Policy.of(Policy.make({ limits: limitChecks(config), write: [], read: [] }))
    })
  )
}
