/**
 * The access rules of Policy one by one, as assembled from settings: each
 * answer's prefix, and which rules are listed for which configuration.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { defaults } from "../../src/config/RelayConfig.ts"
import type { Settings } from "../../src/config/settings.ts"
import type { ModerationShape } from "../../src/moderation/Moderation.ts"
import type { Filter, NostrEvent } from "../../src/nostr/index.ts"
import { fromSettings, Policy, type RequestContext } from "../../src/policy/Policy.ts"

const NOW = 1_700_000_000
const A = "a".repeat(64)
const B = "b".repeat(64)

/** The synchronous view Policy reads; changes are not exercised here (see test/moderation). */
const view = (lists: { banned?: Array<string>; allowed?: Array<string>; bannedEvents?: Array<string>; kinds?: Array<number> } = {}) =>
  ({
    isPubkeyBanned: (pk: string) => lists.banned?.includes(pk) ?? false,
    allowListActive: () => (lists.allowed?.length ?? 0) > 0,
    isPubkeyAllowed: (pk: string) => lists.allowed?.includes(pk) ?? false,
    isEventBanned: (id: string) => lists.bannedEvents?.includes(id) ?? false,
    isKindAllowed: (k: number) => lists.kinds === undefined || lists.kinds.includes(k),
    isIpBlocked: () => false,
    hasServeRestrictions: () => (lists.banned?.length ?? 0) + (lists.bannedEvents?.length ?? 0) > 0
  }) as unknown as ModerationShape

const ctxOf = (...authenticated: Array<string>): RequestContext => ({ connectionId: 1, ip: "127.0.0.1", authenticated: new Set(authenticated) })
const event = (over: Partial<NostrEvent> = {}): NostrEvent => ({
  id: "f".repeat(64),
  pubkey: A,
  created_at: NOW,
  kind: 1,
  tags: [],
  content: "",
  sig: "0".repeat(128),
  ...over
})

const policyOf = (s: Partial<Settings> = {}, m = view()) => Policy.make(fromSettings({ ...defaults(), ...s }, m))

const outcome = (eff: Effect.Effect<void, { readonly prefix: string }>) =>
  Effect.andThen(TestClock.setTime(NOW * 1000), eff).pipe(
    Effect.as("ok"),
    Effect.catch((r) => Effect.succeed(r.prefix))
  )
const write = (p: ReturnType<typeof policyOf>, ctx: RequestContext, e: NostrEvent) =>
  outcome(Effect.andThen(p.checkLimits(ctx, e), p.checkWrite(ctx, e)))
const read = (p: ReturnType<typeof policyOf>, ctx: RequestContext, filters: Array<Filter>) => outcome(p.checkRead(ctx, filters))

describe("access rules", () => {
  it.effect("authRequired decides which side needs AUTH", () =>
    Effect.gen(function* () {
      for (const [mode, w, r] of [["none", "ok", "ok"], ["writes", "auth-required", "ok"], ["reads", "ok", "auth-required"], ["all", "auth-required", "auth-required"]] as const) {
        const p = policyOf({ authRequired: mode })
        expect(yield* write(p, ctxOf(), event()), mode).toBe(w)
        expect(yield* read(p, ctxOf(), [{}]), mode).toBe(r)
        expect(yield* write(p, ctxOf(B), event()), mode).toBe("ok")
        expect(yield* read(p, ctxOf(B), [{}]), mode).toBe("ok")
      }
    })
  )

  it.effect("NIP-70: protected events need AUTH as their author", () =>
    Effect.gen(function* () {
      const p = policyOf()
      const e = event({ tags: [["-"]] })
      expect(yield* write(p, ctxOf(), e)).toBe("auth-required")
      expect(yield* write(p, ctxOf(B), e)).toBe("restricted")
      expect(yield* write(p, ctxOf(B, A), e)).toBe("ok")
      // ["-", "x"] is not the protected marker.
      expect(yield* write(p, ctxOf(), event({ tags: [["-", "x"]] }))).toBe("ok")
    })
  )

  it.effect("the operator's lists: bans, allow-list, kinds", () =>
    Effect.gen(function* () {
      expect(yield* write(policyOf({}, view({ banned: [A] })), ctxOf(), event())).toBe("blocked")
      expect(yield* write(policyOf({}, view({ bannedEvents: ["f".repeat(64)] })), ctxOf(), event())).toBe("blocked")
      expect(yield* write(policyOf({}, view({ allowed: [B] })), ctxOf(), event())).toBe("restricted")
      expect(yield* write(policyOf({}, view({ allowed: [A] })), ctxOf(), event())).toBe("ok")
      expect(yield* write(policyOf({}, view({ kinds: [0] })), ctxOf(), event())).toBe("blocked")
      // Allow-list reads only with allowListReads.
      expect(yield* read(policyOf({}, view({ allowed: [A] })), ctxOf(), [{}])).toBe("ok")
      const closed = policyOf({ allowListReads: true }, view({ allowed: [A] }))
      expect(yield* read(closed, ctxOf(), [{}])).toBe("auth-required")
      expect(yield* read(closed, ctxOf(B), [{}])).toBe("restricted")
      expect(yield* read(closed, ctxOf(B, A), [{}])).toBe("ok")
    })
  )

  it.effect("private kinds: a filter naming one needs AUTH; serving checks author and p tags", () =>
    Effect.gen(function* () {
      const p = policyOf()
      expect(yield* read(p, ctxOf(), [{ kinds: [1] }, { kinds: [1059] }])).toBe("auth-required")
      expect(yield* read(p, ctxOf(), [{ authors: [A] }])).toBe("ok")
      expect(yield* read(p, ctxOf(B), [{ kinds: [4] }])).toBe("ok")
      expect(yield* read(policyOf({ restrictedReadKinds: [] }), ctxOf(), [{ kinds: [4] }])).toBe("ok")
      const dm = event({ kind: 4, tags: [["p", B]] })
      expect(p.canServe(ctxOf(), dm)).toBe(false)
      expect(p.canServe(ctxOf("c".repeat(64)), dm)).toBe(false)
      expect(p.canServe(ctxOf(B), dm)).toBe(true)
      expect(p.canServe(ctxOf(A), dm)).toBe(true)
      expect(p.canServe(ctxOf(), event())).toBe(true)
      expect(policyOf({}, view({ banned: [A] })).canServe(ctxOf(), event())).toBe(false)
    })
  )

  it.effect("NIP-13 and kind 22242 are refused before the signature is checked", () =>
    Effect.gen(function* () {
      const p = policyOf({ minPowDifficulty: 12 })
      const outcomeOf = (e: NostrEvent) => outcome(p.checkLimits(ctxOf(), e))
      expect(yield* outcomeOf(event({ id: "001" + "f".repeat(61) }))).toBe("pow")
      expect(yield* outcomeOf(event({ id: "000f" + "f".repeat(60) }))).toBe("ok")
      expect(yield* outcomeOf(event({ id: "000f" + "f".repeat(60), tags: [["nonce", "1", "11"]] }))).toBe("pow")
      expect(yield* outcomeOf(event({ id: "000f" + "f".repeat(60), tags: [["nonce", "1", "12"]] }))).toBe("ok")
      expect(yield* outcome(policyOf().checkLimits(ctxOf(), event({ kind: 22242 })))).toBe("invalid")
    })
  )
})
