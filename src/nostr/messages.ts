/**
 * Client -> relay message decoding and relay -> client frame encoding.
 * Decoding is hand-written (one JSON.parse, then a switch on the tag): this is
 * the hottest path of the relay, and a schema union costs several times more.
 * Filters are returned unparsed so that limits from configuration apply later.
 */
import { eventJson, type NostrEvent } from "./event.ts"

export type ClientMessage =
  | { readonly type: "EVENT"; readonly event: unknown }
  | { readonly type: "REQ"; readonly subId: string; readonly filters: ReadonlyArray<unknown> }
  | { readonly type: "COUNT"; readonly subId: string; readonly filters: ReadonlyArray<unknown> }
  | { readonly type: "CLOSE"; readonly subId: string }
  | { readonly type: "AUTH"; readonly event: unknown }
  | { readonly type: "NEG-OPEN"; readonly subId: string; readonly filter: unknown; readonly message: string }
  | { readonly type: "NEG-MSG"; readonly subId: string; readonly message: string }
  | { readonly type: "NEG-CLOSE"; readonly subId: string }

/** Why a frame could not be decoded. `eventId` is set when the frame was an EVENT whose id could be read, so the relay can still answer with OK. */
export interface DecodeFailure {
  readonly error: string
  readonly eventId?: string
  readonly subId?: string
}

export type Decoded = { readonly message: ClientMessage } | { readonly failure: DecodeFailure }

const fail = (error: string, extra?: { eventId?: string; subId?: string }): Decoded => ({
  failure: { error, ...extra }
})

const subIdOf = (v: unknown): string | undefined => (typeof v === "string" && v.length > 0 ? v : undefined)

export const decodeClientMessage = (text: string): Decoded => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return fail("could not parse message as JSON")
  }
  if (!Array.isArray(parsed) || parsed.length === 0) return fail("message must be a non-empty JSON array")
  const [tag] = parsed
  switch (tag) {
    case "EVENT":
    case "AUTH": {
      if (parsed.length !== 2) {
        const id = typeof parsed[1] === "object" && parsed[1] !== null ? (parsed[1] as { id?: unknown }).id : undefined
        return fail(`${tag} message must be ["${tag}", <event>]`, typeof id === "string" ? { eventId: id } : undefined)
      }
      return { message: { type: tag, event: parsed[1] } }
    }
    case "REQ":
    case "COUNT": {
      const subId = subIdOf(parsed[1])
      if (subId === undefined) return fail(`${tag} needs a non-empty string subscription id`)
      if (parsed.length < 3) return fail(`${tag} needs at least one filter`, { subId })
      return { message: { type: tag, subId, filters: parsed.slice(2) } }
    }
    case "CLOSE": {
      const subId = subIdOf(parsed[1])
      if (subId === undefined || parsed.length !== 2) return fail(`CLOSE message must be ["CLOSE", <subscription id>]`)
      return { message: { type: "CLOSE", subId } }
    }
    case "NEG-OPEN": {
      const subId = subIdOf(parsed[1])
      if (subId === undefined || parsed.length !== 4 || typeof parsed[3] !== "string") {
        return fail(`NEG-OPEN message must be ["NEG-OPEN", <subscription id>, <filter>, <hex message>]`, subId ? { subId } : undefined)
      }
      return { message: { type: "NEG-OPEN", subId, filter: parsed[2], message: parsed[3] } }
    }
    case "NEG-MSG": {
      const subId = subIdOf(parsed[1])
      if (subId === undefined || parsed.length !== 3 || typeof parsed[2] !== "string") {
        return fail(`NEG-MSG message must be ["NEG-MSG", <subscription id>, <hex message>]`, subId ? { subId } : undefined)
      }
      return { message: { type: "NEG-MSG", subId, message: parsed[2] } }
    }
    case "NEG-CLOSE": {
      const subId = subIdOf(parsed[1])
      if (subId === undefined || parsed.length !== 2) return fail(`NEG-CLOSE message must be ["NEG-CLOSE", <subscription id>]`)
      return { message: { type: "NEG-CLOSE", subId } }
    }
    default:
      return fail(typeof tag === "string" ? `unknown message type ${JSON.stringify(tag).slice(0, 40)}` : "message type must be a string")
  }
}

// ---------------------------------------------------------------- relay -> client

const q = JSON.stringify

/** The constant head of every EVENT frame for one subscription; append the event JSON and "]". */
export const eventFramePrefix = (subId: string): string => `["EVENT",${q(subId)},`

export const encodeEvent = (subId: string, e: NostrEvent): string => `["EVENT",${q(subId)},${eventJson(e)}]`
export const encodeOk = (eventId: string, accepted: boolean, message: string): string =>
  `["OK",${q(eventId)},${accepted},${q(message)}]`
export const encodeEose = (subId: string): string => `["EOSE",${q(subId)}]`
export const encodeClosed = (subId: string, message: string): string => `["CLOSED",${q(subId)},${q(message)}]`
export const encodeNotice = (message: string): string => `["NOTICE",${q(message)}]`
export const encodeAuth = (challenge: string): string => `["AUTH",${q(challenge)}]`
export const encodeCount = (subId: string, count: number, approximate?: boolean, hll?: string): string =>
  `["COUNT",${q(subId)},${q({ count, ...(approximate ? { approximate: true } : {}), ...(hll !== undefined ? { hll } : {}) })}]`
export const encodeNegMsg = (subId: string, message: string): string => `["NEG-MSG",${q(subId)},${q(message)}]`
export const encodeNegErr = (subId: string, reason: string): string => `["NEG-ERR",${q(subId)},${q(reason)}]`
