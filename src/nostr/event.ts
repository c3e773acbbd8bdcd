/**
 * The Nostr event (NIP-01): its wire shape, the shape check, the canonical
 * serialization that defines its id, and the id check.
 */
import { createHash } from "node:crypto"

export interface NostrEvent {
  readonly id: string
  readonly pubkey: string
  readonly created_at: number
  readonly kind: number
  readonly tags: ReadonlyArray<ReadonlyArray<string>>
  readonly content: string
  readonly sig: string
}

const HEX64 = /^[0-9a-f]{64}$/
const HEX128 = /^[0-9a-f]{128}$/

export const isHex64 = (s: unknown): s is string => typeof s === "string" && s.length === 64 && HEX64.test(s)
export const isHex128 = (s: unknown): s is string => typeof s === "string" && s.length === 128 && HEX128.test(s)

/** The largest created_at we accept: anything above cannot round-trip through every store and client. */
export const MAX_TIMESTAMP = 2 ** 53 - 1

/**
 * Checks the wire shape of an event and returns it with exactly the seven
 * NIP-01 fields (extra fields are dropped), or a human-readable reason.
 */
export const parseEventShape = (u: unknown): { readonly event: NostrEvent } | { readonly error: string } => {
  if (typeof u !== "object" || u === null || Array.isArray(u)) return { error: "event must be a JSON object" }
  const o = u as Record<string, unknown>
  if (!isHex64(o.id)) return { error: "id must be 64 lowercase hex characters" }
  if (!isHex64(o.pubkey)) return { error: "pubkey must be 64 lowercase hex characters" }
  if (!isHex128(o.sig)) return { error: "sig must be 128 lowercase hex characters" }
  const createdAt = o.created_at
  if (typeof createdAt !== "number" || !Number.isInteger(createdAt) || createdAt < 0 || createdAt > MAX_TIMESTAMP) {
    return { error: "created_at must be a non-negative integer" }
  }
  const kind = o.kind
  if (typeof kind !== "number" || !Number.isInteger(kind) || kind < 0 || kind > 65535) {
    return { error: "kind must be an integer between 0 and 65535" }
  }
  if (typeof o.content !== "string") return { error: "content must be a string" }
  // A lone surrogate (only possible through a \uD800-style JSON escape) has no
  // UTF-8 form: no store or client could keep the text, and so the id, intact.
  if (!o.content.isWellFormed()) return { error: "content contains an unpaired UTF-16 surrogate" }
  const tags = o.tags
  if (!Array.isArray(tags)) return { error: "tags must be an array" }
  for (let i = 0; i < tags.length; i++) {
    const tag = tags[i]
    if (!Array.isArray(tag) || tag.length === 0) return { error: `tag ${i} must be a non-empty array of strings` }
    for (let j = 0; j < tag.length; j++) {
      if (typeof tag[j] !== "string") return { error: `tag ${i} must contain only strings` }
      if (!(tag[j] as string).isWellFormed()) return { error: `tag ${i} contains an unpaired UTF-16 surrogate` }
    }
  }
  return {
    event: {
      id: o.id,
      pubkey: o.pubkey,
      created_at: createdAt,
      kind,
      tags: tags as ReadonlyArray<ReadonlyArray<string>>,
      content: o.content,
      sig: o.sig
    }
  }
}

/**
 * NIP-01 canonical serialization: `[0,pubkey,created_at,kind,tags,content]`
 * without whitespace. `JSON.stringify` produces exactly the escapes NIP-01
 * lists (\n \" \\ \r \t \b \f), writes every other printable character
 * verbatim, and is what nostr-tools and most clients use, so ids agree with
 * theirs (other control characters become \u00XX in all of them alike).
 */
export const serializeForId = (e: Pick<NostrEvent, "pubkey" | "created_at" | "kind" | "tags" | "content">): string =>
  JSON.stringify([0, e.pubkey, e.created_at, e.kind, e.tags, e.content])

export const computeEventId = (e: Pick<NostrEvent, "pubkey" | "created_at" | "kind" | "tags" | "content">): string =>
  createHash("sha256").update(serializeForId(e)).digest("hex")

export const hasValidId = (e: NostrEvent): boolean => computeEventId(e) === e.id

const jsonCache = new WeakMap<NostrEvent, string>()

/** The event's JSON text, computed once per event object and reused for every frame it goes into. */
export const eventJson = (e: NostrEvent): string => {
  let json = jsonCache.get(e)
  if (json === undefined) {
    json = JSON.stringify({
      id: e.id,
      pubkey: e.pubkey,
      created_at: e.created_at,
      kind: e.kind,
      tags: e.tags,
      content: e.content,
      sig: e.sig
    })
    jsonCache.set(e, json)
  }
  return json
}

/** The first value of the first tag with this name, if any. */
export const firstTagValue = (e: NostrEvent, name: string): string | undefined => {
  for (const tag of e.tags) if (tag[0] === name) return tag[1]
  return undefined
}

/** Newest first; ties broken by the lowest id (NIP-01 ordering of initial results). */
export const compareNewestFirst = (a: NostrEvent, b: NostrEvent): number =>
  b.created_at - a.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
