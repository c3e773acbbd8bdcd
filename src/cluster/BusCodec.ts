/**
 * The ClusterBus wire format (pure; the transport lives in
 * storage/postgres/PostgresClusterBus.ts). A notification payload is either
 *
 * - a whole message, `{"o":"<origin>","e":[<event>,...]}`: as many events as
 *   fit the payload limit, or
 * - one piece of an event too big for one payload:
 *   `~<origin>:<message>:<index>:<count>:<piece>`, the event's JSON text cut
 *   into `count` pieces at UTF-8 character boundaries (a piece never splits a
 *   character), `message` unique per origin.
 *
 * Sizes are counted in UTF-8 bytes, as PostgreSQL counts them (it refuses
 * payloads of 8,000 bytes and more). The Reassembler puts pieces back
 * together in any order, skips the receiver's own notifications, and is
 * bounded: incomplete messages are dropped after `ttlMs`, and the oldest
 * are dropped first when more than `maxChars` are held.
 */
import { Buffer } from "node:buffer"
import { parseEventShape, type NostrEvent } from "../nostr/index.ts"

/** Below PostgreSQL's 8,000-byte payload limit, with room to spare. */
export const MAX_PAYLOAD = 7900

/** Room reserved in a piece's header for `<index>:<count>:` (two numbers of up to 7 digits). */
const NUMBERS_ROOM = 16

/** How a batch of event JSON texts goes out: whole messages by group, the big ones in pieces. */
export interface Plan {
  /** `{"o":"<origin>","e":[` — a group's message is head + its events joined by "," + TAIL. */
  readonly head: string
  /** Per event (same order as the input): its message number, or -1 when it goes in pieces. */
  readonly groups: ReadonlyArray<number>
  /** The pieces of the big events, each with the index of its event in the input. */
  readonly pieces: ReadonlyArray<{ readonly event: number; readonly payload: string }>
}

export const TAIL = "]}"

export interface Packer {
  readonly origin: string
  /** Groups the events into messages under the limit; events over it are cut into pieces. */
  readonly plan: (jsons: ReadonlyArray<string>) => Plan
  /** The payloads of a plan in which every event goes out. */
  readonly payloads: (jsons: ReadonlyArray<string>) => ReadonlyArray<string>
}

/** Cuts `json` into pieces of at most `room` UTF-8 bytes each, never inside a character. */
export const cutUtf8 = (json: string, room: number): ReadonlyArray<string> => {
  if (room < 4) throw new Error("cutUtf8: room must hold one character (4 bytes)")
  const buf = Buffer.from(json, "utf8")
  const out: Array<string> = []
  let start = 0
  while (start < buf.length) {
    let end = Math.min(start + room, buf.length)
    // Back off continuation bytes (10xxxxxx) so the piece ends on a character boundary.
    while (end < buf.length && (buf[end]! & 0xc0) === 0x80) end--
    out.push(buf.toString("utf8", start, end))
    start = end
  }
  return out
}

export const makePacker = (origin: string, limit: number = MAX_PAYLOAD): Packer => {
  const head = `{"o":${JSON.stringify(origin)},"e":[`
  const headBytes = Buffer.byteLength(head) + TAIL.length
  let sequence = 0

  const plan = (jsons: ReadonlyArray<string>): Plan => {
    const groups = new Array<number>(jsons.length)
    const pieces: Array<{ event: number; payload: string }> = []
    let group = -1
    let size = 0 // bytes of the open group's events and their commas
    let open = false
    for (let i = 0; i < jsons.length; i++) {
      const json = jsons[i]!
      const bytes = Buffer.byteLength(json)
      if (headBytes + bytes > limit) {
        groups[i] = -1
        const prefix = `~${origin}:${(sequence++).toString(36)}:`
        const cut = cutUtf8(json, limit - Buffer.byteLength(prefix) - NUMBERS_ROOM)
        for (let p = 0; p < cut.length; p++) pieces.push({ event: i, payload: `${prefix}${p}:${cut.length}:${cut[p]}` })
        continue
      }
      if (!open || headBytes + size + 1 + bytes > limit) {
        group++
        open = true
        size = bytes
      } else size += 1 + bytes
      groups[i] = group
    }
    return { head, groups, pieces }
  }

  const payloads = (jsons: ReadonlyArray<string>): ReadonlyArray<string> => {
    const p = plan(jsons)
    const byGroup: Array<Array<string>> = []
    for (let i = 0; i < jsons.length; i++) {
      const g = p.groups[i]!
      if (g >= 0) (byGroup[g] ??= []).push(jsons[i]!)
    }
    return [...byGroup.map((g) => head + g.join(",") + TAIL), ...p.pieces.map((x) => x.payload)]
  }

  return { origin, plan, payloads }
}

/** What one notification payload yields. */
export type Received =
  /** Events from another process, shape-checked; `invalid` counts those that failed the check. */
  | { readonly _tag: "Events"; readonly events: ReadonlyArray<NostrEvent>; readonly invalid: number }
  /** Nothing (yet): the receiver's own notification, or a piece of an incomplete message. */
  | { readonly _tag: "Nothing" }
  /** Not a payload of this format (a warning for the log). */
  | { readonly _tag: "Invalid"; readonly reason: string }

export interface ReassemblerOptions {
  /** Incomplete messages older than this are dropped. */
  readonly ttlMs?: number
  /** At most this many characters of incomplete messages are held; the oldest are dropped first. */
  readonly maxChars?: number
}

interface Partial {
  readonly count: number
  readonly pieces: Array<string | undefined>
  readonly at: number
  got: number
  chars: number
}

const NOTHING: Received = { _tag: "Nothing" }

const eventsOf = (values: ReadonlyArray<unknown>): Received => {
  const events: Array<NostrEvent> = []
  let invalid = 0
  for (const v of values) {
    const r = parseEventShape(v)
    if ("event" in r) events.push(r.event)
    else invalid++
  }
  return { _tag: "Events", events, invalid }
}

export class Reassembler {
  private readonly ownHead: string
  private readonly ownPiece: string
  private readonly ttlMs: number
  private readonly maxChars: number
  private readonly partial = new Map<string, Partial>()
  private held = 0
  /** Incomplete messages dropped (too old, or over the memory cap). */
  dropped = 0

  readonly origin: string

  constructor(origin: string, options: ReassemblerOptions = {}) {
    this.origin = origin
    this.ownHead = `{"o":${JSON.stringify(origin)},`
    this.ownPiece = `~${origin}:`
    this.ttlMs = options.ttlMs ?? 10_000
    this.maxChars = options.maxChars ?? 16 * 1024 * 1024
  }

  /** Incomplete messages held now, and their characters. */
  get pending(): { readonly messages: number; readonly chars: number } {
    return { messages: this.partial.size, chars: this.held }
  }

  /** One notification payload, received at `now` (milliseconds, non-decreasing). */
  push(payload: string, now: number): Received {
    this.expire(now)
    if (payload.startsWith("{")) {
      if (payload.startsWith(this.ownHead)) return NOTHING
      let m: unknown
      try {
        m = JSON.parse(payload)
      } catch {
        return { _tag: "Invalid", reason: "a message that is not JSON" }
      }
      const o = m as { o?: unknown; e?: unknown }
      if (typeof m !== "object" || m === null || typeof o.o !== "string" || !Array.isArray(o.e)) {
        return { _tag: "Invalid", reason: "a message without an origin and events" }
      }
      if (o.o === this.origin) return NOTHING
      return eventsOf(o.e)
    }
    if (!payload.startsWith("~")) return { _tag: "Invalid", reason: "an unknown payload" }
    if (payload.startsWith(this.ownPiece)) return NOTHING
    // ~origin:message:index:count:piece
    const c1 = payload.indexOf(":", 1)
    const c2 = c1 < 0 ? -1 : payload.indexOf(":", c1 + 1)
    const c3 = c2 < 0 ? -1 : payload.indexOf(":", c2 + 1)
    const c4 = c3 < 0 ? -1 : payload.indexOf(":", c3 + 1)
    if (c4 < 0) return { _tag: "Invalid", reason: "a piece without its header" }
    const index = Number(payload.slice(c2 + 1, c3))
    const count = Number(payload.slice(c3 + 1, c4))
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(count) || count < 1 || index < 0 || index >= count || count > this.maxChars) {
      return { _tag: "Invalid", reason: "a piece with a bad index or count" }
    }
    const piece = payload.slice(c4 + 1)
    if (count === 1) return this.complete([piece])
    const key = payload.slice(1, c2)
    let p = this.partial.get(key)
    if (p === undefined) {
      p = { count, pieces: new Array<string | undefined>(count), at: now, got: 0, chars: 0 }
      this.partial.set(key, p)
    } else if (p.count !== count) {
      return { _tag: "Invalid", reason: "pieces of one message disagree on their count" }
    }
    if (p.pieces[index] !== undefined) return NOTHING
    p.pieces[index] = piece
    p.got++
    p.chars += piece.length
    this.held += piece.length
    if (p.got === p.count) {
      this.partial.delete(key)
      this.held -= p.chars
      return this.complete(p.pieces as Array<string>)
    }
    // Over the cap: drop the oldest incomplete messages (possibly this one).
    while (this.held > this.maxChars) {
      const [oldest, q] = this.partial.entries().next().value!
      this.drop(oldest, q)
    }
    return NOTHING
  }

  private complete(pieces: ReadonlyArray<string>): Received {
    let value: unknown
    try {
      value = JSON.parse(pieces.join(""))
    } catch {
      return { _tag: "Invalid", reason: "a reassembled event that is not JSON" }
    }
    return eventsOf([value])
  }

  private drop(key: string, p: Partial): void {
    this.partial.delete(key)
    this.held -= p.chars
    this.dropped++
  }

  /** Drops incomplete messages first seen more than ttlMs before `now` (the map is in first-seen order). */
  private expire(now: number): void {
    for (const [key, p] of this.partial) {
      if (now - p.at <= this.ttlMs) break
      this.drop(key, p)
    }
  }
}
