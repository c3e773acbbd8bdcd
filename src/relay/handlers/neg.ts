/**
 * NIP-77 NEG-OPEN / NEG-MSG / NEG-CLOSE: a negentropy responder per
 * subscription id, over the records the read rules let this connection see.
 * Refusals are NEG-ERR with a NIP-01 prefix (`blocked:` for too many records
 * or sessions, `closed:` for unknown or idle sessions, `invalid:` for bad
 * messages, `auth-required:` / `restricted:` from the read policy).
 */
import { Clock, Effect } from "effect"
import { bytesToHex, hexToBytes, Negentropy, NegentropyError, Storage } from "../../negentropy/engine.ts"
import { encodeNegErr, encodeNegMsg, RateLimited, reasonOf, type Rejection } from "../../nostr/index.ts"
import { withChallenge, type Conn } from "./Conn.ts"
import { checkSubId } from "./req.ts"

const negErr = (conn: Conn, subId: string, r: Rejection) => conn.sendAll(withChallenge(conn, r, encodeNegErr(subId, reasonOf(r))))

/** The largest negentropy message (bytes) that fits a frame once hex-encoded, with room for the envelope. */
const frameLimitOf = (maxMessageBytes: number) => Math.max(4096, Math.floor(maxMessageBytes / 2) - 1024)

const respond = (engine: Negentropy, hex: string): { readonly hex: string } | { readonly error: string } => {
  try {
    return { hex: bytesToHex(engine.respond(hexToBytes(hex))) }
  } catch (e) {
    return { error: e instanceof NegentropyError ? e.message : String(e) }
  }
}

export const onNegOpen = (conn: Conn, subId: string, filter: unknown, message: string) =>
  Effect.gen(function* () {
    const { config, query, limiter } = conn.services
    const bad = checkSubId(conn, subId)
    if (bad) return yield* negErr(conn, subId, bad)
    conn.negentropy.close(subId)
    const allowed = yield* limiter.tryRead({ connectionId: conn.id, ip: conn.ip, pubkeys: conn.ctx.authenticated })
    conn.rateOutcome(allowed)
    if (!allowed) return yield* negErr(conn, subId, new RateLimited({ message: "too many requests, slow down" }))
    const found = yield* Effect.result(
      conn.services.negentropySessions.withLoadPermit(Effect.map(query.records(conn.ctx, filter, config.negentropyMaxRecords), Storage.fromRecords))
    )
    if (found._tag === "Failure") return yield* negErr(conn, subId, found.failure)
    const engine = new Negentropy(found.success, frameLimitOf(config.maxMessageBytes))
    const out = respond(engine, message)
    if ("error" in out) return yield* conn.send(encodeNegErr(subId, `invalid: ${out.error}`))
    const refused = conn.negentropy.open(subId, engine, yield* Clock.currentTimeMillis)
    if (refused !== undefined) return yield* conn.send(encodeNegErr(subId, `blocked: ${refused}`))
    yield* conn.send(encodeNegMsg(subId, out.hex))
  })

export const onNegMsg = (conn: Conn, subId: string, message: string) =>
  Effect.gen(function* () {
    const session = conn.negentropy.get(subId)
    if (session === undefined) return yield* conn.send(encodeNegErr(subId, "closed: no open negentropy session with this id"))
    session.lastActive = yield* Clock.currentTimeMillis
    const out = respond(session.engine, message)
    if ("error" in out) {
      conn.negentropy.close(subId)
      return yield* conn.send(encodeNegErr(subId, `invalid: ${out.error}`))
    }
    yield* conn.send(encodeNegMsg(subId, out.hex))
  })
