/**
 * The server edge: one port for WebSocket (the relay) and plain HTTP (NIP-11,
 * /health, /metrics). This is the only module that knows about `ws` and
 * `node:http`. Each upgraded socket gets its own scoped connection fiber.
 *
 * Shutdown (scope close): stop accepting, stop reading from every client,
 * wait (up to shutdownGraceMs) for the EVENTs being stored to be answered,
 * then NOTICE + close 1001 to every client.
 */
import { createServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"
import { NodeHttpServer } from "@effect/platform-node"
import { Clock, Context, Effect, FiberSet, Layer, Metric, Schedule } from "effect"
import { WebSocketServer, type WebSocket } from "ws"
import { RelayConfig } from "../config/RelayConfig.ts"
import { httpApp } from "../http/routes.ts"
import { Ingest } from "../ingest/Ingest.ts"
import { openConnections } from "../observability/metrics.ts"
import { Query } from "../query/Query.ts"
import { SubscriptionIndex } from "../subscriptions/SubscriptionIndex.ts"
import { runConnection, type ConnectionControl } from "./Connection.ts"
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

const clientIp = (req: IncomingMessage): string => req.socket.remoteAddress ?? "unknown"

const make = Effect.gen(function* () {
  const config = yield* RelayConfig
  const scope = yield* Effect.scope

  const connections = yield* FiberSet.make<void, never>()
  const runConnectionFiber = yield* FiberSet.runtime(connections)<RelayConfig | SubscriptionIndex | Ingest | Query>()
  const controls = new Set<ConnectionControl>()
  let nextId = 1
  let accepting = true

  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxMessageBytes, perMessageDeflate: false })
  const server = createServer()
  const handler = yield* NodeHttpServer.makeHandler(httpApp, { scope })
  server.on("request", handler)

  // Takes the ip, not the request: an IncomingMessage kept alive per idle connection costs kilobytes.
  const serveSocket = (ws: WebSocket, ip: string) => {
    const id = nextId++
    const connection = Effect.gen(function* () {
      const opened = yield* Clock.currentTimeMillis
      yield* Metric.modify(openConnections, 1)
      yield* Effect.logInfo("connection open").pipe(Effect.annotateLogs({ connection: id, ip }))
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.terminate()
          yield* Metric.modify(openConnections, -1)
          const closedAt = yield* Clock.currentTimeMillis
          yield* Effect.logInfo("connection closed").pipe(
            Effect.annotateLogs({ connection: id, ip, seconds: Math.round((closedAt - opened) / 100) / 10 })
          )
        })
      )
      yield* runConnection(new WsTransport(ws), { id, ip }, (control) =>
        Effect.acquireRelease(Effect.sync(() => controls.add(control)), () => Effect.sync(() => controls.delete(control))).pipe(Effect.asVoid)
      )
    }).pipe(
      Effect.scoped,
      Effect.catchCause((cause) => Effect.logWarning("connection failed", cause).pipe(Effect.annotateLogs({ connection: id, ip })))
    )
    runConnectionFiber(connection)
  }

  server.on("upgrade", (req, socket, head) => {
    const path = (req.url ?? "/").split("?")[0]
    if (!accepting || path !== "/") {
      socket.end(`HTTP/1.1 ${accepting ? "404 Not Found" : "503 Service Unavailable"}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      return
    }
    const ip = clientIp(req)
    wss.handleUpgrade(req, socket, head, (ws) => serveSocket(ws, ip))
  })

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
      for (const c of controls) c.housekeeping(now, pingDue)
    })
    yield* Effect.forkScoped(Effect.repeat(tick, Schedule.spaced(`${tickSeconds} seconds`)))
  }

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
      const all = [...controls]
      yield* Effect.logInfo("shutting down").pipe(Effect.annotateLogs({ connections: all.length }))
      yield* Effect.forEach(all, (c) => c.drain, { concurrency: "unbounded", discard: true }).pipe(
        Effect.timeoutOrElse({ duration: config.shutdownGraceMs, orElse: () => Effect.logWarning("shutdown grace period over; closing with writes in flight") })
      )
      yield* Effect.forEach(all, (c) => c.goAway(1001, "error: the relay is shutting down"), { concurrency: "unbounded", discard: true })
      yield* FiberSet.awaitEmpty(connections).pipe(Effect.timeoutOrElse({ duration: "2 seconds", orElse: () => Effect.void }))
      for (const ws of wss.clients) ws.terminate()
      wss.close()
    })
  )

  const address = server.address() as AddressInfo
  const shownHost = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host
  return RelayServer.of({ host: config.host, port: address.port, url: `ws://${shownHost}:${address.port}` })
})
