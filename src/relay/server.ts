/**
 * The server edge: one port for WebSocket (the relay) and plain HTTP (NIP-11,
 * /health, /metrics), over TLS when a certificate is configured. This is the only module that knows about `ws` and
 * `node:http`. Each upgraded socket gets a Connection (Connection.ts): an object, not a fiber,
 * so an idle connection costs little more than its socket.
 *
 * At the upgrade the client IP is worked out (trusted proxies' forwarding
 * headers, clientIp.ts); blocked IPs get HTTP 403 and IPs at their connection
 * cap HTTP 429. An IP blocked later has its open connections closed.
 *
 * Shutdown (scope close): stop accepting, stop reading from every client,
 * wait (up to shutdownGraceMs) for the EVENTs being stored to be answered,
 * then NOTICE + close 1001 to every client.
 */
import { readFileSync } from "node:fs"
import { createServer } from "node:http"
import { createServer as createTlsServer } from "node:https"
import type { Duplex } from "node:stream"
import type { AddressInfo } from "node:net"
import { NodeHttpServer } from "@effect/platform-node"
import { Clock, Context, Effect, Layer, Metric, Schedule } from "effect"
import { WebSocketServer, type WebSocket } from "ws"
import { RelayConfig } from "../config/RelayConfig.ts"
import { httpApp } from "../http/routes.ts"
import { Ingest } from "../ingest/Ingest.ts"
import { AuthSessions } from "../auth/AuthSessions.ts"
import { Membership } from "../membership/Membership.ts"
import { NegentropySessions } from "../negentropy/NegentropySessions.ts"
import { Moderation } from "../moderation/Moderation.ts"
import { makeIpMatcher } from "../net/ip.ts"
import { openConnections, upgradesRefused } from "../observability/metrics.ts"
import { Policy } from "../policy/Policy.ts"
import { RateLimiter } from "../policy/RateLimiter.ts"
import { Query } from "../query/Query.ts"
import { SubscriptionIndex } from "../subscriptions/SubscriptionIndex.ts"
import { clientIp } from "./clientIp.ts"
import { warmUp } from "./warmUp.ts"
import { Connection, type ConnectionHost } from "./Connection.ts"
import type { RelayServices } from "./handlers/Conn.ts"
import { WsTransport } from "./WsTransport.ts"

export class RelayServer extends Context.Service<
  RelayServer,
  {
    readonly host: string
    readonly port: number
    /** ws:// URL clients connect to */
    readonly url: string
  }
>()("parrhesia/relay/RelayServer") {
  static readonly layer = Layer.effect(RelayServer, Effect.suspend(() => make))
}

/** Ends an upgrade request with an HTTP status and a one-line reason. */
const refuseUpgrade = (socket: Duplex, status: string, reason: string) =>
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason) + 1}\r\n\r\n${reason}\n`)

const make = Effect.gen(function* () {
  const config = yield* RelayConfig
  const moderation = yield* Moderation
  const limiter = yield* RateLimiter
  const trustedProxies = makeIpMatcher(config.trustedProxies)
  const scope = yield* Effect.scope

  const services: RelayServices = {
    config,
    index: yield* SubscriptionIndex,
    ingest: yield* Ingest,
    query: yield* Query,
    policy: yield* Policy,
    auth: yield* AuthSessions,
    limiter,
    membership: yield* Membership,
    negentropySessions: yield* NegentropySessions
  }
  const context = yield* Effect.context<never>()
  const runFork = Effect.runForkWith(context)
  /** The open connections (a connection leaves once its socket closed and its fibers ended). */
  const connections = new Set<Connection>()
  /** Woken when the last connection has left (shutdown waits for it). */
  let onAllEnded: (() => void) | undefined
  let nextId = 1
  let accepting = true

  const host: ConnectionHost = {
    services,
    runFork,
    ended: (c) => {
      if (!connections.delete(c)) return
      limiter.connectionClosed(c.id, c.ip)
      openConnections.modifyUnsafe(-1, context)
      runFork(Effect.logInfo("connection closed").pipe(
        Effect.annotateLogs({ connection: c.id, ip: c.ip, seconds: Math.round((Date.now() - c.openedAt) / 100) / 10 })
      ))
      if (connections.size === 0) onAllEnded?.()
    }
  }
  const allEnded = Effect.callback<void>((resume) => {
    if (connections.size === 0) return resume(Effect.void)
    onAllEnded = () => resume(Effect.void)
  })

  // clientTracking off: `connections` already holds every socket (ws would add a close listener per socket).
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxMessageBytes, perMessageDeflate: false, clientTracking: false })
  // With a certificate the same port speaks TLS (wss://, https://); SIGHUP reloads it for new connections.
  const tls = config.tlsCert !== "" ? () => ({ cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) }) : undefined
  // Slow or silent clients (slowloris) lose their socket once the headers have taken 10 s, checked
  // every second; Node's defaults (60 s, checked every 30 s) would hold each for up to 90 s.
  const timeouts = { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1000 }
  const server = tls ? createTlsServer({ ...tls(), ...timeouts, handshakeTimeout: 10_000 }) : createServer(timeouts)
  if (tls) {
    const services = yield* Effect.context<never>()
    const log = (e: Effect.Effect<void>) => void Effect.runForkWith(services)(e)
    const reload = () => {
      try {
        ;(server as ReturnType<typeof createTlsServer>).setSecureContext(tls())
        log(Effect.logInfo("TLS certificate reloaded (SIGHUP)"))
      } catch (e) {
        log(Effect.logError(`TLS certificate not reloaded, the old one stays: ${e instanceof Error ? e.message : String(e)}`))
      }
    }
    process.on("SIGHUP", reload)
    yield* Effect.addFinalizer(() => Effect.sync(() => process.off("SIGHUP", reload)))
  }
  const handler = yield* NodeHttpServer.makeHandler(httpApp, { scope })
  server.on("request", handler)

  // Takes the ip, not the request: an IncomingMessage kept alive per idle connection costs kilobytes.
  const serveSocket = (ws: WebSocket, ip: string, hostHeader: string | undefined) => {
    const id = nextId++
    const connection = new Connection(new WsTransport(ws), { id, ip, host: hostHeader }, host)
    connections.add(connection)
    openConnections.modifyUnsafe(1, context)
    runFork(Effect.logInfo("connection open").pipe(Effect.annotateLogs({ connection: id, ip })))
    connection.start()
  }

  server.on("upgrade", (req, socket, head) => {
    const path = (req.url ?? "/").split("?")[0]
    if (!accepting || path !== "/") {
      socket.end(`HTTP/1.1 ${accepting ? "404 Not Found" : "503 Service Unavailable"}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      return
    }
    const ip = clientIp(req.socket.remoteAddress, req.headers, trustedProxies)
    if (moderation.isIpBlocked(ip)) {
      Effect.runFork(Metric.update(upgradesRefused("blocked"), 1))
      refuseUpgrade(socket, "403 Forbidden", "blocked: this IP address is blocked on this relay")
      return
    }
    if (!limiter.connectionOpened(ip)) {
      Effect.runFork(Metric.update(upgradesRefused("rate-limited"), 1))
      refuseUpgrade(socket, "429 Too Many Requests", `rate-limited: too many connections from this IP address (max ${config.maxConnectionsPerIp})`)
      return
    }
    let counted = true
    const uncount = () => {
      if (counted) limiter.connectionClosed(-1, ip)
      counted = false
    }
    // A handshake that fails after this point must give back its slot.
    socket.once("close", uncount)
    wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off("close", uncount)
      counted = false
      serveSocket(ws, ip, req.headers.host)
    })
  })

  // An IP blocked through the management API loses its open connections at once.
  const stopWatching = moderation.onChange((list) => {
    if (list !== "blockedIps") return
    for (const c of connections) {
      if (moderation.isIpBlocked(c.ip)) runFork(c.goAway(1008, "blocked: this IP address is blocked on this relay"))
    }
  })
  yield* Effect.addFinalizer(() => Effect.sync(stopWatching))

  // One ticker for every connection's idle timeout and ping keepalive.
  const tickSeconds = Math.max(1, Math.min(
    config.pingIntervalSeconds || Infinity,
    config.idleTimeoutSeconds ? config.idleTimeoutSeconds / 2 : Infinity,
    60
  ))
  if (config.pingIntervalSeconds > 0 || config.idleTimeoutSeconds > 0) {
    let sinceLastPing = 0
    const tick = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      sinceLastPing += tickSeconds
      const pingDue = config.pingIntervalSeconds > 0 && sinceLastPing >= config.pingIntervalSeconds
      if (pingDue) sinceLastPing = 0
      for (const c of connections) c.housekeeping(now, pingDue)
    })
    yield* Effect.forkScoped(Effect.repeat(tick, Schedule.spaced(`${tickSeconds} seconds`)))
  }

  const warmed = yield* Effect.withTracerEnabled(warmUp(services, context, config.warmUpMessages), false)
  if (warmed.ms > 0) yield* Effect.logInfo("warmed up").pipe(Effect.annotateLogs(warmed))

  yield* Effect.callback<void, Error>((resume) => {
    const onError = (err: Error) => resume(Effect.fail(err))
    server.once("error", onError)
    server.listen(config.port, config.host, () => {
      server.off("error", onError)
      resume(Effect.void)
    })
  }).pipe(
    Effect.mapError((err) => new Error(`cannot listen on ${config.host}:${config.port}: ${err.message}`)),
    Effect.orDie
  )

  yield* Effect.addFinalizer(() =>
    Effect.gen(function* () {
      accepting = false
      server.close()
      server.closeIdleConnections()
      const all = [...connections]
      yield* Effect.logInfo("shutting down").pipe(Effect.annotateLogs({ connections: all.length }))
      yield* Effect.forEach(all, (c) => c.drain(), { concurrency: "unbounded", discard: true }).pipe(
        Effect.timeoutOrElse({ duration: config.shutdownGraceMs, orElse: () => Effect.logWarning("shutdown grace period over; closing with writes in flight") })
      )
      yield* Effect.forEach(all, (c) => c.goAway(1001, "error: the relay is shutting down"), { concurrency: "unbounded", discard: true })
      yield* allEnded.pipe(Effect.timeoutOrElse({ duration: "2 seconds", orElse: () => Effect.void }))
      // The rest are dropped; their fibers are interrupted and awaited before the services go.
      for (const c of [...connections]) c.abort()
      yield* allEnded
      wss.close()
    })
  )

  const address = server.address() as AddressInfo
  const shownHost = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host
  return RelayServer.of({ host: config.host, port: address.port, url: `${tls ? "wss" : "ws"}://${shownHost}:${address.port}` })
})
