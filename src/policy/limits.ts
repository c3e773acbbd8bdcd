/**
 * Write checks that need only the configuration and the event itself: tags,
 * content, created_at window, NIP-40 expiration, NIP-13 proof of work. They
 * are cheap, so they run before the id and signature checks.
 */
import { Effect } from "effect"
import type { Settings } from "../config/settings.ts"
import { Blocked, committedTarget, expirationOf, Invalid, Pow, powDifficulty } from "../nostr/index.ts"
import { maxAgeOf, removesAnything, retentionPolicyOf, type RetentionPolicy } from "../config/retention.ts"
import type { WriteCheck } from "./types.ts"

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

/** NIP-42: kind 22242 belongs in an AUTH message; as an EVENT it would be stored or broadcast, which the NIP forbids. */
export const notAuthEvent: WriteCheck = (_ctx, e) =>
  e.kind === 22242 ? Effect.fail(new Invalid({ message: "kind 22242 is for AUTH messages (NIP-42), not EVENT" })) : pass

/**
 * NIP-13: at least `min` leading zero bits in the id, and a committed target
 * (third entry of the nonce tag), when there is one, not below `min`: a
 * spammer who aimed lower and got lucky is refused.
 */
export const minPow = (min: number): WriteCheck => (_ctx, e) => {
  const target = committedTarget(e)
  if (target !== undefined && target < min) {
    return Effect.fail(new Pow({ message: `committed target difficulty ${target} is less than ${min}` }))
  }
  const bits = powDifficulty(e.id)
  return bits < min ? Effect.fail(new Pow({ message: `difficulty ${bits} is less than ${min}` })) : pass
}

/** Retention: an event already older than its kind is kept would be removed at the next run; refused instead. */
export const withinRetention = (policy: RetentionPolicy): WriteCheck => (_ctx, e, now) => {
  const age = maxAgeOf(policy, e.kind)
  return age !== undefined && e.created_at < now - age
    ? Effect.fail(new Invalid({ message: `events of kind ${e.kind} older than ${age} seconds are not kept on this relay` }))
    : pass
}

/** The write checks that need only the configuration, in order. */
export const limitChecks = (s: Settings): ReadonlyArray<WriteCheck> => [
  maxTags(s.maxEventTags),
  maxContent(s.maxContentLength),
  createdAtWindow(s.createdAtLowerLimit, s.createdAtUpperLimit),
  notExpired,
  notAuthEvent,
  ...(s.minPowDifficulty > 0 ? [minPow(s.minPowDifficulty)] : []),
  ...retentionChecks(s),
  ...(s.nipEE ? [] : [mlsKindsOff])
]

const retentionChecks = (s: Settings): ReadonlyArray<WriteCheck> => {
  const policy = retentionPolicyOf(s)
  return "error" in policy || !removesAnything(policy) ? [] : [withinRetention(policy)]
}

/** NIP-EE kinds: KeyPackages, group messages, KeyPackage relay lists. */
export const MLS_KINDS: ReadonlySet<number> = new Set([443, 445, 10051])

/** With `nipEE` off the MLS kinds are refused (the relay keeps none of their data). */
export const mlsKindsOff: WriteCheck = (_ctx, e) =>
  MLS_KINDS.has(e.kind) ? Effect.fail(new Blocked({ message: `kind ${e.kind} (MLS, NIP-EE) is not enabled on this relay` })) : pass
