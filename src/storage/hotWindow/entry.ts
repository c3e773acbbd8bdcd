/**
 * A hot window entry, and the bytes it is estimated to hold.
 */
import { expirationOf, servedFromJson, type NostrEvent, type ServedEvent } from "../../nostr/index.ts"
import type { Posting } from "./posting.ts"

/**
 * A window entry: what matching needs, and the stored text to serve. It is its own ServedEvent (one
 * object per event held); the event itself is parsed only when asked for (private kinds). Its tags
 * are not kept (a held event's tag conditions are answered by the tag index): fewer objects that
 * outlive the young generation, so less for the garbage collector to mark.
 */
export class Entry implements ServedEvent {
  readonly id: string
  readonly pubkey: string
  readonly created_at: number
  readonly kind: number
  readonly json: string
  readonly expiration: number | undefined
  readonly address: string | undefined
  /** Estimated bytes this entry holds (text, indexes); set once indexed. */
  bytes = 0
  /** The newest created_at of another version of its address it won against here (window.ts `deleted`). */
  displacedAt: number | undefined = undefined
  /** The index lists holding it. */
  readonly lists: Array<Posting<Entry>> = []
  dead = false
  constructor(e: NostrEvent, pubkey: string, json: string, address: string | undefined) {
    this.id = e.id
    this.pubkey = pubkey
    this.created_at = e.created_at
    this.kind = e.kind
    this.json = json
    this.expiration = expirationOf(e)
    this.address = address
  }
  event(): NostrEvent {
    return servedFromJson(this.json, this.kind, this.created_at).event()
  }
}

/** Characters outside Latin-1 make V8 keep a string at two bytes per character. */
// eslint-disable-next-line no-control-regex
const WIDE = /[^\u0000-\u00ff]/
/** Fixed cost of an entry (the object, its string headers, its map and list slots), measured roughly. */
const ENTRY_OVERHEAD = 240
/** Per index list holding it (its slot, the list array's share). */
const PER_INDEX = 32

/** The bytes an entry of this stored text holds, in `lists` index lists. */
export const entryBytes = (json: string, lists: number): number => (WIDE.test(json) ? 2 : 1) * json.length + ENTRY_OVERHEAD + PER_INDEX * lists
