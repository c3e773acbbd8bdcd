/**
 * NIP-42 authentication: a challenge per connection, and the check of an
 * AUTH event against it. Each connection gets an `AuthSession` (its
 * challenges and authenticated pubkeys) that lives and dies with it; several
 * pubkeys may authenticate on one connection.
 *
 * Challenges stay valid for the connection (NIP-42), the last few of them
 * when more were sent. A challenge counts as outstanding until an AUTH has
 * used it; an `auth-required:` answer on a connection without an outstanding
 * challenge carries a fresh one (`challengeIfNeeded`).
 */
import { randomBytes } from "node:crypto"
import { Context, Effect, Layer } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import { SignatureVerifier } from "../verify/SignatureVerifier.ts"
import { firstTagValue, hasValidId, Invalid, nowSeconds, parseEventShape, type NostrEvent, type Rejection } from "../nostr/index.ts"
import { expectedRelayUrls, sameRelayUrl } from "../nostr/relayUrl.ts"

export const AUTH_KIND = 22242
/** How far created_at may be from now, in seconds (NIP-42 suggests ~10 minutes). */
export const AUTH_WINDOW_SECONDS = 600
const KEPT_CHALLENGES = 4

export interface AuthSession {
  /** Authenticated pubkeys (the connection's RequestContext reads this set). */
  readonly pubkeys: Set<string>
  /** Challenges still accepted, newest last. */
  readonly challenges: Array<string>
  /** Whether the newest challenge has not been used by an AUTH yet. */
  outstanding: boolean
  /** URLs the `relay` tag may name. */
  readonly relayUrls: ReadonlyArray<string>
}

const newChallenge = () => randomBytes(16).toString("hex")


/**
 * Checks an AUTH event's content against a session (everything but the
 * signature): kind, created_at window, relay URL, challenge, id.
 */
export const checkAuthEvent = (session: AuthSession, e: NostrEvent, now: number): string | undefined => {
  if (e.kind !== AUTH_KIND) return `AUTH event must be of kind ${AUTH_KIND}, got ${e.kind}`
  if (Math.abs(e.created_at - now) > AUTH_WINDOW_SECONDS) return `AUTH event created_at is more than ${AUTH_WINDOW_SECONDS} seconds from now`
  const relay = firstTagValue(e, "relay")
  if (relay === undefined) return "AUTH event has no relay tag"
  if (!session.relayUrls.some((url) => sameRelayUrl(relay, url))) {
    return `AUTH relay tag ${JSON.stringify(relay.slice(0, 200))} does not name this relay`
  }
  const challenge = firstTagValue(e, "challenge")
  if (challenge === undefined) return "AUTH event has no challenge tag"
  if (!session.challenges.includes(challenge)) return "AUTH challenge does not match the one this relay sent"
  if (!hasValidId(e)) return "event id does not match the hash of its content"
  return undefined
}

export interface AuthSessionsShape {
  /** A new session with its first challenge (send it as `["AUTH", challenge]`). */
  readonly open: (hostHeader: string | undefined) => AuthSession
  /** The newest challenge of a session. */
  readonly challengeOf: (session: AuthSession) => string
  /** A fresh challenge when none is outstanding (to send before an `auth-required:` answer), else undefined. */
  readonly challengeIfNeeded: (session: AuthSession) => string | undefined
  /** Checks an AUTH event; on success its pubkey is authenticated on the session and returned. */
  readonly authenticate: (session: AuthSession, event: NostrEvent) => Effect.Effect<string, Rejection>
}

export class AuthSessions extends Context.Service<AuthSessions, AuthSessionsShape>()("parrhesia/auth/AuthSessions") {
  static readonly layer = Layer.effect(
    AuthSessions,
    Effect.gen(function* () {
      const config = yield* RelayConfig
      const verifier = yield* SignatureVerifier

      // Connections share the list of relay URLs of their Host header (a few distinct values), so an
      // idle connection does not hold a copy; bounded in case clients send many different hosts.
      const urlsByHost = new Map<string, ReadonlyArray<string>>()
      const relayUrlsFor = (hostHeader: string | undefined) => {
        const key = hostHeader ?? ""
        let urls = urlsByHost.get(key)
        if (urls === undefined) {
          if (urlsByHost.size >= 256) urlsByHost.clear()
          urlsByHost.set(key, (urls = Object.freeze(expectedRelayUrls(config.relayUrl, hostHeader))))
        }
        return urls
      }

      const issue = (session: AuthSession) => {
        const c = newChallenge()
        session.challenges.push(c)
        if (session.challenges.length > KEPT_CHALLENGES) session.challenges.shift()
        session.outstanding = true
        return c
      }

      return AuthSessions.of({
        open: (hostHeader) => {
          const session: AuthSession = {
            pubkeys: new Set(),
            challenges: [],
            outstanding: false,
            relayUrls: relayUrlsFor(hostHeader)
          }
          issue(session)
          return session
        },
        challengeOf: (session) => session.challenges[session.challenges.length - 1]!,
        challengeIfNeeded: (session) => (session.outstanding ? undefined : issue(session)),
        authenticate: (session, e) =>
          Effect.gen(function* () {
            const now = yield* nowSeconds
            const problem = checkAuthEvent(session, e, now)
            if (problem !== undefined) return yield* new Invalid({ message: problem })
            if (!(yield* verifier.verify(e))) return yield* new Invalid({ message: "signature verification failed" })
            session.pubkeys.add(e.pubkey)
            if (firstTagValue(e, "challenge") === session.challenges[session.challenges.length - 1]) session.outstanding = false
            return e.pubkey
          })
      })
    })
  )
}

/** Parses the raw AUTH payload; a shape error is an `invalid:` answer. */
export const parseAuthEvent = (raw: unknown): NostrEvent | Rejection => {
  const parsed = parseEventShape(raw)
  return "error" in parsed ? new Invalid({ message: parsed.error }) : parsed.event
}
