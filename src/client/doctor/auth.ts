/**
 * The AUTH check: NIP-42 on the publish check's connection. It reports
 * whether the challenge came on connect or only when needed, and whether the
 * relay accepted our AUTH (with --auth-key, or the probe's throwaway key).
 * A refused --auth-key fails; a refused throwaway key only warns.
 */
import { quote } from "./shared.ts"
import type { SessionContext } from "./session.ts"

export const checkAuth = async ({ s, run, authKey, authKeyGiven: given, claims }: SessionContext): Promise<void> => {
  await run("auth", async () => {
    let auth = s.auth
    if (auth === undefined && s.challenge !== undefined) auth = await s.authenticate(authKey, "the doctor")
    if (auth === undefined) {
      return { status: "skip", detail: `the relay sent no AUTH challenge${claims(42) ? " (NIP-11 lists 42: it asks when something needs it)" : ""}${given ? "; --auth-key unused" : ""}` }
    }
    const when = s.challengeOnConnect ? "challenge sent on connect" : "challenge sent when needed"
    const who = `${given ? "--auth-key" : "the throwaway key"} ${auth.pubkey.slice(0, 16)}…`
    const why = auth.trigger === "the doctor" ? "" : ` (asked for by the relay on ${auth.trigger})`
    const data = { challengeOnConnect: s.challengeOnConnect, pubkey: auth.pubkey, accepted: auth.accepted, message: auth.message, trigger: auth.trigger }
    if (auth.accepted) return { status: "pass", detail: `${when}; AUTH as ${who} accepted${why}`, data }
    return { status: given ? "fail" : "warn", detail: `${when}; AUTH as ${who} refused${why}: OK false ${quote(auth.message)}`, data }
  })
}
