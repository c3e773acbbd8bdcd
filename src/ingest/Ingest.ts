/**
 * The write pipeline for one EVENT:
 *   shape -> limits -> id -> (recently stored? duplicate) -> signature ->
 *   policy -> write-policy plugin (shadowReject: OK true, nothing stored) ->
 *   NIP-43 requests (answered) -> NIP-29 group rules (moderation, join and
 *   leave applied) -> (vanished pubkey? refused) -> requests (kind 5 deletes,
 *   kind 62 vanishes) -> store (ephemeral: skip) -> fanout -> OK
 * Every producer of events runs it: client EVENTs, mirroring, imports; the
 * context's `source` (policy/source.ts) says which.
 * A request's effect is applied before the request is stored, so a failure
 * leaves the client free to resend it.
 * It never fails: every outcome, including a storage outage, becomes the
 * `OK` answer (accepted flag + `prefix: message`).
 */
import { Context, Effect, Layer } from "effect"
import {
  Duplicate,
  hasValidId,
  Invalid,
  isEphemeral,
  parseEventShape,
  reasonOf,
  replacementKey,
  couldNot,
  Blocked,
  type NostrEvent,
  type Rejection
} from "../nostr/index.ts"
import { expectedRelayUrls } from "../nostr/relayUrl.ts"
import { BoundedSet } from "../lib/BoundedSet.ts"
import { RelayConfig } from "../config/RelayConfig.ts"
import { Groups } from "../groups/Groups.ts"
import { JOIN_KIND, LEAVE_KIND, Membership } from "../membership/Membership.ts"
import { Policy, type RequestContext } from "../policy/Policy.ts"
import { WritePolicyPlugin } from "../policy/plugin/WritePolicyPlugin.ts"
import { EventStore } from "../storage/EventStore.ts"
import { Fanout } from "../subscriptions/Fanout.ts"
import { span } from "../observability/tracing.ts"
import { DELETION_KIND, deletionRequestOf, VANISH_KIND, vanishNamesUs } from "./requests.ts"
import { SignatureVerifier } from "../verify/SignatureVerifier.ts"

export interface OkAnswer {
  /** The event id as sent (may be malformed or empty when the event had none). */
  readonly id: string
  readonly accepted: boolean
  /** "" or `prefix: message` */
  readonly message: string
  /** The rejection prefix or "accepted"/"duplicate", for metrics. */
  readonly result: string
  /** Why it was refused (absent when accepted). */
  readonly rejection?: Rejection
}

export interface IngestShape {
  readonly handle: (raw: unknown, ctx: RequestContext) => Effect.Effect<OkAnswer>
}

const acceptedAnswer = (e: NostrEvent): OkAnswer => ({ id: e.id, accepted: true, message: "", result: "accepted" })
const rejected = (id: string, r: Rejection): OkAnswer => ({ id, accepted: false, message: reasonOf(r), result: r.prefix, rejection: r })

export class Ingest extends Context.Service<Ingest, IngestShape>()("parrhesia/ingest/Ingest") {
  static readonly layer = Layer.effect(
    Ingest,
    Effect.gen(function* () {
      const config = yield* RelayConfig
      const store = yield* EventStore
      const verifier = yield* SignatureVerifier
      const policy = yield* Policy
      const fanout = yield* Fanout
      const membership = yield* Membership
      const groups = yield* Groups
      const plugin = yield* WritePolicyPlugin
      /**
       * Recently stored ids, so resent events skip the signature check and the store. Deleted ones
       * leave it: they must reach the store again (which refuses them), not be answered as duplicates.
       */
      const recent = new BoundedSet(16384)

      // Only ids that stay stored: a replaceable/addressable version can be superseded later, and a
      // resend of it must then get the store's "duplicate:" refusal (OK false), not an OK true from here.
      const remember = (e: NostrEvent) => {
        if (replacementKey(e) === undefined) recent.add(e.id)
      }

      /** NIP-62: pubkey -> created_at of its latest request to vanish; their older events are refused. */
      const vanishedUntil = new Map<string, number>()
      for (const v of yield* Effect.orDie(store.vanished)) vanishedUntil.set(v.pubkey, v.until)
      const defaultUrls = expectedRelayUrls(config.relayUrl, undefined)

      /** The effect of a request event (kinds 5 and 62), before the request itself is stored. */
      const applyRequest = (e: NostrEvent, ctx: RequestContext): Effect.Effect<void, Rejection> => {
        if (e.kind === DELETION_KIND) {
          const request = deletionRequestOf(e)
          for (const id of request.ids) recent.delete(id)
          return Effect.asVoid(Effect.mapError(store.deleteByRequest(request), couldNot("apply the deletion request")))
        }
        if (e.kind === VANISH_KIND) {
          const ours = vanishNamesUs(e, ctx.relayUrls ?? defaultUrls)
          if (ours === undefined) return Effect.fail(new Invalid({ message: "a request to vanish must name a relay in a relay tag (NIP-62)" }))
          if (!ours) return Effect.fail(new Blocked({ message: "this request to vanish names other relays" }))
          return store.vanish(e.pubkey, e.created_at).pipe(
            Effect.mapError(couldNot("apply the request to vanish")),
            Effect.tap(() =>
              Effect.sync(() => {
                vanishedUntil.set(e.pubkey, Math.max(vanishedUntil.get(e.pubkey) ?? -1, e.created_at))
                // The cache knows ids, not authors or recipients: start it afresh (requests to vanish are rare).
                recent.clear()
              })
            ),
            Effect.asVoid
          )
        }
        return Effect.void
      }

      const accept = (e: NostrEvent, ctx: RequestContext): Effect.Effect<OkAnswer, Rejection> => {
        if (isEphemeral(e.kind)) {
          return Effect.as(span("fanout")(fanout.publish(e)), acceptedAnswer(e))
        }
        const until = vanishedUntil.get(e.pubkey)
        if (until !== undefined && e.created_at <= until && e.kind !== VANISH_KIND) {
          return Effect.fail(new Blocked({ message: "this pubkey asked to vanish (NIP-62); its events up to then are not accepted" }))
        }
        const put = span("store")(store.put(e)).pipe(
          Effect.mapError((err): Rejection =>
            err.unstorable === true ? new Invalid({ message: `this relay cannot store this event: ${err.message}` }) : couldNot("store the event")(err)
          ),
          Effect.flatMap((outcome): Effect.Effect<OkAnswer, Rejection> => {
            switch (outcome) {
              case "stored":
                remember(e)
                return Effect.as(span("fanout")(fanout.publish(e)), acceptedAnswer(e))
              case "duplicate":
                remember(e)
                return Effect.succeed({
                  id: e.id,
                  accepted: true,
                  message: "duplicate: already have this event",
                  result: "duplicate"
                })
              case "superseded":
                return Effect.fail(new Duplicate({ message: "a newer version of this replaceable event is already stored" }))
              case "deleted":
                return Effect.fail(new Blocked({ message: "this event was deleted and cannot be republished" }))
            }
          })
        )
        return e.kind === DELETION_KIND || e.kind === VANISH_KIND ? Effect.andThen(applyRequest(e, ctx), put) : put
      }

      const handle = (raw: unknown, ctx: RequestContext): Effect.Effect<OkAnswer> => {
        const parsed = parseEventShape(raw)
        if ("error" in parsed) {
          const id = typeof raw === "object" && raw !== null && typeof (raw as { id?: unknown }).id === "string"
            ? (raw as { id: string }).id
            : ""
          return Effect.succeed(rejected(id, new Invalid({ message: parsed.error })))
        }
        const e = parsed.event
        return Effect.gen(function* () {
          yield* span("policy.limits")(policy.checkLimits(ctx, e))
          if (!hasValidId(e)) return yield* new Invalid({ message: "event id does not match the hash of its content" })
          if (recent.has(e.id)) {
            return { id: e.id, accepted: true, message: "duplicate: already have this event", result: "duplicate" }
          }
          if (!(yield* span("verify")(verifier.verify(e)))) return yield* new Invalid({ message: "signature verification failed" })
          yield* span("policy.write")(policy.checkWrite(ctx, e))
          // shadowReject: the author is told it was accepted; nothing is stored or sent to subscribers.
          if (plugin.enabled && (yield* span("policy.plugin")(plugin.check(ctx, e))) === "shadowReject") {
            return { id: e.id, accepted: true, message: "", result: "shadowReject" }
          }
          // NIP-43 requests are answered, never stored or broadcast (a join request carries a secret claim).
          if (membership.enabled && (e.kind === JOIN_KIND || e.kind === LEAVE_KIND)) {
            const message = yield* membership.handleRequest(e)
            return { id: e.id, accepted: true, message, result: "accepted" }
          }
          // NIP-29: the group rules, and what a moderation, join or leave event asks applied before it is stored.
          if (groups.enabled && groups.concerns(e)) {
            const admitted = yield* span("groups")(groups.admit(e, ctx))
            if (admitted?.forget === "all") recent.clear()
            else if (admitted?.forget !== undefined) for (const id of admitted.forget) recent.delete(id)
            if (admitted !== undefined && !admitted.store) return { id: e.id, accepted: true, message: admitted.message, result: "accepted" }
          }
          return yield* accept(e, ctx)
        }).pipe(Effect.catch((r: Rejection) => Effect.succeed(rejected(e.id, r))))
      }

      return Ingest.of({ handle })
    })
  )
}
