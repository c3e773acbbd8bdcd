/** NIP-98 authorization headers for tests, signed with nostr-tools (independent of src/auth). */
import { createHash } from "node:crypto"
import { makeEvent, type Key } from "./nostr.ts"

export interface AuthOverrides {
  readonly kind?: number
  readonly url?: string
  readonly method?: string
  /** Hash this instead of the body; null leaves the payload tag out. */
  readonly payloadOf?: string | null
  readonly created_at?: number
}

export const sha256 = (s: string) => createHash("sha256").update(s).digest("hex")

export const authEvent = (key: Key, url: string, body: string, o: AuthOverrides = {}) =>
  makeEvent(
    {
      kind: o.kind ?? 27235,
      created_at: o.created_at ?? Math.floor(Date.now() / 1000),
      content: "",
      // A random tag keeps two identical calls in one second from being one event (refused as a replay).
      tags: [
        ["nonce", Math.random().toString(16).slice(2)],
        ["u", o.url ?? url],
        ["method", o.method ?? "POST"],
        ...(o.payloadOf === null ? [] : [["payload", sha256(o.payloadOf ?? body)]])
      ]
    },
    key
  )

export const authHeader = (key: Key, url: string, body: string, o: AuthOverrides = {}) =>
  `Nostr ${Buffer.from(JSON.stringify(authEvent(key, url, body, o))).toString("base64")}`

/** POSTs one NIP-86 call; resolves with the HTTP status and the parsed answer. */
export const rpc = async (
  url: string,
  key: Key,
  method: string,
  params: ReadonlyArray<unknown> = [],
  o: AuthOverrides & { readonly rawBody?: string; readonly authorization?: string | null } = {}
): Promise<{ status: number; body: { result?: unknown; error?: string } }> => {
  const body = o.rawBody ?? JSON.stringify({ method, params })
  const headers: Record<string, string> = { "content-type": "application/nostr+json+rpc" }
  if (o.authorization !== null) headers["authorization"] = o.authorization ?? authHeader(key, url, body, o)
  const res = await fetch(url, { method: "POST", headers, body })
  const text = await res.text()
  return { status: res.status, body: text === "" ? {} : JSON.parse(text) }
}
