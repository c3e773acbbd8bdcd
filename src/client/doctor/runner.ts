/**
 * Runs the doctor's checks in order and collects the report. The order is
 * the one a client meets a relay in, and each stage gates the next: when DNS
 * or TCP fails the rest is skipped as unreachable, when TLS fails or no
 * WebSocket opens the rest is skipped too, so every report names every check.
 * The checks themselves live in one module per group beside this one.
 */
import { schnorr } from "@noble/curves/secp256k1.js"
import { checkAuth } from "./auth.ts"
import { checkClaims } from "./claims.ts"
import { checkLatency } from "./latency.ts"
import { checkDns, checkTcp, checkTls } from "./network.ts"
import { checkCors, checkNip11 } from "./nip11.ts"
import { checkPublish } from "./publish.ts"
import { checkReady } from "./ready.ts"
import type { SessionContext } from "./session.ts"
import { elapsed, errorText, parseTarget, randomHex, type CheckContext, type CheckResult, type DoctorOptions, type DoctorReport, type Outcome } from "./shared.ts"
import { checkWebSocket } from "./websocket.ts"

const AFTER_WS = ["publish", "auth", "latency", "nip45-count", "nip50-search", "nip77-negentropy", "nip40-expiration", "max-limit"]
const AFTER_PUBLISH = AFTER_WS.slice(1)
const AFTER_TLS = ["nip11", "cors", "ready", "websocket", ...AFTER_WS]
const AFTER_TCP = ["tls", ...AFTER_TLS]
const AFTER_DNS = ["tcp", ...AFTER_TCP]

/** Every check, in order. */
export const CHECK_NAMES: ReadonlyArray<string> = ["dns", ...AFTER_DNS]

export const runDoctor = async (options: DoctorOptions): Promise<DoctorReport> => {
  const t = parseTarget(options.url)
  const ms = options.timeoutMs ?? 10_000
  const rounds = options.rounds ?? 20
  const ca = options.ca
  const checks: Array<CheckResult> = []
  const record = (name: string, o: Outcome, took: number) => {
    const c: CheckResult = { name, status: o.status, detail: o.detail, ms: Math.round(took), ...(o.data ? { data: o.data } : {}) }
    checks.push(c)
    options.onCheck?.(c)
    return c
  }
  const run = async (name: string, f: () => Promise<Outcome>): Promise<CheckResult> => {
    const t0 = performance.now()
    let o: Outcome
    try {
      o = await f()
    } catch (e) {
      o = { status: "fail", detail: errorText(e) }
    }
    return record(name, o, elapsed(t0))
  }
  const skip = (name: string, detail: string) => record(name, { status: "skip", detail }, 0)
  const report = (reachable: boolean): DoctorReport => ({ url: t.url, ok: checks.every((c) => c.status !== "fail"), reachable, checks })

  // The throwaway identity of the probe, and the AUTH key.
  const probeKey = schnorr.utils.randomSecretKey()
  const authKey = options.authKey ?? probeKey
  const token = randomHex(8)

  const ctx: CheckContext = { t, ms, ca, run, skip }

  // 1. DNS
  const dns = await checkDns(ctx)
  if (dns.status === "fail") {
    for (const n of AFTER_DNS) skip(n, "the host does not resolve")
    return report(false)
  }

  // 2. TCP
  const tcp = await checkTcp(ctx)
  if (tcp.status === "fail") {
    for (const n of AFTER_TCP) skip(n, `${t.hostPort} is unreachable`)
    return report(false)
  }

  // 3. TLS
  const tls = await checkTls(ctx)
  if (tls.status === "fail") {
    for (const n of AFTER_TLS) skip(n, "the TLS check failed: clients cannot connect")
    return report(true)
  }

  // 4. NIP-11 and CORS; readiness (up, but can it store?)
  const { facts, nip11Answer } = await checkNip11(ctx)
  await checkCors(ctx, nip11Answer)
  await checkReady(ctx)
  const claims = (nip: number) => facts?.nips.includes(nip) === true

  // 5. WebSocket upgrade, ping/pong, close
  const { wsCheck, connectMs } = await checkWebSocket(ctx)
  if (wsCheck.status === "fail" && connectMs === undefined) {
    for (const n of AFTER_WS) skip(n, "no WebSocket connection")
    return report(true)
  }

  // 6. publish and read back
  const { session, probe } = await checkPublish(ctx, probeKey, authKey, token)
  const s = session
  if (s === undefined) {
    for (const n of AFTER_PUBLISH) skip(n, "no WebSocket connection")
    return report(true)
  }
  const sc: SessionContext = { ...ctx, s, probeKey, authKey, authKeyGiven: options.authKey !== undefined, token, rounds, connectMs, facts, claims, probe }
  try {
    // 7. AUTH
    await checkAuth(sc)
    // 8. latency
    await checkLatency(sc)
    // 9. claims against behaviour
    await checkClaims(sc)
  } finally {
    await s.close()
  }
  return report(true)
}
