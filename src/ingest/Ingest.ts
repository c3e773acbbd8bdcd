/**
 * The write pipeline for one EVENT:
 *   shape -> limits -> id -> (recently stored? duplicate) -> signature ->
 *   policy -> store (ephemeral: skip) -> fanout -> OK
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
  ServerError,
  Blocked,
  type NostrEvent,
  type Rejection
} from "../nostr/index.ts"
import { Policy, type RequestContext } from "../policy/Policy.ts"
import { EventStore } from "../storage/EventStore.ts"
import { Fanout } from "../subscriptions/Fanout.ts"
import { SignatureVerifier } from "./SignatureVerifier.ts"

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

/** A bounded set of recently stored ids, so resent events skip the signature check and the store. */
const makeRecentIds = (capacity: number) => {
  const ids = new Set<string>()
  return {
    has: (id: string) => ids.has(id),
    add: (id: string) => {
      ids.add(id)
      if (ids.size > capacity) ids.delete(ids.values().next().value!)
    }
  }
}

export class Ingest extends Context.Service<Ingest, IngestShape>()("parrhesia/ingest/Ingest") {
  static readonly layer = Layer.effect(
    Ingest,
    Effect.gen(function* () {
      const store = yield* EventStore
      const verifier = yield* SignatureVerifier
      const policy = yield* Policy
      const fanout = yield* Fanout
      const recent = makeRecentIds(16384)

      // Only ids that stay stored: a replaceable/addressable version can be superseded later, and a
      // resend of it must then get the store's "duplicate:" refusal (OK false), not an OK true from here.
      const remember = (e: NostrEvent) => {
        if (replacementKey(e) === undefined) recent.add(e.id)
      }

      const accept = (e: NostrEvent): Effect.Effect<OkAnswer, Rejection> => {
        if (isEphemeral(e.kind)) {
          return Effect.as(fanout.publish(e), acceptedAnswer(e))
        }
        return store.put(e).pipe(
          Effect.mapError((err) => new ServerError({ message: `could not store the event (${err.message})` })),
          Effect.flatMap((outcome): Effect.Effect<OkAnswer, Rejection> => {
            switch (outcome) {
              case "stored":
                remember(e)
                return Effect.as(fanout.publish(e), acceptedAnswer(e))
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
          yield* policy.checkLimits(ctx, e)
          if (!hasValidId(e)) return yield* new Invalid({ message: "event id does not match the hash of its content" })
          if (recent.has(e.id)) {
            return { id: e.id, accepted: true, message: "duplicate: already have this event", result: "duplicate" }
          }
          if (!(yield* verifier.verify(e))) return yield* new Invalid({ message: "signature verification failed" })
          yield* policy.checkWrite(ctx, e)
          return yield* accept(e)
        }).pipe(Effect.catch((r: Rejection) => Effect.succeed(rejected(e.id, r))))
      }

      return Ingest.of({ handle })
    })
  )
}
