/**
 * Streams (`streams` setting, NIP-86 addstream): the spec of one stream and
 * its validation, shared by the configuration, the NIP-86 methods and the
 * stream workers (src/client/streams.ts).
 */
import { parseFilter, type Filter } from "../nostr/index.ts"

export type StreamDirection = "down" | "up" | "both"
export const STREAM_DIRECTIONS: ReadonlyArray<StreamDirection> = ["down", "up", "both"]

/** What a stream is: the remote, which way events flow, which ones, and the key to AUTH with ("": the relay's own). */
export interface StreamSpec {
  readonly url: string
  readonly direction: StreamDirection
  /** A NIP-01 filter as JSON; "" for everything. */
  readonly filter: string
  /** 64 hex secret key for NIP-42 AUTH to the remote; "" to use the relay's own identity. */
  readonly authKey: string
}

const LIMITS = { maxFilterValues: 10_000, allowSearch: false } as const

/** One stream from JSON-ish input (the setting's items, NIP-86 params); an error message when it is not one. */
export const parseStreamSpec = (raw: unknown): StreamSpec | { readonly error: string } => {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { error: "a stream must be an object {url, direction, filter, authKey}" }
  const o = raw as Record<string, unknown>
  const url = typeof o.url === "string" ? o.url.trim() : ""
  if (!/^wss?:\/\/[^\s]+$/.test(url)) return { error: `a stream's url must be ws:// or wss://, got ${JSON.stringify(o.url)}` }
  const direction = o.direction ?? "down"
  if (typeof direction !== "string" || !STREAM_DIRECTIONS.includes(direction as StreamDirection)) {
    return { error: `a stream's direction must be down, up or both, got ${JSON.stringify(o.direction)}` }
  }
  let filter = ""
  if (o.filter !== undefined && o.filter !== "" && o.filter !== null) {
    let f: unknown = o.filter
    if (typeof f === "string") {
      try {
        f = JSON.parse(f)
      } catch {
        return { error: `a stream's filter must be a JSON filter object` }
      }
    }
    const parsed = parseFilter(f, LIMITS)
    if ("error" in parsed) return { error: `a stream's filter: ${parsed.error}` }
    filter = JSON.stringify(f)
  }
  const authKey = o.authKey === undefined || o.authKey === null ? "" : o.authKey
  if (typeof authKey !== "string" || (authKey !== "" && !/^[0-9a-f]{64}$/.test(authKey))) {
    return { error: "a stream's authKey must be a secret key of 64 lowercase hex characters" }
  }
  return { url, direction: direction as StreamDirection, filter, authKey }
}

/** The `streams` setting: a JSON list of streams; "" for none. */
export const parseStreams = (text: string): ReadonlyArray<StreamSpec> | { readonly error: string } => {
  if (text.trim() === "") return []
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return { error: "must be a JSON list of streams" }
  }
  if (!Array.isArray(raw)) return { error: "must be a JSON list of streams" }
  const out: Array<StreamSpec> = []
  for (const item of raw) {
    const s = parseStreamSpec(item)
    if ("error" in s) return s
    if (out.some((o) => o.url === s.url)) return { error: `${s.url} is listed twice (one stream per remote; use direction both)` }
    out.push(s)
  }
  return out
}

/** The filter of a spec, parsed ({} for everything). */
export const streamFilter = (spec: StreamSpec): Filter => (spec.filter === "" ? {} : (JSON.parse(spec.filter) as Filter))
