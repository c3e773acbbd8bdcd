/**
 * The publish check: a kind 1 note from a throwaway key (expiring in ten
 * minutes, so it does not linger), then a REQ by id to read it back. NIP-42
 * AUTH is done if the relay asks. Its connection stays open for the AUTH,
 * latency and claims checks; a refusal with a policy prefix (restricted:,
 * auth-required:...) is a warning, not a failure, since a relay may choose it.
 */
import { signEvent } from "../../nostr/index.ts"
import { elapsed, fmtMs, now, quote, type CheckContext, type Probe } from "./shared.ts"
import { Session } from "./session.ts"

const POLICY_PREFIXES = ["restricted:", "blocked:", "auth-required:", "pow:", "payment-required:", "rate-limited:"]

/** Publish and read back; `session` is the connection it opened (undefined when none opened), `probe` the event and its fate. */
export const checkPublish = async (
  { t, ms, ca, run }: CheckContext,
  probeKey: Uint8Array,
  authKey: Uint8Array,
  token: string
): Promise<{ readonly session: Session | undefined; readonly probe: Probe | undefined }> => {
  let session: Session | undefined
  let probe: Probe | undefined
  await run("publish", async () => {
    session = await Session.open(t, ms, ca)
    const s = session
    const created = now()
    const event = signEvent(probeKey, {
      kind: 1,
      created_at: created,
      tags: [["expiration", String(created + 600)]],
      content: `parrhesia doctor probe ${token}: a test note, expires in 10 minutes`
    })
    const t0 = performance.now()
    const ok = await s.ask(["EVENT", event], (f) => f[0] === "OK" && f[1] === event.id, "our EVENT", authKey)
    const accepted = ok[2] === true
    const message = typeof ok[3] === "string" ? ok[3] : ""
    const afterAuth = s.auth?.trigger === "our EVENT" ? (s.auth.accepted ? " after NIP-42 AUTH" : ` (our AUTH was refused: ${quote(s.auth.message)})`) : ""
    const data = { id: event.id, pubkey: event.pubkey, accepted, message }
    if (!accepted) {
      probe = { event, accepted: false, readBack: false }
      const policy = POLICY_PREFIXES.some((p) => message.startsWith(p))
      return { status: policy ? "warn" : "fail", detail: `kind 1 refused${afterAuth}: OK false ${quote(message)}`, data }
    }
    const r = await s.query([{ ids: [event.id] }], "the REQ for our event", authKey)
    const took = elapsed(t0)
    const found = r.events.find((e) => e.id === event.id)
    probe = { event, accepted: true, readBack: found !== undefined }
    if (r.end.type === "CLOSED") return { status: "fail", detail: `OK true ${quote(message)}${afterAuth}, but the REQ by id was refused: CLOSED ${quote(r.end.message)}`, data }
    if (found === undefined) return { status: "fail", detail: `OK true ${quote(message)}${afterAuth}, but a REQ by id did not return the event`, data }
    if (found.content !== event.content || found.sig !== event.sig) return { status: "fail", detail: `OK true ${quote(message)}${afterAuth}, but the event read back differs from the one published`, data }
    return { status: "pass", detail: `OK true ${quote(message)}${afterAuth}; read back by id, round trip ${fmtMs(took)} ms`, data: { ...data, roundTripMs: took } }
  })
  return { session, probe }
}
