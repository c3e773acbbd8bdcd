/**
 * NIP-86 relay management: JSON-RPC-like requests over HTTP on the relay's
 * URL (`Content-Type: application/nostr+json+rpc`), authorized by NIP-98 for
 * the pubkeys in `adminPubkeys`. Every method the relay can honour changes
 * the Moderation view (persisted, effective at once on open connections).
 *
 * HTTP answers: 401 missing/invalid authorization, 403 a valid key that is
 * not an admin (or the API is off), 413 a body over 64 KiB, 400 a body that
 * is not `{method, params}` JSON; otherwise 200 with `{result}` or
 * `{result: null, error}` (unknown method, bad params, a store failure).
 */
import { Context, Effect, Layer } from "effect"
import * as ByteSize from "effect/ByteSize"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import * as HttpIncomingMessage from "effect/http/HttpIncomingMessage"
import { expectedRelayUrls } from "../nostr/relayUrl.ts"
import { makeReplayGuard, verifyNip98 } from "../auth/nip98.ts"
import { RelayConfig } from "../config/RelayConfig.ts"
import { Groups, type GroupsShape } from "../groups/Groups.ts"
import { Membership, type MembershipShape } from "../membership/Membership.ts"
import { Moderation, STATIC_REASON, type ModerationShape } from "../moderation/Moderation.ts"
import { parseIpRange } from "../net/ip.ts"
import { isHex64, nowSeconds } from "../nostr/index.ts"
import { EventStore, FreshReads, type EventStoreShape } from "../storage/EventStore.ts"
import { GROUP_ID } from "../storage/GroupStore.ts"
import { parseStreams, parseStreamSpec, type StreamSpec } from "../config/streams.ts"
import { desiredStreams, StreamStore, type StreamStoreShape } from "../storage/StreamStore.ts"

export const RPC_CONTENT_TYPE = "application/nostr+json+rpc"
export const MAX_RPC_BODY_BYTES = 64 * 1024

/** A refusal of the call itself (bad params, not possible): `{result: null, error}`. */
class RpcError {
  readonly message: string
  constructor(message: string) {
    this.message = message
  }
}

type Params = ReadonlyArray<unknown>
/** A method may read the request (e.g. the Host a relay URL is made of). */
type Method = (params: Params) => Effect.Effect<unknown, RpcError, HttpServerRequest.HttpServerRequest>

const reasonParam = (params: Params, i: number): string => {
  const r = params[i]
  return typeof r === "string" ? r.slice(0, 1000) : ""
}
const hexParam = (params: Params, what: string): string => {
  const v = params[0]
  if (typeof v !== "string" || !isHex64(v.toLowerCase())) throw new RpcError(`params[0] must be a ${what} (64 hex characters)`)
  return v.toLowerCase()
}
const kindParam = (params: Params): number => {
  const raw = params[0]
  const v = typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : raw
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 65535) throw new RpcError("params[0] must be a kind (an integer 0-65535)")
  return v
}
const ipParam = (params: Params): string => {
  const v = params[0]
  if (typeof v !== "string" || parseIpRange(v) === undefined) throw new RpcError("params[0] must be an IP address or CIDR range")
  return v.trim()
}
const textParam = (params: Params, what: string, max: number): string => {
  const v = params[0]
  if (typeof v !== "string") throw new RpcError(`params[0] must be the new ${what} (a string)`)
  if (v.length > max) throw new RpcError(`the ${what} is longer than ${max} characters`)
  return v
}

/** Runs `f` with parsed params; parse problems become RpcErrors, store failures too. */
const call = <A>(parse: () => A, f: (a: A) => Effect.Effect<unknown, { readonly message: string }>): Effect.Effect<unknown, RpcError> =>
  Effect.suspend(() => {
    let a: A
    try {
      a = parse()
    } catch (e) {
      return Effect.fail(e instanceof RpcError ? e : new RpcError(String(e)))
    }
    return Effect.mapError(f(a), (e) => (e instanceof RpcError ? e : new RpcError(`the relay could not apply it: ${e.message}`)))
  })

const unless = (removed: boolean, isStatic: boolean, what: string): Effect.Effect<true, RpcError> =>
  !removed && isStatic ? Effect.fail(new RpcError(`${what} comes from the relay's configuration and cannot be changed here`)) : Effect.succeed(true)

const isStatic = (m: ModerationShape, list: Parameters<ModerationShape["list"]>[0], value: string) =>
  m.list(list).some((e) => e.value === value && e.reason === STATIC_REASON)

/**
 * NIP-56 reports (kind 1984) name events with `e` tags; those not yet banned or approved wait for moderation.
 * Read from the primary (FreshReads): a moderator acts on what was just reported, not a replica's view.
 */
const eventsNeedingModeration = (m: ModerationShape, store: EventStoreShape) =>
  Effect.map(Effect.provideService(store.query([{ kinds: [1984], limit: 5000 }]), FreshReads, true), (reports) => {
    const approved = new Set(m.list("allowedEvents").map((e) => e.value))
    const out = new Map<string, string>()
    for (const r of reports) {
      for (const t of r.tags) {
        const id = t[1]
        if (t[0] !== "e" || id === undefined || !isHex64(id) || out.has(id) || approved.has(id) || m.isEventBanned(id)) continue
        out.set(id, t[2] !== undefined && t[2] !== "" ? t[2] : r.content.slice(0, 200))
      }
    }
    return [...out].map(([id, reason]) => ({ id, reason }))
  })

/** Strings from params[from] on (role ids, role names). */
const stringsFrom = (params: Params, from: number, what: string): ReadonlyArray<string> =>
  params.slice(from).map((v) => {
    if (typeof v !== "string" || v === "" || v.length > 100) throw new RpcError(`each ${what} must be a string of 1 to 100 characters`)
    return v
  })

/** NIP-43 role fields: id, label, description, color (a hue 0-360), order (an integer); "" leaves one out. */
const roleParam = (params: Params) => {
  const [id, label = "", description = "", color = "", order = ""] = params.map((v) => (typeof v === "number" ? String(v) : v))
  if (typeof id !== "string" || !/^[\w.-]{1,64}$/.test(id)) throw new RpcError("params[0] must be a role id (1-64 letters, digits, _ . -)")
  for (const v of [label, description, color, order]) if (typeof v !== "string" || v.length > 1000) throw new RpcError("role fields must be strings")
  if (color !== "" && !(/^\d{1,3}$/.test(color as string) && Number(color) <= 360)) throw new RpcError("the color must be a hue from 0 to 360")
  if (order !== "" && !/^-?\d{1,9}$/.test(order as string)) throw new RpcError("the order must be an integer")
  return { id, label: label as string, description: description as string, color: color as string, order: order as string }
}

/** NIP-43 membership, when enabled: not in 86.md's list, named after its pattern. */
const membershipMethods = (membership: MembershipShape, relayUrl: string): Record<string, Method> => ({
  // With `listed`: whether the member's own 10010 here names this relay (43.md: consult both lists).
  listmembers: () =>
    Effect.gen(function* () {
      const req = yield* HttpServerRequest.HttpServerRequest
      return yield* Effect.mapError(membership.listedMembers(expectedRelayUrls(relayUrl, req.headers["host"])), (e) => new RpcError(e.message))
    }),
  addmember: (p) =>
    call(() => [hexParam(p, "pubkey"), stringsFrom(p, 1, "role id")] as const, ([pk, roles]) => Effect.as(membership.addMember(pk, roles), true)),
  removemember: (p) => call(() => hexParam(p, "pubkey"), (pk) => Effect.as(membership.removeMember(pk), true)),
  createinvite: () => call(() => undefined, () => membership.createInvite),
  setmemberrole: (p) => call(() => roleParam(p), (r) => Effect.as(membership.setRole(r), true)),
  removememberrole: (p) => call(() => roleParam(p.slice(0, 1)).id, (id) => Effect.as(membership.removeRole(id), true)),
  listmemberroles: () => Effect.succeed(membership.roles())
})

/** A group id as params[0]. */
const groupParam = (params: Params): string => {
  const v = params[0]
  if (typeof v !== "string" || !GROUP_ID.test(v)) throw new RpcError("params[0] must be a group id")
  return v
}
const pubkeyAt = (params: Params, i: number): string => {
  const v = params[i]
  if (typeof v !== "string" || !isHex64(v.toLowerCase())) throw new RpcError(`params[${i}] must be a pubkey (64 hex characters)`)
  return v.toLowerCase()
}

/** NIP-29 groups, when enabled: not in 86.md's list, named after its pattern. */
const groupMethods = (groups: GroupsShape): Record<string, Method> => ({
  listgroups: () => Effect.succeed(groups.list()),
  deletegroup: (p) => call(() => groupParam(p), (id) => groups.deleteGroup(id)),
  addgroupadmin: (p) =>
    call(
      () => [groupParam(p), pubkeyAt(p, 1), stringsFrom(p, 2, "role")] as const,
      ([id, pk, roles]) => Effect.as(groups.putAdmin(id, pk, roles.length > 0 ? roles : undefined), true)
    ),
  removegroupadmin: (p) => call(() => [groupParam(p), pubkeyAt(p, 1)] as const, ([id, pk]) => groups.removeAdmin(id, pk))
})

/** Streams (`streams`; src/client/streams.ts runs them, re-reading the store every second): named after 86.md's pattern. */
const streamMethods = (streams: StreamStoreShape, configured: ReadonlyArray<StreamSpec>): Record<string, Method> => {
  const isConfigured = (url: string) => configured.some((s) => s.url === url)
  const urlParam = (params: Params): string => {
    const v = params[0]
    if (typeof v !== "string" || !/^wss?:\/\/\S+$/.test(v.trim())) throw new RpcError("params[0] must be the stream's ws:// or wss:// URL")
    return v.trim()
  }
  const runtimeUrl = (params: Params): string => {
    const url = urlParam(params)
    if (isConfigured(url)) throw new RpcError(`the stream to ${url} comes from the relay's configuration and cannot be changed here (pausestream can pause it)`)
    return url
  }
  const setPaused = (params: Params, paused: boolean) =>
    call(
      () => urlParam(params),
      (url) =>
        Effect.flatMap(streams.load, (rows) =>
          desiredStreams(configured, rows).some((v) => v.url === url) ? Effect.as(streams.setPaused(url, paused), true) : Effect.fail(new RpcError(`no stream to ${url}`))
        )
    )
  return {
    // The stream's key is never shown: authKey says whose key it AUTHs with.
    liststreams: () =>
      call(
        () => undefined,
        () => Effect.map(streams.load, (rows) => desiredStreams(configured, rows).map(({ spec, ...view }) => ({ ...view, authKey: spec.authKey === "" ? "relay" : "own" })))
      ),
    addstream: (p) =>
      call(
        () => {
          const spec = parseStreamSpec({ url: p[0], direction: p[1] ?? "down", filter: p[2], authKey: p[3] })
          if ("error" in spec) throw new RpcError(spec.error)
          runtimeUrl([spec.url])
          return spec
        },
        (spec) => Effect.as(streams.add(spec), true)
      ),
    removestream: (p) =>
      call(
        () => runtimeUrl(p),
        (url) => Effect.flatMap(streams.remove(url), (removed) => (removed ? Effect.succeed(true) : Effect.fail(new RpcError(`no stream to ${url} was added at run time`))))
      ),
    pausestream: (p) => setPaused(p, true),
    resumestream: (p) => setPaused(p, false)
  }
}

const methodsOf = (
  m: ModerationShape,
  store: EventStoreShape,
  membership: MembershipShape,
  groups: GroupsShape,
  relayUrl: string,
  streams: Record<string, Method>
): Record<string, Method> => {
  const pubkeyEntries = (list: "bannedPubkeys" | "allowedPubkeys") => m.list(list).map((e) => ({ pubkey: e.value, reason: e.reason }))
  const methods: Record<string, Method> = {
    banpubkey: (p) => call(() => hexParam(p, "pubkey"), (pk) => Effect.as(m.banPubkey(pk, reasonParam(p, 1)), true)),
    unbanpubkey: (p) =>
      call(() => hexParam(p, "pubkey"), (pk) => Effect.flatMap(m.unbanPubkey(pk), (r) => unless(r, isStatic(m, "bannedPubkeys", pk), "this ban"))),
    listbannedpubkeys: () => Effect.succeed(pubkeyEntries("bannedPubkeys")),
    allowpubkey: (p) => call(() => hexParam(p, "pubkey"), (pk) => Effect.as(m.allowPubkey(pk, reasonParam(p, 1)), true)),
    unallowpubkey: (p) =>
      call(() => hexParam(p, "pubkey"), (pk) =>
        Effect.flatMap(m.unallowPubkey(pk), (r) => unless(r, isStatic(m, "allowedPubkeys", pk), "this allowed pubkey"))
      ),
    listallowedpubkeys: () => Effect.succeed(pubkeyEntries("allowedPubkeys")),
    listeventsneedingmoderation: () => call(() => undefined, () => eventsNeedingModeration(m, store)),
    allowevent: (p) =>
      call(() => hexParam(p, "event id"), (id) =>
        isStatic(m, "bannedEvents", id)
          ? Effect.fail(new RpcError("this ban comes from the relay's configuration and cannot be changed here"))
          : Effect.as(m.allowEvent(id, reasonParam(p, 1)), true)
      ),
    banevent: (p) => call(() => hexParam(p, "event id"), (id) => Effect.as(m.banEvent(id, reasonParam(p, 1)), true)),
    listbannedevents: () => Effect.succeed(m.list("bannedEvents").map((e) => ({ id: e.value, reason: e.reason }))),
    changerelayname: (p) => call(() => textParam(p, "name", 100), (v) => Effect.as(m.setRelayInfo("name", v), true)),
    changerelaydescription: (p) => call(() => textParam(p, "description", 5000), (v) => Effect.as(m.setRelayInfo("description", v), true)),
    changerelayicon: (p) =>
      call(
        () => {
          const v = textParam(p, "icon URL", 2000)
          if (v !== "" && !/^https?:\/\/\S+$/.test(v)) throw new RpcError("the icon must be an http(s):// URL")
          return v
        },
        (v) => Effect.as(m.setRelayInfo("icon", v), true)
      ),
    allowkind: (p) => call(() => kindParam(p), (k) => Effect.as(m.allowKind(k), true)),
    disallowkind: (p) => call(() => kindParam(p), (k) => Effect.as(m.disallowKind(k), true)),
    listallowedkinds: () => Effect.succeed(m.list("allowedKinds").map((e) => Number(e.value)).sort((a, b) => a - b)),
    blockip: (p) => call(() => ipParam(p), (ip) => Effect.as(m.blockIp(ip, reasonParam(p, 1)), true)),
    unblockip: (p) =>
      call(() => ipParam(p), (ip) => Effect.flatMap(m.unblockIp(ip), (r) => unless(r, isStatic(m, "blockedIps", ip), "this block"))),
    listblockedips: () => Effect.succeed(m.list("blockedIps").map((e) => ({ ip: e.value, reason: e.reason }))),
    ...(membership.enabled ? membershipMethods(membership, relayUrl) : {}),
    ...(groups.enabled ? groupMethods(groups) : {}),
    ...streams
  }
  return { supportedmethods: () => Effect.succeed(Object.keys(methods).concat("supportedmethods").sort()), ...methods }
}

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "authorization, content-type",
  "access-control-allow-methods": "GET, POST, OPTIONS"
}
const answer = (status: number, body: { readonly result: unknown; readonly error?: string }) =>
  HttpServerResponse.jsonUnsafe(body, { status, headers: CORS })
const refuse = (status: number, error: string) => answer(status, { result: null, error })

export class ManagementApi extends Context.Service<
  ManagementApi,
  { readonly handle: Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest> }
>()("parrhesia/http/ManagementApi") {
  static readonly layer = Layer.effect(
    ManagementApi,
    Effect.gen(function* () {
      const config = yield* RelayConfig
      const moderation = yield* Moderation
      const store = yield* EventStore
      const admins = new Set(config.adminPubkeys)
      const replay = makeReplayGuard()
      const configuredStreams = parseStreams(config.streams)
      const streams = streamMethods(yield* StreamStore, "error" in configuredStreams ? [] : configuredStreams)
      const methods = methodsOf(moderation, store, yield* Membership, yield* Groups, config.relayUrl, streams)

      const handle = Effect.gen(function* () {
        const req = yield* HttpServerRequest.HttpServerRequest
        if (admins.size === 0) return refuse(403, "the management API (NIP-86) is not enabled on this relay (no adminPubkeys)")
        const declared = Number(req.headers["content-length"] ?? "0")
        if (declared > MAX_RPC_BODY_BYTES) return refuse(413, `request body is larger than ${MAX_RPC_BODY_BYTES} bytes`)
        const read = yield* Effect.result(
          Effect.provideService(req.arrayBuffer, HttpIncomingMessage.MaxBodySize, ByteSize.bytes(MAX_RPC_BODY_BYTES))
        )
        if (read._tag === "Failure") {
          const tooLarge = JSON.stringify(read.failure.reason ?? "").includes("BodyTooLarge")
          return tooLarge ? refuse(413, `request body is larger than ${MAX_RPC_BODY_BYTES} bytes`) : refuse(400, "could not read the request body")
        }
        const body = new Uint8Array(read.success)
        const now = yield* nowSeconds
        const host = req.headers["host"]
        const auth = verifyNip98(
          { authorization: req.headers["authorization"], method: req.method, body, urls: expectedRelayUrls(config.relayUrl, host), now },
          replay
        )
        if ("error" in auth) return refuse(401, auth.error)
        if (!admins.has(auth.pubkey)) return refuse(403, "this pubkey is not an administrator of this relay")
        let rpc: unknown
        try {
          rpc = JSON.parse(Buffer.from(body).toString("utf8"))
        } catch {
          return refuse(400, "request body is not JSON")
        }
        const { method, params } = (typeof rpc === "object" && rpc !== null ? rpc : {}) as { method?: unknown; params?: unknown }
        if (typeof method !== "string" || (params !== undefined && !Array.isArray(params))) {
          return refuse(400, 'request body must be {"method": string, "params": array}')
        }
        const run = Object.hasOwn(methods, method) ? methods[method]! : undefined
        if (run === undefined) return refuse(200, `unsupported method: ${method.slice(0, 100)}`)
        const result = yield* Effect.result(run((params as Params | undefined) ?? []))
        if (result._tag === "Failure") return refuse(200, result.failure.message)
        yield* Effect.logInfo("management call").pipe(Effect.annotateLogs({ method, admin: auth.pubkey }))
        return answer(200, { result: result.success })
      })

      return ManagementApi.of({ handle })
    })
  )
}
