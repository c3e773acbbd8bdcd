/**
 * `parrhesia admin <method> [params...]`: one NIP-86 call, signed with NIP-98
 * by the key in PARRHESIA_ADMIN_SECRET_KEY (hex or nsec), printed as JSON.
 * Exit codes: 0 success, 1 refused (HTTP 401/403/413/400, or an `error` in
 * the answer), 2 usage, 3 relay unreachable.
 */
import { createHash, randomBytes } from "node:crypto"
import { hexToBytes } from "@noble/hashes/utils.js"
import { signEvent, type NostrEvent } from "../nostr/index.ts"

export class AdminUsageError extends Error {}

const BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

/** Decodes a bech32 `nsec1...` into its 32 secret-key bytes (checksum verified). */
export const decodeNsec = (text: string): Uint8Array => {
  const s = text.toLowerCase()
  const sep = s.lastIndexOf("1")
  if (!s.startsWith("nsec1") || sep !== 4) throw new AdminUsageError("the secret key must be 64 hex characters or an nsec1... string")
  const values: Array<number> = []
  for (const c of s.slice(sep + 1)) {
    const v = BECH32.indexOf(c)
    if (v === -1) throw new AdminUsageError("the nsec contains a character bech32 does not use")
    values.push(v)
  }
  const polymod = (vs: ReadonlyArray<number>) => {
    const G = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
    let chk = 1
    for (const v of vs) {
      const top = chk >> 25
      chk = ((chk & 0x1ffffff) << 5) ^ v
      for (let i = 0; i < 5; i++) if ((top >> i) & 1) chk ^= G[i]!
    }
    return chk
  }
  const hrp = s.slice(0, sep)
  const expanded = [...[...hrp].map((c) => c.charCodeAt(0) >> 5), 0, ...[...hrp].map((c) => c.charCodeAt(0) & 31)]
  if (polymod([...expanded, ...values]) !== 1) throw new AdminUsageError("the nsec checksum is wrong")
  const data = values.slice(0, -6)
  let acc = 0
  let bits = 0
  const out: Array<number> = []
  for (const v of data) {
    acc = (acc << 5) | v
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out.push((acc >> bits) & 0xff)
    }
  }
  if (out.length !== 32) throw new AdminUsageError("the nsec does not hold a 32-byte key")
  return Uint8Array.from(out)
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
