/**
 * Helpers of the fault-injection tests (test/faults/): a publishing load that
 * records what was acknowledged and how each refusal read, readiness polled
 * over fresh HTTP connections (with workers each lands on a worker in turn),
 * and a read-back of acknowledged ids. Everything waits on signals (frames,
 * answers); polling is only for /ready, whose change is what is measured.
 */
import { request } from "node:http"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import WebSocket from "ws"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { makeEvent, newKey, type Key } from "./nostr.ts"
import { withClient } from "./postgres.ts"
import { connect, now, req, type RawClient } from "./ws.ts"

export interface Refusal {
  readonly message: string
  /** ms from sending the EVENT to its OK. */
  readonly ms: number
}

export interface Load {
  /** Ids answered OK true. */
  readonly acked: Set<string>
  readonly refused: Array<Refusal>
  /** Sockets of the load that closed before stop. */
  readonly closed: () => number
  /** The slowest OK of any EVENT so far (ms). */
  readonly slowestMs: () => number
  /** Resolves once `n` more events than now were acknowledged. */
  readonly ackedMore: (n: number, timeoutMs?: number) => Promise<void>
  /** Stops sending, waits for the answers in flight (at most 35 s), closes the sockets. */
  readonly stop: () => Promise<void>
  /** EVENTs sent that got no OK (after stop: none may be left; a silent drop otherwise). */
  readonly unanswered: () => number
}

/** Keeps `sockets` publishers busy, each with up to `inFlight` EVENTs unanswered (kind 1, created_at now). */
export const startLoad = async (
  url: string,
  options: { readonly sockets?: number; readonly inFlight?: number; readonly key?: Key; readonly pauseOnRefusalMs?: number } = {}
): Promise<Load> => {
  const key = options.key ?? newKey()
  const acked = new Set<string>()
  const refused: Array<Refusal> = []
  const waiters: Array<{ target: number; resolve: () => void }> = []
  let closedEarly = 0
  let slowest = 0
  let stopping = false
  let seq = 0
  const drains: Array<Promise<void>> = []
  const clients: Array<RawClient> = []
  const pending: Array<Map<string, number>> = []
  for (let s = 0; s < (options.sockets ?? 3); s++) {
    const c = await connect(url)
    clients.push(c)
    const sent = new Map<string, number>()
    pending.push(sent)
    let settle: () => void = () => {}
    drains.push(new Promise<void>((r) => (settle = r)))
    const fill = () => {
      while (!stopping && sent.size < (options.inFlight ?? 4) && c.ws.readyState === WebSocket.OPEN) {
        const e: NostrEvent = makeEvent({ created_at: now(), content: `load ${s} ${seq++}` }, key)
        sent.set(e.id, performance.now())
        c.ws.send(JSON.stringify(["EVENT", e]))
      }
      if (stopping && sent.size === 0) settle()
    }
    c.ws.on("message", (data) => {
      const f = JSON.parse(data.toString())
      if (f[0] !== "OK" || !sent.has(f[1])) return
      const ms = performance.now() - sent.get(f[1])!
      sent.delete(f[1])
      slowest = Math.max(slowest, ms)
      if (f[2] === true) acked.add(f[1])
      else refused.push({ message: String(f[3]), ms })
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (acked.size >= waiters[i]!.target) waiters.splice(i, 1)[0]!.resolve()
      }
      // Refusals come at once while the store is down: pace the retries instead of spinning.
      if (f[2] === true) fill()
      else setTimeout(fill, options.pauseOnRefusalMs ?? 100)
    })
    void c.closed.then(() => {
      if (!stopping) closedEarly++
      settle()
    })
    fill()
  }
  return {
    acked,
    refused,
    closed: () => closedEarly,
    slowestMs: () => slowest,
    ackedMore: (n, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const target = acked.size + n
        const t = setTimeout(
          () => reject(new Error(`only ${acked.size} of ${target} events acknowledged within ${timeoutMs} ms; last refusals: ${JSON.stringify(refused.slice(-3))}`)),
          timeoutMs
        )
        waiters.push({
          target,
          resolve: () => {
            clearTimeout(t)
            resolve()
          }
        })
      }),
    unanswered: () => pending.reduce((n, m) => n + m.size, 0),
    stop: async () => {
      stopping = true
      await Promise.race([Promise.all(drains), new Promise((r) => setTimeout(r, 35_000))])
      for (const c of clients) await c.close()
    }
  }
}

export interface HttpAnswer {
  readonly status: number
  readonly body: string
}

/** One GET on a connection of its own (no keep-alive: with workers, each request may land on another one). */
export const get = (httpUrl: string, path: string, timeoutMs = 5000): Promise<HttpAnswer> =>
  new Promise((resolve, reject) => {
    const r = request(`${httpUrl}${path}`, { agent: false, timeout: timeoutMs, headers: { connection: "close" } }, (res) => {
      let body = ""
      res.on("data", (d) => (body += d))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
    })
    r.on("timeout", () => r.destroy(new Error(`GET ${path}: no answer within ${timeoutMs} ms`)))
    r.on("error", reject)
    r.end()
  })

export const httpOf = (wsUrl: string) => wsUrl.replace(/^ws/, "http")

/**
 * Polls /ready every 50 ms until it answered 200 `inARow` times in a row (fresh connections: with
 * workers, both must be ready). Resolves with the ms since `since` (performance.now()) at the first
 * of those answers, and whether a 503 was seen before.
 */
export const readyAgain = async (
  wsUrl: string,
  since: number,
  options: { readonly timeoutMs?: number; readonly inARow?: number } = {}
): Promise<{ readonly ms: number; readonly saw503: boolean; readonly reasons: ReadonlyArray<string> }> => {
  const deadline = since + (options.timeoutMs ?? 60_000)
  let saw503 = false
  const reasons: Array<string> = []
  let streak = 0
  let firstOk = 0
  for (;;) {
    const t = performance.now()
    if (t > deadline) throw new Error(`not ready within ${options.timeoutMs ?? 60_000} ms; reasons seen: ${JSON.stringify(reasons.slice(-3))}`)
    const a = await get(httpOf(wsUrl), "/ready", 2000).catch((e: Error) => ({ status: 0, body: e.message }))
    if (a.status === 200) {
      if (streak++ === 0) firstOk = t
      if (streak >= (options.inARow ?? 1)) return { ms: firstOk - since, saw503, reasons }
    } else {
      streak = 0
      if (a.status === 503) {
        saw503 = true
        const reason = (JSON.parse(a.body) as { reason: string }).reason
        if (reasons.at(-1) !== reason) reasons.push(reason)
      }
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Resolves once /ready answers 503 (the relay noticed the outage); the ms since `since`, and the reason given. */
export const notReady = async (wsUrl: string, since: number, timeoutMs = 20_000): Promise<{ readonly ms: number; readonly reason: string }> => {
  for (;;) {
    const a = await get(httpOf(wsUrl), "/ready", 2000).catch(() => ({ status: 0, body: "" }))
    if (a.status === 503) return { ms: performance.now() - since, reason: (JSON.parse(a.body) as { reason: string }).reason }
    if (performance.now() - since > timeoutMs) throw new Error(`/ready still ${a.status} after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The ids among `ids` the relay does not return (REQ by ids, in chunks). */
export const missingIds = async (wsUrl: string, ids: Iterable<string>): Promise<Array<string>> => {
  const all = [...ids]
  const c = await connect(wsUrl)
  const found = new Set<string>()
  try {
    for (let i = 0; i < all.length; i += 500) {
      const chunk = all.slice(i, i + 500)
      const r = await req(c, `ids${i}`, { ids: chunk, limit: chunk.length })
      if (r.end.type !== "EOSE") throw new Error(`read-back refused: ${r.end.message}`)
      for (const e of r.events) found.add(e.id)
    }
  } finally {
    await c.close()
  }
  return all.filter((id) => !found.has(id))
}

/**
 * The ids among `ids` that are not in the database's events table: read from PostgreSQL itself,
 * not through the relay (whose hot window could answer from memory what the database lost).
 */
export const missingInDb = async (dbUrl: string, ids: Iterable<string>): Promise<Array<string>> => {
  const rows = await withClient(dbUrl, (sql) => sql.unsafe<{ id: string }>("SELECT encode(id, 'hex') AS id FROM events"))
  const stored = new Set(rows.map((r) => r.id))
  return [...ids].filter((id) => !stored.has(id))
}

/** The URL of the embedded PostgreSQL of a relay's data folder (its password file and postmaster.pid). */
export const embeddedUrl = (dataDir: string): string => {
  const password = readFileSync(join(dataDir, "pg-password"), "utf8").trim()
  const port = Number(readFileSync(join(dataDir, "pg", "postmaster.pid"), "utf8").split("\n")[3])
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/parrhesia`
}

/** The postmaster's pid of a data folder (`<dataDir>/pg/postmaster.pid`); with `ready`, 0 until it accepts connections. */
export const postmasterPid = (dataDir: string, options: { readonly ready?: boolean } = {}): number => {
  const lines = readFileSync(join(dataDir, "pg", "postmaster.pid"), "utf8").split("\n")
  // Line 8 is the server's status: "starting", then "ready" once it accepts connections.
  if (options.ready === true && lines[7]?.trim() !== "ready") return 0
  return Number(lines[0])
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
