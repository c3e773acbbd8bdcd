/**
 * Readiness: GET /ready beside the relay's URL. A relay can be up (it
 * answers HTTP and WebSocket, /health says ok) and still unable to store:
 * its database is down or restarting, its disk is full. Parrhesia says so at
 * /ready (503 with the reason); the publish check would only see the
 * resulting `error:` refusal, this check names the cause. Relays without
 * /ready (other software, or a proxy that does not pass it) are skipped.
 */
import { httpAsk } from "./nip11.ts"
import { quote, type CheckContext, type Outcome } from "./shared.ts"

/** The /ready URL of a relay URL: same origin and path (a relay behind a proxy at /relay has /relay/ready). */
export const readyUrl = (httpUrl: string): string => {
  const u = new URL(httpUrl)
  u.search = ""
  u.hash = ""
  u.pathname = `${u.pathname.replace(/\/+$/, "")}/ready`
  return u.toString()
}

const judge = (status: number, body: string): Outcome => {
  let doc: { ready?: unknown; reason?: unknown; since?: unknown } | undefined
  try {
    const parsed: unknown = JSON.parse(body)
    if (typeof parsed === "object" && parsed !== null) doc = parsed as typeof doc
  } catch {
    /* not JSON */
  }
  if (status === 200 && doc?.ready === true) return { status: "pass", detail: "the store takes writes and answers reads (GET /ready 200)", data: doc }
  if (doc?.ready === false) {
    const since = typeof doc.since === "number" && doc.since > 0 ? ` since ${new Date(doc.since).toISOString()}` : ""
    return {
      status: "fail",
      detail: `the relay is up but cannot store: ${quote(String(doc.reason ?? "no reason given"))}${since} (GET /ready ${status}); EVENTs are refused with "error:" until it recovers`,
      data: doc
    }
  }
  // A proxy's own 502/503/504: the relay behind it is not answering.
  if (status >= 500) return { status: "warn", detail: `GET /ready answered HTTP ${status}: ${quote(body.trim(), 80)}` }
  return { status: "skip", detail: `no readiness answer at /ready (HTTP ${status}: another relay software, or a proxy that does not pass it)` }
}

export const checkReady = async ({ t, ms, ca, run }: CheckContext): Promise<void> => {
  await run("ready", async () => {
    const a = await httpAsk(t, "GET", { accept: "application/json" }, ms, ca, readyUrl(t.httpUrl))
    return judge(a.status, a.body)
  })
}
