/**
 * The HTTP checks on the relay's URL: the NIP-11 document (fetched with
 * Accept: application/nostr+json, as clients do) and the CORS headers web
 * clients need to read it. The document's supported_nips and max_limit are
 * what the claims checks later hold the relay to.
 */
import { request as httpRequest, type IncomingHttpHeaders, type RequestOptions } from "node:http"
import { request as httpsRequest } from "node:https"
import { caOption, errorText, quote, readBody, Timeout, type Ca, type CheckContext, type RelayFacts, type Target } from "./shared.ts"

export interface HttpAnswer {
  readonly status: number
  readonly statusText: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

const MAX_BODY = 1024 * 1024

/** One HTTP request to the relay's URL (or `url` on the same server). */
export const httpAsk = (t: Target, method: string, headers: Record<string, string>, ms: number, ca: Ca, url = t.httpUrl): Promise<HttpAnswer> =>
  new Promise((resolve, reject) => {
    const options: RequestOptions = { method, headers, agent: false, ...(t.secure ? caOption(ca) : {}) }
    const req = (t.secure ? httpsRequest : httpRequest)(url, options, (res) => {
      void readBody(res, MAX_BODY).then((body) => {
        clearTimeout(timer)
        resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? "", headers: res.headers, body })
      })
    })
    const timer = setTimeout(() => req.destroy(new Timeout(`no answer to ${method} ${url} within ${ms} ms`)), ms)
    req.once("error", (e) => {
      clearTimeout(timer)
      reject(e instanceof Timeout ? e : new Error(`${method} ${url} failed: ${errorText(e)}`))
    })
    req.end()
  })

// ---------------------------------------------------------------- the checks

/** NIP-11: the document, its content type, name, supported_nips and limitation. */
export const checkNip11 = async ({ t, ms, ca, run }: CheckContext): Promise<{ readonly facts: RelayFacts | undefined; readonly nip11Answer: HttpAnswer | undefined }> => {
  let facts: RelayFacts | undefined
  let nip11Answer: HttpAnswer | undefined
  await run("nip11", async () => {
    const a = await httpAsk(t, "GET", { accept: "application/nostr+json", origin: "https://example.com" }, ms, ca)
    nip11Answer = a
    if (a.status !== 200) {
      return { status: "fail", detail: `GET with Accept: application/nostr+json answered HTTP ${a.status} ${a.statusText}${a.status === 404 ? " (no NIP-11 document at this path)" : ""}` }
    }
    let doc: unknown
    try {
      doc = JSON.parse(a.body)
    } catch {
      return { status: "fail", detail: `the answer is not JSON (a proxy dropping the Accept header, or a web page?): ${quote(a.body.trim(), 80)}` }
    }
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return { status: "fail", detail: `the answer is not a JSON object: ${quote(a.body.trim(), 80)}` }
    const d = doc as Record<string, unknown>
    const warnings: Array<string> = []
    const contentType = String(a.headers["content-type"] ?? "")
    if (!/application\/nostr\+json/i.test(contentType)) warnings.push(`content-type is ${quote(contentType || "(none)")}, not application/nostr+json`)
    const name = typeof d["name"] === "string" ? d["name"] : undefined
    if (name === undefined) warnings.push("no name")
    const rawNips = d["supported_nips"]
    const nips = Array.isArray(rawNips) ? rawNips.filter((n): n is number => Number.isInteger(n)) : []
    if (!Array.isArray(rawNips)) warnings.push("no supported_nips list")
    else if (nips.length !== rawNips.length) warnings.push("supported_nips holds values that are not integers")
    const limitation = d["limitation"]
    const lim = typeof limitation === "object" && limitation !== null && !Array.isArray(limitation) ? (limitation as Record<string, unknown>) : undefined
    if (limitation !== undefined && lim === undefined) warnings.push("limitation is not an object")
    const maxLimit = typeof lim?.["max_limit"] === "number" && Number.isInteger(lim["max_limit"]) && lim["max_limit"] > 0 ? lim["max_limit"] : undefined
    facts = { nips, maxLimit }
    const software = [d["software"], d["version"]].filter((x) => typeof x === "string" && x !== "").join(" ")
    const limits = lim
      ? ["max_limit", "max_message_length", "max_subscriptions", "auth_required", "restricted_writes", "payment_required"]
          .filter((k) => lim[k] !== undefined)
          .map((k) => `${k} ${JSON.stringify(lim[k])}`)
          .join(", ")
      : "no limitation"
    const summary = `${name !== undefined ? quote(name, 60) : "(unnamed)"}${software ? ` (${software})` : ""}, NIPs ${nips.join(" ") || "none"}; ${limits || "limitation {}"}`
    const data = { name, software: d["software"], version: d["version"], supportedNips: nips, limitation: lim, contentType }
    return warnings.length > 0 ? { status: "warn", detail: `${warnings.join("; ")}: ${summary}`, data } : { status: "pass", detail: summary, data }
  })
  return { facts, nip11Answer }
}

/** CORS: Access-Control-Allow-Origin on the NIP-11 answer, and an OPTIONS preflight. */
export const checkCors = async ({ t, ms, ca, run, skip }: CheckContext, nip11Answer: HttpAnswer | undefined): Promise<void> => {
  if (nip11Answer === undefined) skip("cors", "no answer to the NIP-11 request")
  else {
    const got = nip11Answer
    await run("cors", async () => {
      const problems: Array<string> = []
      const allowOrigin = got.headers["access-control-allow-origin"]
      if (allowOrigin === undefined) problems.push("the NIP-11 answer has no Access-Control-Allow-Origin header: web clients cannot read it")
      const pre = await httpAsk(t, "OPTIONS", { origin: "https://example.com", "access-control-request-method": "GET", "access-control-request-headers": "accept" }, ms, ca)
      const preOrigin = pre.headers["access-control-allow-origin"]
      if (pre.status < 200 || pre.status >= 300) problems.push(`the OPTIONS preflight answered HTTP ${pre.status} ${pre.statusText}`)
      else if (preOrigin === undefined) problems.push("the OPTIONS preflight has no Access-Control-Allow-Origin header")
      const data = { allowOrigin, preflightStatus: pre.status, preflightAllowOrigin: preOrigin, preflightAllowMethods: pre.headers["access-control-allow-methods"], preflightAllowHeaders: pre.headers["access-control-allow-headers"] }
      if (problems.length > 0) return { status: "warn", detail: problems.join("; "), data }
      return { status: "pass", detail: `Access-Control-Allow-Origin ${quote(String(allowOrigin))}; preflight HTTP ${pre.status}${pre.headers["access-control-allow-methods"] ? `, methods ${quote(String(pre.headers["access-control-allow-methods"]))}` : ""}`, data }
    })
  }
}
