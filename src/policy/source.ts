/**
 * The source of an event on the write path (strfry's `sourceType` / `sourceInfo`): policy
 * checks and the write-policy plugin see where an event came from, so one pipeline (Ingest)
 * serves client EVENTs, mirrored (streamed) events, sync catch-ups and imports alike.
 *
 * A client connection's context carries no `source`: its IP decides IP4 or IP6. The other
 * producers set it: mirror.ts (`Stream` for live events, `Sync` for a catch-up, both with the
 * upstream's URL), an import (`Import`, with the file it reads).
 */
import { isIP } from "node:net"
import type { EventSource, RequestContext } from "./types.ts"

export type { EventSource, SourceType } from "./types.ts"

/** A client connection from `ip` (IPv4-mapped IPv6 addresses are normalised to IPv4 before they get here). */
export const clientSource = (ip: string): EventSource => ({ type: isIP(ip) === 6 ? "IP6" : "IP4", info: ip })

/** Where the events of this context come from. */
export const sourceOf = (ctx: RequestContext): EventSource => ctx.source ?? clientSource(ctx.ip)

/** Events read from a file (or stdin: ""), put through the same pipeline as a client's EVENT. */
export const importSource = (info: string): EventSource => ({ type: "Import", info })

/** Events streamed live from another relay (mirroring). */
export const streamSource = (relayUrl: string): EventSource => ({ type: "Stream", info: relayUrl })

/** Events fetched by reconciling with another relay (a mirror's catch-up by NIP-77 or REQ pages). */
export const syncSource = (relayUrl: string): EventSource => ({ type: "Sync", info: relayUrl })
