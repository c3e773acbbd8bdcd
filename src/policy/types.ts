/** The shapes every policy check shares. */
import type { Effect } from "effect"
import type { Filter, NostrEvent, Rejection } from "../nostr/index.ts"

/**
 * Where an event came from, in strfry's plugin terms: a client connection over IPv4 or IPv6,
 * an import from a file, a live stream from another relay (mirroring), or a sync (a catch-up
 * that reconciles with another relay).
 */
export type SourceType = "IP4" | "IP6" | "Import" | "Stream" | "Sync"

export interface EventSource {
  readonly type: SourceType
  /** The client IP (IP4, IP6), the other relay's URL (Stream, Sync), or what was imported (Import: a file name, or ""). */
  readonly info: string
}

/** What a check may know about the connection an EVENT or REQ came from. */
export interface RequestContext {
  readonly connectionId: number
  readonly ip: string
  /** Pubkeys authenticated on this connection (NIP-42); grows as the client AUTHs. */
  readonly authenticated: ReadonlySet<string>
  /** The URLs this connection knows the relay by (relay tags of AUTH and NIP-62 must name one). */
  readonly relayUrls?: ReadonlyArray<string>
  /** Where the events of this context come from; absent: a client connection (IP4 or IP6 of `ip`). See source.ts. */
  readonly source?: EventSource
}

/** A rule on one EVENT; `now` is unix seconds from Effect's Clock. */
export type WriteCheck = (ctx: RequestContext, event: NostrEvent, now: number) => Effect.Effect<void, Rejection>
/** A rule on the filters of one REQ or COUNT (and NEG-OPEN). */
export type ReadCheck = (ctx: RequestContext, filters: ReadonlyArray<Filter>) => Effect.Effect<void, Rejection>
