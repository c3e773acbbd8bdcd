/**
 * The latency check: `rounds` REQs for a random id, one after another on the
 * publish check's connection, reported as p50, p95 and max beside the time
 * the WebSocket upgrade took. Slow (p95 over a second) warns.
 */
import { fmtMs, quote, randomHex } from "./shared.ts"
import type { SessionContext } from "./session.ts"

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!

export const checkLatency = async ({ s, run, rounds, authKey, connectMs }: SessionContext): Promise<void> => {
  await run("latency", async () => {
    const times: Array<number> = []
    for (let i = 0; i < rounds; i++) {
      const r = await s.query([{ ids: [randomHex(32)], limit: 1 }], `REQ ${i + 1} of ${rounds}`, authKey)
      if (r.end.type === "CLOSED") return { status: "fail", detail: `REQ ${i + 1} of ${rounds} was refused: CLOSED ${quote(r.end.message)}` }
      times.push(r.ms)
    }
    const sorted = [...times].sort((a, b) => a - b)
    const p50 = percentile(sorted, 0.5)
    const p95 = percentile(sorted, 0.95)
    const max = sorted[sorted.length - 1]!
    const detail = `${rounds} REQs: p50 ${fmtMs(p50)} ms, p95 ${fmtMs(p95)} ms, max ${fmtMs(max)} ms; connect ${connectMs === undefined ? "?" : fmtMs(connectMs)} ms`
    const data = { rounds, p50, p95, max, connectMs }
    return p95 > 1000 ? { status: "warn", detail: `slow: ${detail}`, data } : { status: "pass", detail, data }
  })
}
