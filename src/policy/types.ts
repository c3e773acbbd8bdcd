/** The shapes every policy check shares. */
import type { Effect } from "effect"
import type { Filter, NostrEvent, Rejection } from "../nostr/index.ts"

/** What a check may know about the connection an EVENT or REQ came from. */
export interface RequestContext {
  readonly connectionId: number
  readonly ip: string
  /** Pubkeys authenticated on this connection (NIP-42); grows as the client AUTHs. */
  readonly authenticated: ReadonlySet<string>
  /** The URLs this connection knows the relay by (relay tags of AUTH and NIP-62 must name one). */
  readonly relayUrls?: ReadonlyArray<string>
}

/** A rule on one EVENT; `now` is unix seconds from Effect's Clock. */
export type WriteCheck = (ctx: RequestContext, event: NostrEvent, now: number) => Effect.Effect<void, Rejection>
/** A rule on the filters of one REQ or COUNT (and NEG-OPEN). */
export type ReadCheck = (ctx: RequestContext, filters: ReadonlyArray<Filter>) => Effect.Effect<void, Rejection>
