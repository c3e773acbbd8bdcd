/**
 * The README's example policy module, examples/policy/old-accounts.ts: only kinds 0, 1, 3, 7,
 * from accounts first seen more than a day ago; imports skip the age rule. Loaded the way the
 * relay loads it (policyModules), with Effect's TestClock for the day.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { reasonOf, type NostrEvent } from "../../src/nostr/index.ts"
import { loadPolicyModule, withModules } from "../../src/policy/modules.ts"
import { Policy, type PolicyShape } from "../../src/policy/Policy.ts"
import { importSource } from "../../src/policy/source.ts"
import type { RequestContext } from "../../src/policy/types.ts"
import { makeEvent, newKey, T0 } from "../support/nostr.ts"

const ROOT = new URL("../..", import.meta.url).pathname
const MODULE = "examples/policy/old-accounts.ts"
const client: RequestContext = { connectionId: 1, ip: "203.0.113.9", authenticated: new Set() }

const policy = Effect.map(loadPolicyModule(MODULE, ROOT), (m) => withModules(Policy.make({ limits: [], write: [], read: [] }), m))
const verdict = (p: PolicyShape, e: NostrEvent, ctx = client) =>
  Effect.match(p.checkWrite(ctx, e), { onFailure: reasonOf, onSuccess: () => "accept" })

describe("examples/policy/old-accounts.ts", () => {
  it.effect("accepts only kinds 0, 1, 3 and 7", () =>
    Effect.gen(function* () {
      const p = yield* policy
      const key = newKey()
      yield* TestClock.setTime(T0 * 1000)
      expect(yield* verdict(p, makeEvent({ kind: 4 }, key))).toBe("blocked: kind 4 is not accepted here (only 0, 1, 3 and 7)")
      expect(yield* verdict(p, makeEvent({ kind: 30023 }, key))).toBe("blocked: kind 30023 is not accepted here (only 0, 1, 3 and 7)")
    })
  )

  it.effect("refuses an account for a day after its first try, then accepts it", () =>
    Effect.gen(function* () {
      const p = yield* policy
      const key = newKey()
      yield* TestClock.setTime(T0 * 1000)
      expect(yield* verdict(p, makeEvent({ kind: 1 }, key))).toBe("restricted: new accounts may publish here one day after their first try (in 86400 s)")
      yield* TestClock.adjust("23 hours")
      expect(yield* verdict(p, makeEvent({ kind: 0 }, key))).toBe("restricted: new accounts may publish here one day after their first try (in 3600 s)")
      yield* TestClock.adjust("1 hour")
      for (const kind of [0, 1, 3, 7]) expect(yield* verdict(p, makeEvent({ kind }, key))).toBe("accept")
      // another account is still new
      expect(yield* verdict(p, makeEvent({ kind: 1 }))).toMatch(/^restricted: new accounts/)
    })
  )

  it.effect("imports skip the age rule, not the kinds rule", () =>
    Effect.gen(function* () {
      const p = yield* policy
      const imported: RequestContext = { connectionId: -1, ip: "127.0.0.1", authenticated: new Set(), source: importSource("backup.jsonl") }
      yield* TestClock.setTime(T0 * 1000)
      expect(yield* verdict(p, makeEvent({ kind: 1 }), imported)).toBe("accept")
      expect(yield* verdict(p, makeEvent({ kind: 4 }), imported)).toMatch(/^blocked: kind 4/)
    })
  )

  it("is shown whole in the README", () => {
    const readme = readFileSync(new URL("README.md", `file://${ROOT}`), "utf8")
    expect(readme).toContain(readFileSync(new URL(MODULE, `file://${ROOT}`), "utf8").trim())
  })
})
