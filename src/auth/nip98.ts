/**
 * NIP-98 HTTP authorization: `Authorization: Nostr <base64 event>` where the
 * event is kind 27235, names the request's URL (`u`) and method, commits to
 * the body's SHA-256 (`payload`, required here), is dated within 60 seconds
 * of now, and is validly signed. Each authorization event is accepted once
 * (a replay cache covers the time window).
 */
import { createHash } from "node:crypto"
import { verifyNoble } from "../verify/SignatureVerifier.ts"
import { firstTagValue, hasValidId, parseEventShape, type NostrEvent } from "../nostr/index.ts"
import { sameRelayUrl } from "../nostr/relayUrl.ts"

export const HTTP_AUTH_KIND = 27235
export const HTTP_AUTH_WINDOW_SECONDS = 60

export type Nip98Result = { readonly pubkey: string; readonly event: NostrEvent } | { readonly error: string }


export const sha256Hex = (body: Uint8Array): string => createHash("sha256").update(body).digest("hex")

/** Decodes the header into an event, or says why it cannot. */
export const decodeAuthorization = (header: string | undefined): NostrEvent | { readonly error: string } => {
  if (header === undefined || header.trim() === "") return { error: "missing Authorization header (NIP-98)" }
  const m = /^Nostr\s+([A-Za-z0-9+/=_-]+)\s*$/.exec(header.trim())
  if (m === null) return { error: "Authorization must be \"Nostr <base64 event>\" (NIP-98)" }
  if (m[1]!.length > 64 * 1024) return { error: "Authorization event is too large" }
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(m[1]!, "base64").toString("utf8"))
  } catch {
    return { error: "Authorization is not base64-encoded JSON" }
  }
  const parsed = parseEventShape(json)
  return "error" in parsed ? { error: `Authorization event: ${parsed.error}` } : parsed.event
}

export interface Nip98Request {
  readonly authorization: string | undefined
  readonly method: string
  readonly body: Uint8Array
  /** URLs the `u` tag may name (their http(s) and ws(s) forms are equivalent). */
  readonly urls: ReadonlyArray<string>
  /** Unix seconds. */
  readonly now: number
}

/** A bounded memory of accepted authorization ids, so each is used once. */
export const makeReplayGuard = (capacity = 10_000) => {
  const seen = new Map<string, number>()
  return {
    /** False when `id` was already used; otherwise remembers it until it is out of the time window. */
    claim: (id: string, createdAt: number, now: number): boolean => {
      if (seen.has(id)) return false
      for (const [k, t] of seen) {
        if (t >= now - HTTP_AUTH_WINDOW_SECONDS * 2 && seen.size < capacity) break
        seen.delete(k)
      }
      seen.set(id, createdAt)
      return true
    }
  }
}
export type ReplayGuard = ReturnType<typeof makeReplayGuard>

/** Checks a NIP-98 authorization; on success, the signer's pubkey. */
export const verifyNip98 = (r: Nip98Request, replay: ReplayGuard): Nip98Result => {
  const e = decodeAuthorization(r.authorization)
  if ("error" in e) return e
  if (e.kind !== HTTP_AUTH_KIND) return { error: `authorization event must be of kind ${HTTP_AUTH_KIND}` }
  if (Math.abs(e.created_at - r.now) > HTTP_AUTH_WINDOW_SECONDS) {
    return { error: `authorization event created_at is more than ${HTTP_AUTH_WINDOW_SECONDS} seconds from now` }
  }
  const u = firstTagValue(e, "u")
  if (u === undefined) return { error: "authorization event has no u tag" }
  if (!r.urls.some((url) => sameRelayUrl(u, url, true))) return { error: `authorization u tag ${JSON.stringify(u.slice(0, 200))} does not name this relay` }
  const method = firstTagValue(e, "method")
  if (method === undefined || method.toUpperCase() !== r.method.toUpperCase()) {
    return { error: `authorization method tag must be ${r.method}` }
  }
  const payload = firstTagValue(e, "payload")
  if (payload === undefined) return { error: "authorization event has no payload tag (SHA-256 of the body)" }
  if (payload.toLowerCase() !== sha256Hex(r.body)) return { error: "authorization payload tag does not match the SHA-256 of the body" }
  if (!hasValidId(e)) return { error: "authorization event id does not match the hash of its content" }
  if (!verifyNoble(e)) return { error: "authorization event signature is invalid" }
  if (!replay.claim(e.id, e.created_at, r.now)) return { error: "authorization event was already used" }
  return { pubkey: e.pubkey, event: e }
}
