/**
 * `parrhesia admin <method> [params...]`: one NIP-86 call, signed with NIP-98
 * by the key in PARRHESIA_ADMIN_SECRET_KEY (hex or nsec), printed as JSON.
 * Exit codes: 0 success, 1 refused (HTTP 401/403/413/400, or an `error` in
 * the answer), 2 usage, 3 relay unreachable.
 */
import { createHash, randomBytes } from "node:crypto"
import { hexToBytes } from "@noble/hashes/utils.js"
import { decodeNip19Key } from "../nostr/bech32.ts"
import { signEvent, type NostrEvent } from "../nostr/index.ts"

export class AdminUsageError extends Error {}

/** Decodes a bech32 `nsec1...` into its 32 secret-key bytes (checksum verified). */
export const decodeNsec = (text: string): Uint8Array => {
  if (!/^nsec1/i.test(text.trim())) throw new AdminUsageError("the secret key must be 64 hex characters or an nsec1... string")
  const r = decodeNip19Key(text, "nsec")
  if ("error" in r) throw new AdminUsageError(r.error)
  return r.key
}

export const parseSecretKey = (text: string | undefined): Uint8Array => {
  if (text === undefined || text.trim() === "") throw new AdminUsageError("set PARRHESIA_ADMIN_SECRET_KEY to the admin's secret key (hex or nsec)")
  const t = text.trim()
  if (/^[0-9a-fA-F]{64}$/.test(t)) return hexToBytes(t.toLowerCase())
  return decodeNsec(t)
}

/** A signed NIP-98 event for a POST of `body` to `url`. */
export const signHttpAuth = (sk: Uint8Array, url: string, body: string, now: number): NostrEvent => {
  return signEvent(sk, {
    created_at: now,
    kind: 27235,
    // The random tag makes two identical calls within one second two events: the relay accepts each event once.
    tags: [["u", url], ["method", "POST"], ["payload", createHash("sha256").update(body).digest("hex")], ["nonce", randomBytes(8).toString("hex")]],
    content: ""
  })
}

/** Params as typed on the command line: integers for kind methods, strings otherwise. */
export const paramsOf = (method: string, args: ReadonlyArray<string>): ReadonlyArray<string | number> =>
  method === "allowkind" || method === "disallowkind" ? args.map((a) => (/^\d+$/.test(a) ? Number(a) : a)) : args

/** The HTTP URL of a relay given as ws(s):// or http(s)://. */
export const httpUrlOf = (url: string): string => url.replace(/^ws(s?):\/\//i, "http$1://")

export interface AdminOutcome {
  readonly code: number
  readonly out: string
  readonly err: string
}

export const runAdmin = async (argv: ReadonlyArray<string>, env: Readonly<Record<string, string | undefined>>): Promise<AdminOutcome> => {
  let url = env["PARRHESIA_URL"] || "http://127.0.0.1:7777"
  const rest: Array<string> = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === "--url") {
      const v = argv[++i]
      if (v === undefined) return { code: 2, out: "", err: "parrhesia admin: --url needs a value\n" }
      url = v
    } else if (a.startsWith("--url=")) url = a.slice(6)
    else rest.push(a)
  }
  const [method, ...args] = rest
  if (method === undefined) return { code: 2, out: "", err: "usage: parrhesia admin <method> [params...] [--url URL]  (try: parrhesia admin supportedmethods)\n" }
  let sk: Uint8Array
  try {
    sk = parseSecretKey(env["PARRHESIA_ADMIN_SECRET_KEY"])
  } catch (e) {
    return { code: 2, out: "", err: `parrhesia admin: ${(e as Error).message}\n` }
  }
  const target = httpUrlOf(url)
  const body = JSON.stringify({ method, params: paramsOf(method, args) })
  const auth = signHttpAuth(sk, target, body, Math.floor(Date.now() / 1000))
  let res: Response
  try {
    res = await fetch(target, {
      method: "POST",
      headers: { "content-type": "application/nostr+json+rpc", authorization: `Nostr ${Buffer.from(JSON.stringify(auth)).toString("base64")}` },
      body,
      signal: AbortSignal.timeout(15_000)
    })
  } catch (e) {
    return { code: 3, out: "", err: `parrhesia admin: cannot reach ${target}: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}\n` }
  }
  const text = await res.text()
  let answer: { result?: unknown; error?: unknown } | undefined
  try {
    answer = JSON.parse(text)
  } catch {
    answer = undefined
  }
  const error = typeof answer?.error === "string" && answer.error !== "" ? answer.error : undefined
  if (!res.ok || error !== undefined || answer === undefined) {
    return { code: 1, out: "", err: `parrhesia admin: ${method} refused (HTTP ${res.status}): ${error ?? text.slice(0, 500)}\n` }
  }
  const result = answer.result
  const out = Array.isArray(result) ? result.map((r) => JSON.stringify(r)).join("\n") + (result.length > 0 ? "\n" : "") : JSON.stringify(result) + "\n"
  return { code: 0, out, err: "" }
}
