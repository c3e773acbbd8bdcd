/** A relay's NIP-11 document, fetched the way clients do; absent when the relay does not serve one. */
import { Effect } from "effect"
import { httpUrlOf } from "./admin.ts"

export interface RelayInfo {
  readonly supportedNips: ReadonlyArray<number>
  readonly maxLimit: number | undefined
  readonly maxMessageLength: number | undefined
  readonly software: string | undefined
}

export const fetchRelayInfo = (url: string, timeoutMs = 5000): Effect.Effect<RelayInfo | undefined> =>
  Effect.promise(async () => {
    try {
      const res = await fetch(httpUrlOf(url), { headers: { accept: "application/nostr+json" }, signal: AbortSignal.timeout(timeoutMs) })
      if (!res.ok) return undefined
      const doc = (await res.json()) as Record<string, unknown>
      if (typeof doc !== "object" || doc === null) return undefined
      const limitation = (typeof doc["limitation"] === "object" && doc["limitation"] !== null ? doc["limitation"] : {}) as Record<string, unknown>
      const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : undefined)
      return {
        supportedNips: Array.isArray(doc["supported_nips"]) ? doc["supported_nips"].map(Number).filter(Number.isInteger) : [],
        maxLimit: num(limitation["max_limit"]),
        maxMessageLength: num(limitation["max_message_length"]),
        software: typeof doc["software"] === "string" ? doc["software"] : undefined
      }
    } catch {
      return undefined
    }
  })
