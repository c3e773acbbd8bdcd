/**
 * strfry's write-policy plugin protocol, as pure functions: one JSON line per event to the
 * plugin, one JSON line back per event, matched by the event id.
 *
 *   -> {"type":"new","event":{...},"receivedAt":<unix s>,"sourceType":"IP4"|"IP6"|"Import"|"Stream"|"Sync","sourceInfo":"..."}
 *   <- {"id":"<event id>","action":"accept"|"reject"|"shadowReject","msg":"..."}
 *
 * `msg` matters for `reject` only: it becomes the OK message, keeping a NIP-01 prefix the
 * plugin gave and adding `blocked:` when it gave none.
 */
import {
  AuthRequired,
  Blocked,
  Duplicate,
  Invalid,
  Mute,
  Pow,
  RateLimited,
  Restricted,
  ServerError,
  Unsupported,
  type NostrEvent,
  type Rejection
} from "../../nostr/index.ts"
import type { EventSource } from "../types.ts"

export type PluginAction = "accept" | "reject" | "shadowReject"

export interface PluginAnswer {
  readonly id: string
  readonly action: PluginAction
  /** "" when the plugin sent none. */
  readonly msg: string
}

/** The request line for one event (without the newline). Only the seven NIP-01 fields of the event are sent. */
export const encodeRequest = (event: NostrEvent, receivedAt: number, source: EventSource): string =>
  JSON.stringify({
    type: "new",
    event: {
      id: event.id,
      pubkey: event.pubkey,
      created_at: event.created_at,
      kind: event.kind,
      tags: event.tags,
      content: event.content,
      sig: event.sig
    },
    receivedAt,
    sourceType: source.type,
    sourceInfo: source.info
  })

const ACTIONS: ReadonlySet<string> = new Set(["accept", "reject", "shadowReject"])

/** One line from the plugin: an answer, or why it is not one. */
export const decodeAnswer = (line: string): PluginAnswer | { readonly error: string } => {
  let u: unknown
  try {
    u = JSON.parse(line)
  } catch {
    return { error: "not JSON" }
  }
  if (typeof u !== "object" || u === null || Array.isArray(u)) return { error: "not a JSON object" }
  const o = u as Record<string, unknown>
  if (typeof o.id !== "string") return { error: "no id" }
  if (typeof o.action !== "string" || !ACTIONS.has(o.action)) return { error: `action must be accept, reject or shadowReject, got ${JSON.stringify(o.action)}` }
  const msg = o.msg === undefined || o.msg === null ? "" : typeof o.msg === "string" ? o.msg : String(o.msg)
  return { id: o.id, action: o.action as PluginAction, msg }
}

const BY_PREFIX: Readonly<Record<string, (message: string) => Rejection>> = {
  invalid: (message) => new Invalid({ message }),
  duplicate: (message) => new Duplicate({ message }),
  blocked: (message) => new Blocked({ message }),
  "rate-limited": (message) => new RateLimited({ message }),
  pow: (message) => new Pow({ message }),
  restricted: (message) => new Restricted({ message }),
  "auth-required": (message) => new AuthRequired({ message }),
  mute: (message) => new Mute({ message }),
  unsupported: (message) => new Unsupported({ message }),
  error: (message) => new ServerError({ message })
}

/**
 * The rejection a plugin's `reject` stands for: `pow: too little work` keeps its prefix,
 * `not on the list` becomes `blocked: not on the list`, an empty message `blocked: ` plus a
 * sentence naming the write policy.
 */
export const rejectionOf = (msg: string): Rejection => {
  const m = /^([a-z-]+):\s?([\s\S]*)$/.exec(msg)
  const known = m !== null && Object.hasOwn(BY_PREFIX, m[1]!) ? BY_PREFIX[m[1]!] : undefined
  if (known !== undefined) return known(m![2]!)
  const text = msg.trim()
  return new Blocked({ message: text === "" ? "refused by the relay's write policy" : text })
}
