/**
 * What a command handler sees of its connection: who it is (RequestContext,
 * AuthSession), the relay's services, and the ways to answer. Connection.ts
 * builds one per socket and routes each decoded message to a handler module.
 */
import type { Effect } from "effect"
import type { AuthSession, AuthSessionsShape } from "../../auth/AuthSessions.ts"
import type { Settings } from "../../config/settings.ts"
import type { IngestShape } from "../../ingest/Ingest.ts"
import type { MembershipShape } from "../../membership/Membership.ts"
import type { ConnectionSessions, NegentropySessionsShape } from "../../negentropy/NegentropySessions.ts"
import { encodeAuth, encodeClosed, reasonOf, type Rejection } from "../../nostr/index.ts"
import type { PolicyShape, RequestContext } from "../../policy/Policy.ts"
import type { RateLimiterShape } from "../../policy/RateLimiter.ts"
import type { QueryShape } from "../../query/Query.ts"
import type { SubscriptionIndexShape } from "../../subscriptions/SubscriptionIndex.ts"

/** The services every connection shares (one object for the whole server). */
export interface RelayServices {
  readonly config: Settings
  readonly index: SubscriptionIndexShape
  readonly ingest: IngestShape
  readonly query: QueryShape
  readonly policy: PolicyShape
  readonly auth: AuthSessionsShape
  readonly limiter: RateLimiterShape
  readonly membership: MembershipShape
  readonly negentropySessions: NegentropySessionsShape
}

export interface Conn {
  readonly id: number
  readonly ip: string
  readonly ctx: RequestContext
  readonly session: AuthSession
  /** This connection's NIP-77 sessions. */
  readonly negentropy: ConnectionSessions
  readonly services: RelayServices
  /** Sends an answer (waits for room in the outbound queue). */
  readonly send: (frame: string) => Effect.Effect<void>
  /** Sends answers in one pass while there is room; takes the array (its entries are released as they go out). */
  readonly sendAll: (frames: Array<string>) => Effect.Effect<void>
  /** Sends a live event frame; never waits (a client that does not read is disconnected). */
  readonly sendLive: (frame: string) => void
  readonly isClosing: () => boolean
  /**
   * Records the outcome of a rate-limit check: a refusal counts toward
   * `rateLimitDisconnectAfter` (then the connection is closed), a pass resets the count.
   */
  readonly rateOutcome: (allowed: boolean) => void
}

/**
 * Frames that answer a rejection: for `auth-required:` a fresh `["AUTH", challenge]`
 * first when the connection has none outstanding (NIP-42), then the answer itself.
 */
export const withChallenge = (conn: Conn, r: Rejection, answer: string): Array<string> => {
  if (r.prefix !== "auth-required") return [answer]
  const challenge = conn.services.auth.challengeIfNeeded(conn.session)
  return challenge === undefined ? [answer] : [encodeAuth(challenge), answer]
}

/** Refuses a REQ/COUNT: CLOSED with the reason (and a challenge when auth is required). */
export const closedFor = (conn: Conn, subId: string, r: Rejection): Effect.Effect<void> =>
  conn.sendAll(withChallenge(conn, r, encodeClosed(subId, reasonOf(r))))
