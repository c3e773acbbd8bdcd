/**
 * NIP-66 self-description: with `publishSelfDescription`, the relay signs a
 * kind 30166 event about itself (d = its URL; N, R and n tags from its NIP-11
 * document, which is also the content; rtt-open / rtt-read measured over a
 * real WebSocket to itself, rtt-write from the previous round) and publishes
 * it through its own front door like any client, so every rule applies. Runs
 * at start and every `selfDescriptionIntervalSeconds`; failures are logged.
 */
import { Clock, Effect, Layer, Schedule } from "effect"
import WebSocket from "ws"
import { expectedRelayUrls } from "../nostr/relayUrl.ts"
import { RelayIdentity, type Identity } from "../auth/RelayIdentity.ts"
import { RelayConfig } from "../config/RelayConfig.ts"
import type { Settings } from "../config/settings.ts"
import { relayInformation } from "../http/nip11.ts"
import { Moderation, type ModerationShape } from "../moderation/Moderation.ts"
import type { NostrEvent } from "../nostr/index.ts"
import { RelayServer } from "../relay/server.ts"

export const RELAY_DISCOVERY_KIND = 30166
const TIMEOUT_MS = 10_000

/** The 30166 template for this relay. */
export const describeRelay = (
  settings: Settings,
  moderation: ModerationShape,
  url: string,
  rtt: { readonly open?: number; readonly read?: number; readonly write?: number },
  now: number
) => {
  const info = relayInformation(settings, moderation)
  const l = info.limitation
  const flag = (on: boolean, name: string) => ["R", on ? name : `!${name}`]
  const tags: Array<Array<string>> = [
    ["d", url],
    ["n", "clearnet"],
    ...info.supported_nips.map((n) => ["N", String(n)]),
    flag(l.auth_required, "auth"),
    flag(l.restricted_writes, "writes"),
    flag(l.min_pow_difficulty > 0, "pow"),
    flag(l.payment_required, "payment"),
    ...(rtt.open !== undefined ? [["rtt-open", String(Math.round(rtt.open))]] : []),
    ...(rtt.read !== undefined ? [["rtt-read", String(Math.round(rtt.read))]] : []),
    ...(rtt.write !== undefined ? [["rtt-write", String(Math.round(rtt.write))]] : [])
  ]
  return { kind: RELAY_DISCOVERY_KIND, created_at: now, tags, content: JSON.stringify(info) }
}

/**
 * One round over a socket to the relay: open, a REQ to EOSE, then the signed description as an EVENT
 * (its OK time is the next round's rtt-write). Resolves with the times and the OK message.
 */
const probe = (
  wsUrl: string,
  identity: Identity,
  authUrl: string,
  make: (rtt: { open: number; read: number }) => NostrEvent
): Promise<{ open: number; read: number; write: number; ok: boolean; message: string }> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { perMessageDeflate: false })
    const timer = setTimeout(() => {
      ws.terminate()
      reject(new Error(`no answer from ${wsUrl} within ${TIMEOUT_MS} ms`))
    }, TIMEOUT_MS)
    const t0 = performance.now()
    let open = 0
    let read = 0
    let sent = 0
    let event: NostrEvent | undefined
    const send = () => {
      event = make({ open, read })
      sent = performance.now()
      ws.send(JSON.stringify(["EVENT", event]))
    }
    ws.on("error", (e) => {
      clearTimeout(timer)
      reject(e)
    })
    ws.on("open", () => {
      open = performance.now() - t0
      ws.send(JSON.stringify(["REQ", "rtt", { kinds: [RELAY_DISCOVERY_KIND], authors: [identity.pubkey], limit: 1 }]))
    })
    ws.on("message", (data) => {
      const m = JSON.parse(data.toString()) as Array<unknown>
      if (m[0] === "AUTH" && typeof m[1] === "string") {
        // Whatever the relay requires, it lets itself in.
        const auth = identity.sign({ kind: 22242, created_at: Math.floor(Date.now() / 1000), content: "", tags: [["relay", authUrl], ["challenge", m[1]]] })
        ws.send(JSON.stringify(["AUTH", auth]))
      } else if ((m[0] === "EOSE" || m[0] === "CLOSED") && m[1] === "rtt") {
        read = performance.now() - t0 - open
        ws.send(JSON.stringify(["CLOSE", "rtt"]))
        send()
      } else if (m[0] === "OK" && event !== undefined && m[1] === event.id) {
        clearTimeout(timer)
        ws.close()
        resolve({ open, read, write: performance.now() - sent, ok: m[2] === true, message: String(m[3] ?? "") })
      }
    })
  })

export const selfDescriptionLayer = Layer.effectDiscard(
  Effect.gen(function* () {
    const settings = yield* RelayConfig
    if (!settings.publishSelfDescription) return
    const identity = yield* Effect.orDie((yield* RelayIdentity).get)
    const server = yield* RelayServer
    const moderation = yield* Moderation
    const url = settings.relayUrl !== "" ? settings.relayUrl : `${server.url}/`
    const authUrl = settings.relayUrl !== "" ? settings.relayUrl : expectedRelayUrls("", server.url.replace(/^wss?:\/\//, ""))[0]!
    let lastWrite: number | undefined
    const round = Effect.tryPromise(() =>
      probe(server.url, identity, authUrl, (rtt) =>
        identity.sign(describeRelay(settings, moderation, url, { ...rtt, ...(lastWrite !== undefined ? { write: lastWrite } : {}) }, Math.floor(Date.now() / 1000)))
      )
    ).pipe(
      Effect.flatMap((r) =>
        Effect.sync(() => {
          lastWrite = r.write
          return r
        })
      ),
      Effect.tap((r) =>
        r.ok
          ? Effect.logDebug("published the NIP-66 self-description").pipe(Effect.annotateLogs({ open: r.open, read: r.read }))
          : Effect.logWarning("the relay refused its own NIP-66 self-description", r.message)
      ),
      Effect.catch((e) => Effect.logWarning("NIP-66 self-description failed", e.message))
    )
    yield* Effect.forkScoped(
      Effect.repeat(round, Schedule.spaced(`${settings.selfDescriptionIntervalSeconds} seconds`)).pipe(
        Effect.provideService(Clock.Clock, Clock.Clock.defaultValue())
      )
    )
  })
)
