/**
 * AUTH (NIP-42): checks the event against the connection's challenge; answers
 * OK like an EVENT. It costs a signature check like an EVENT, so it draws on
 * the same rate-limit buckets.
 */
import { Effect } from "effect"
import { parseAuthEvent } from "../../auth/AuthSessions.ts"
import { encodeNotice, encodeOk, RateLimited, reasonOf } from "../../nostr/index.ts"
import type { Conn } from "./Conn.ts"

export const onAuth = (conn: Conn, raw: unknown) =>
  Effect.gen(function* () {
    const parsed = parseAuthEvent(raw)
    if ("prefix" in parsed) {
      const id = typeof raw === "object" && raw !== null ? (raw as { id?: unknown }).id : undefined
      // As for EVENT: OK needs the event id, so without one the answer is a NOTICE.
      return yield* conn.send(typeof id === "string" && id !== "" ? encodeOk(id, false, reasonOf(parsed)) : encodeNotice(reasonOf(parsed)))
    }
    const allowed = yield* conn.services.limiter.tryEvent({ connectionId: conn.id, ip: conn.ip, pubkeys: conn.ctx.authenticated })
    conn.rateOutcome(allowed)
    if (!allowed) return yield* conn.send(encodeOk(parsed.id, false, reasonOf(new RateLimited({ message: "too many messages, slow down" }))))
    const result = yield* Effect.result(conn.services.auth.authenticate(conn.session, parsed))
    if (result._tag === "Failure") return yield* conn.send(encodeOk(parsed.id, false, reasonOf(result.failure)))
    yield* Effect.logDebug("authenticated").pipe(Effect.annotateLogs({ connection: conn.id, pubkey: result.success }))
    yield* conn.send(encodeOk(parsed.id, true, ""))
  })
