/**
 * The WebSocket check: does the upgrade get through (proxies in front of a
 * relay often drop it), does the relay answer a ping, and does it answer our
 * close frame with 1000. It uses a connection of its own and closes it; when
 * no connection opens at all, the checks that need one are skipped.
 */
import { fmtMs, quote, type CheckContext, type CheckResult, type CheckStatus } from "./shared.ts"
import { Session } from "./session.ts"

/** Upgrade, ping/pong and close; `connectMs` is how long the upgrade took, when it got through. */
export const checkWebSocket = async ({ t, ms, ca, run }: CheckContext): Promise<{ readonly wsCheck: CheckResult; readonly connectMs: number | undefined }> => {
  let connectMs: number | undefined
  const wsCheck = await run("websocket", async () => {
    const s = await Session.open(t, ms, ca)
    connectMs = s.connectMs
    const pong = await s.ping()
    const closed = await s.close()
    const problems: Array<string> = []
    let status: CheckStatus = "pass"
    if (pong === undefined) {
      status = "fail"
      problems.push(`no pong to our ping within ${ms} ms`)
    }
    if (closed === undefined) {
      if (status === "pass") status = "warn"
      problems.push(`no answer to our close frame within ${ms} ms`)
    } else if (closed.code !== 1000) {
      if (status === "pass") status = "warn"
      problems.push(`our close (1000) was answered with code ${closed.code}${closed.code === 1005 ? " (no status)" : closed.code === 1006 ? " (no close frame: the connection was cut)" : ""}`)
    }
    const facts = `101 in ${fmtMs(s.connectMs)} ms, subprotocol ${s.ws.protocol ? quote(s.ws.protocol) : "none"}, extensions ${s.ws.extensions ? quote(s.ws.extensions) : "none"}, pong ${pong === undefined ? "none" : `${fmtMs(pong)} ms`}, close code ${closed?.code ?? "none"}`
    return {
      status,
      detail: problems.length > 0 ? `${problems.join("; ")} (${facts})` : facts,
      data: { connectMs: s.connectMs, protocol: s.ws.protocol, extensions: s.ws.extensions, pongMs: pong, closeCode: closed?.code }
    }
  })
  return { wsCheck, connectMs }
}
