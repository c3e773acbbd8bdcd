/**
 * A policy module (policyModules): only kinds 0, 1, 3 and 7, and only from accounts older
 * than a day: accounts this relay first heard from (an EVENT that reached this check) more
 * than 24 hours ago. What it remembers lives in this relay process and starts afresh when the
 * relay restarts; imported events (`parrhesia import`) skip the age rule.
 *
 *   PARRHESIA_POLICY_MODULES=examples/policy/old-accounts.ts npm start
 */
import { Effect } from "effect"
import { Blocked, Restricted } from "../../src/nostr/index.ts"
import { sourceOf } from "../../src/policy/source.ts"
import type { WriteCheck } from "../../src/policy/types.ts"

const KINDS = new Set([0, 1, 3, 7])
const DAY = 24 * 60 * 60

/** pubkey -> unix seconds of its first event seen here */
const firstSeen = new Map<string, number>()

export const onlyTheseKinds: WriteCheck = (_ctx, event) =>
  KINDS.has(event.kind) ? Effect.void : Effect.fail(new Blocked({ message: `kind ${event.kind} is not accepted here (only 0, 1, 3 and 7)` }))

export const accountsOlderThanADay: WriteCheck = (ctx, event, now) => {
  if (sourceOf(ctx).type === "Import") return Effect.void
  let first = firstSeen.get(event.pubkey)
  if (first === undefined) firstSeen.set(event.pubkey, (first = now))
  const wait = first + DAY - now
  return wait <= 0 ? Effect.void : Effect.fail(new Restricted({ message: `new accounts may publish here one day after their first try (in ${wait} s)` }))
}

export default [onlyTheseKinds, accountsOlderThanADay]
