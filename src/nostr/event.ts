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

/**
 * A stored event as a REQ answer sends it: its JSON text (what `eventJson` gives) to put in the
 * frame as it is, and the fields the read rules and the merge of results look at. The whole
 * event is built only when asked for (`event()`: the rare rules that need its tags).
 */
export interface ServedEvent {
  readonly id: string
  readonly pubkey: string
  readonly created_at: number
  readonly kind: number
  readonly json: string
  readonly event: () => NostrEvent
}

class ServedFromEvent implements ServedEvent {
  readonly #event: NostrEvent
  constructor(event: NostrEvent) {
    this.#event = event
  }
  get id() {
    return this.#event.id
  }
  get pubkey() {
    return this.#event.pubkey
  }
  get created_at() {
    return this.#event.created_at
  }
  get kind() {
    return this.#event.kind
  }
  get json() {
    return eventJson(this.#event)
  }
  event() {
    return this.#event
  }
}

/** An event object as a ServedEvent (its text made once per object, by eventJson). */
export const servedEvent = (e: NostrEvent): ServedEvent => new ServedFromEvent(e)

/** `{"id":"` — the text eventJson makes starts with it, then the 64 hex digits of the id. */
const ID_AT = 7
/** `","pubkey":"` follows the id, then the 64 hex digits of the pubkey. */
const PUBKEY_AT = ID_AT + 64 + 12

class ServedFromJson implements ServedEvent {
  readonly json: string
  readonly kind: number
  readonly created_at: number
  #event: NostrEvent | undefined
  constructor(json: string, kind: number, createdAt: number) {
    this.json = json
    this.kind = kind
    this.created_at = createdAt
  }
  get id() {
    return this.json.slice(ID_AT, ID_AT + 64)
  }
  get pubkey() {
    return this.json.slice(PUBKEY_AT, PUBKEY_AT + 64)
  }
  event() {
    if (this.#event === undefined) {
      const e = JSON.parse(this.json) as NostrEvent
      jsonCache.set(e, this.json)
      this.#event = e
    }
    return this.#event
  }
}

/** Whether `json` has the layout eventJson makes (id and pubkey at their fixed places). */
export const isEventJsonLayout = (json: string): boolean =>
  json.startsWith('{"id":"') && json.startsWith('","pubkey":"', ID_AT + 64) && json.startsWith('","created_at":', PUBKEY_AT + 64)

/**
 * A ServedEvent over text made by eventJson (a store keeps it): id and pubkey are read at their
 * fixed places, nothing is parsed unless `event()` is called. Text of another layout is parsed.
 */
export const servedFromJson = (json: string, kind: number, createdAt: number): ServedEvent => {
  if (isEventJsonLayout(json)) return new ServedFromJson(json, kind, createdAt)
  const e = JSON.parse(json) as NostrEvent
  jsonCache.set(e, json)
  return servedEvent(e)
}

/** The first value of the first tag with this name, if any. */
export const firstTagValue = (e: NostrEvent, name: string): string | undefined => {
  for (const tag of e.tags) if (tag[0] === name) return tag[1]
  return undefined
}

/** Newest first; ties broken by the lowest id (NIP-01 ordering of initial results). */
export const compareNewestFirst = (a: Pick<NostrEvent, "created_at" | "id">, b: Pick<NostrEvent, "created_at" | "id">): number =>
  b.created_at - a.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
