/**
 * Plain HTTP on the relay's port: the NIP-11 document (Accept:
 * application/nostr+json), the NIP-86 management API (POST with
 * Content-Type: application/nostr+json+rpc), /health, /metrics, the status
 * page for browsers (Accept: text/html) with its /stats and /stats/history, and a short text
 * answer for anything else at /.
 *
 * /health is liveness (this process serves HTTP: restarting it would not
 * help otherwise); /ready is readiness (the store takes writes and answers
 * reads: send traffic here), 503 with the reason as JSON while it does not.
 */
import { Effect, Metric } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { RelayIdentity } from "../auth/RelayIdentity.ts"
import { RelayConfig } from "../config/RelayConfig.ts"
import { GroupView } from "../groups/GroupView.ts"
import { Moderation } from "../moderation/Moderation.ts"
import { groupMembers, groupsManaged, openSubscriptions, renderPrometheus, subscriptionBytes, syncStoreHealth } from "../observability/metrics.ts"
import { syncRuntimeMetrics } from "../observability/runtime.ts"
import { StoreHealth } from "../storage/StoreHealth.ts"
import { SubscriptionIndex } from "../subscriptions/SubscriptionIndex.ts"
import { relayInformation } from "./nip11.ts"
import { ManagementApi, RPC_CONTENT_TYPE } from "./nip86.ts"
import { relayStats, STATUS_CSP, statusPage } from "./status.ts"
import { StatusHistory } from "./StatusHistory.ts"

/** NIP-11: relays MUST accept CORS requests. */
const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "*",
  "access-control-allow-methods": "GET, POST, OPTIONS"
}

export const httpApp = Effect.gen(function* () {
  const req = yield* HttpServerRequest.HttpServerRequest
  const config = yield* RelayConfig
  const path = req.url.split("?")[0]
  if (req.method === "OPTIONS") return HttpServerResponse.empty({ status: 204, headers: CORS })
  const contentType = (req.headers["content-type"] ?? "").toLowerCase()
  if (req.method === "POST" && (path === "/" || path === "") && contentType.startsWith(RPC_CONTENT_TYPE)) {
    const api = yield* ManagementApi
    return yield* api.handle
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    return HttpServerResponse.text(`method not allowed (the management API takes POST with Content-Type: ${RPC_CONTENT_TYPE})\n`, {
      status: 405,
      headers: { ...CORS, allow: "GET, POST, OPTIONS" }
    })
  }
  switch (path) {
    case "/health":
      return HttpServerResponse.text("ok\n", { headers: CORS })
    case "/ready": {
      const status = (yield* StoreHealth).status()
      return HttpServerResponse.text(JSON.stringify(status), {
        status: status.ready ? 200 : 503,
        contentType: "application/json",
        headers: { ...CORS, "cache-control": "no-store" }
      })
    }
    case "/stats":
      return HttpServerResponse.text(JSON.stringify(yield* relayStats), { contentType: "application/json", headers: { ...CORS, "cache-control": "no-store" } })
    case "/stats/history": {
      // The status page's charts: the samples after ?after= (unix seconds; absent: the whole last hour).
      const after = Number(new URLSearchParams(req.url.split("?")[1] ?? "").get("after") ?? 0)
      const history = (yield* StatusHistory).since(Number.isFinite(after) ? after : 0)
      return HttpServerResponse.text(JSON.stringify(history), { contentType: "application/json", headers: { ...CORS, "cache-control": "no-store" } })
    }
    case "/metrics": {
      const index = yield* SubscriptionIndex
      yield* Metric.update(openSubscriptions, index.size())
      yield* Metric.update(subscriptionBytes, index.bytes())
      const groups = yield* GroupView
      yield* Metric.update(groupsManaged, groups.groups().length)
      yield* Metric.update(groupMembers, groups.memberCount())
      yield* syncStoreHealth((yield* StoreHealth).status())
      yield* syncRuntimeMetrics
      const body = yield* renderPrometheus
      return HttpServerResponse.text(body, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
    }
  }
  // Media types are case-insensitive (RFC 9110).
  const accept = (req.headers["accept"] ?? "").toLowerCase()
  if (accept.includes("application/nostr+json")) {
    const moderation = yield* Moderation
    const self = config.publishSelfDescription || config.nip43 || config.groups ? yield* Effect.orDie((yield* RelayIdentity).get) : undefined
    const doc = {
      ...relayInformation(config, moderation),
      ...(self !== undefined ? { self: self.pubkey } : {}),
      // NIP-29 clients that take the group state's author from `pubkey` (nostr-tools' loadGroup) find it when no contact is set.
      ...(self !== undefined && config.groups && config.pubkey === "" ? { pubkey: self.pubkey } : {})
    }
    return HttpServerResponse.text(JSON.stringify(doc), {
      contentType: "application/nostr+json",
      headers: CORS
    })
  }
  if ((path === "/" || path === "") && accept.includes("text/html")) {
    const moderation = yield* Moderation
    return HttpServerResponse.text(statusPage(config, relayInformation(config, moderation)), {
      contentType: "text/html; charset=utf-8",
      headers: { "content-security-policy": STATUS_CSP, "x-content-type-options": "nosniff" }
    })
  }
  if (path === "/" || path === "") {
    return HttpServerResponse.text(
      `${(yield* Moderation).relayInfo().name}: a Nostr relay. Connect with a Nostr client over WebSocket at this address.\n`,
      { headers: CORS }
    )
  }
  return HttpServerResponse.text("not found\n", { status: 404, headers: CORS })
})
