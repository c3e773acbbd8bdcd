/**
 * The claims checks: for what NIP-11 says the relay supports (NIP-45 COUNT,
 * NIP-50 search, NIP-77 negentropy, NIP-40 expiration, limitation.max_limit),
 * a probe that the relay does it. A NIP not listed is skipped; one listed but
 * refused, unanswered or done wrong fails (a REQ over max_limit refused
 * rather than clamped only warns).
 */
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js"
import { Negentropy, Storage } from "../../negentropy/engine.ts"
import { signEvent } from "../../nostr/index.ts"
import { errorText, fmtMs, now, quote, randomHex, Timeout, type Outcome } from "./shared.ts"
import { newSubId, type SessionContext } from "./session.ts"

export const checkClaims = async ({ s, ms, run, skip, authKey, probeKey, token, facts, claims, probe }: SessionContext): Promise<void> => {
  const notListed = (nip: number) => (facts === undefined ? "no NIP-11 document" : `NIP-11 does not list ${nip}`)
  const claimed = (nip: number, name: string, what: string, f: () => Promise<Outcome>): Promise<unknown> =>
    claims(nip)
      ? run(name, async () => {
          try {
            return await f()
          } catch (e) {
            return { status: "fail", detail: `claims NIP-${nip} but ${e instanceof Timeout ? `did not answer ${what} within ${ms} ms` : `${what} failed: ${errorText(e)}`}` }
          }
        })
      : Promise.resolve(skip(name, notListed(nip)))

  await claimed(45, "nip45-count", "COUNT", async () => {
    const sub = newSubId("count")
    const f = await s.ask(["COUNT", sub, { ids: [probe?.event.id ?? randomHex(32)] }], (x) => (x[1] === sub && (x[0] === "COUNT" || x[0] === "CLOSED")) || x[0] === "NOTICE", "COUNT", authKey)
    if (f[0] === "CLOSED") return { status: "fail", detail: `claims NIP-45 but answered COUNT with CLOSED: ${quote(String(f[2] ?? ""))}` }
    if (f[0] === "NOTICE") return { status: "fail", detail: `claims NIP-45 but answered COUNT with NOTICE: ${quote(String(f[1] ?? ""))}` }
    const count = (f[2] as { count?: unknown } | undefined)?.count
    if (typeof count !== "number") return { status: "fail", detail: `claims NIP-45 but its COUNT answer has no count: ${quote(JSON.stringify(f[2]))}` }
    if (probe?.readBack === true && count !== 1) return { status: "fail", detail: `COUNT of our event's id answered ${count}, expected 1` }
    return { status: "pass", detail: `COUNT answered ${JSON.stringify(f[2]).slice(0, 80)}`, data: { count } }
  })

  await claimed(50, "nip50-search", "a search REQ", async () => {
    const r = await s.query([{ search: token, kinds: [1], limit: 10 }], "a search REQ", authKey)
    if (r.end.type === "CLOSED") return { status: "fail", detail: `claims NIP-50 but answered a search REQ with CLOSED: ${quote(r.end.message)}` }
    const found = probe !== undefined && r.events.some((e) => e.id === probe!.event.id)
    return {
      status: "pass",
      detail: `a search REQ got EOSE${found ? ", with our event" : probe?.readBack === true ? " (our event not found: the index may lag)" : ""}, ${fmtMs(r.ms)} ms`,
      data: { found, results: r.events.length }
    }
  })

  await claimed(77, "nip77-negentropy", "NEG-OPEN", async () => {
    const sub = newSubId("neg")
    const mine = new Negentropy(new Storage([]))
    const f = await s.ask(
      ["NEG-OPEN", sub, { ids: [probe?.event.id ?? randomHex(32)] }, bytesToHex(mine.initiate())],
      (x) => (x[1] === sub && (x[0] === "NEG-MSG" || x[0] === "NEG-ERR" || x[0] === "CLOSED")) || x[0] === "NOTICE",
      "NEG-OPEN",
      authKey
    )
    if (f[0] === "NOTICE") return { status: "fail", detail: `claims NIP-77 but answered NEG-OPEN with NOTICE: ${quote(String(f[1] ?? ""))}` }
    if (f[0] !== "NEG-MSG") return { status: "fail", detail: `claims NIP-77 but answered NEG-OPEN with ${f[0]}: ${quote(String(f[2] ?? ""))}` }
    s.send(["NEG-CLOSE", sub])
    const hex = f[2]
    if (typeof hex !== "string" || !/^(?:[0-9a-f]{2})+$/i.test(hex)) return { status: "fail", detail: `claims NIP-77 but its NEG-MSG is not hex: ${quote(String(hex))}` }
    let need: ReadonlyArray<string>
    try {
      need = mine.reconcile(hexToBytes(hex.toLowerCase())).need
    } catch (e) {
      return { status: "fail", detail: `claims NIP-77 but sent an invalid negentropy message: ${errorText(e)}` }
    }
    const has = probe !== undefined && need.includes(probe.event.id)
    return { status: "pass", detail: `NEG-OPEN answered with a valid NEG-MSG${has ? " (it holds our event)" : ""}`, data: { need: need.length } }
  })

  if (!claims(40)) skip("nip40-expiration", notListed(40))
  else if (probe?.accepted !== true) skip("nip40-expiration", "our event was refused: cannot tell")
  else
    await claimed(40, "nip40-expiration", "an expired EVENT", async () => {
      const created = now()
      const expired = signEvent(probeKey, {
        kind: 1,
        created_at: created - 120,
        tags: [["expiration", String(created - 60)]],
        content: `parrhesia doctor probe ${token}: expired a minute ago`
      })
      const ok = await s.ask(["EVENT", expired], (x) => x[0] === "OK" && x[1] === expired.id, "an expired EVENT", authKey)
      const message = typeof ok[3] === "string" ? ok[3] : ""
      if (ok[2] !== true) return { status: "pass", detail: `an already expired event was refused: OK false ${quote(message)}` }
      const r = await s.query([{ ids: [expired.id] }], "the REQ for the expired event", authKey)
      if (r.events.some((e) => e.id === expired.id)) return { status: "fail", detail: `claims NIP-40 but accepted an already expired event (OK true ${quote(message)}) and serves it` }
      return { status: "pass", detail: `an already expired event was accepted (OK true ${quote(message)}) but is not served` }
    })

  const maxLimit = facts?.maxLimit
  if (maxLimit === undefined) skip("max-limit", facts === undefined ? "no NIP-11 document" : "NIP-11 sets no limitation.max_limit")
  else if (maxLimit > 10_000) skip("max-limit", `max_limit ${maxLimit} is too large to probe`)
  else
    await run("max-limit", async () => {
      const r = await s.query([{ limit: maxLimit + 1 }], `a REQ with limit ${maxLimit + 1}`, authKey)
      const n = r.events.length
      if (r.end.type === "CLOSED") return { status: "warn", detail: `a REQ with limit ${maxLimit + 1} (max_limit + 1) was refused, not clamped: CLOSED ${quote(r.end.message)}` }
      if (n > maxLimit) return { status: "fail", detail: `claims max_limit ${maxLimit} but returned ${n} events for limit ${maxLimit + 1}` }
      if (n === maxLimit) return { status: "pass", detail: `returned ${n} events (max_limit) for limit ${maxLimit + 1}` }
      return { status: "skip", detail: `only ${n} event${n === 1 ? "" : "s"} returned, fewer than max_limit ${maxLimit}: cannot tell` }
    })
}
