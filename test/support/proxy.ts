/**
 * A small reverse proxy in front of a relay, for tests of what operators put
 * there: plain HTTP or TLS-terminating (`tls`), optionally stripping the CORS
 * headers of HTTP answers (`stripCors`) or refusing WebSocket upgrades with
 * an HTTP status (`refuseUpgrade`), as a misconfigured proxy does.
 * Upgrades are passed on as raw bytes (the relay sees the client's Host).
 */
import { createServer as createHttpServer, request, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { connect, type Socket } from "node:net"
import type { AddressInfo } from "node:net"

export interface ProxyOptions {
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer }
  readonly stripCors?: boolean
  readonly refuseUpgrade?: number
}

export interface Proxy {
  readonly port: number
  /** ws:// or wss:// on 127.0.0.1. */
  readonly url: string
  readonly close: () => Promise<void>
}

export const startProxy = async (targetPort: number, options: ProxyOptions = {}): Promise<Proxy> => {
  const sockets = new Set<Socket>()
  const track = (s: Socket) => {
    sockets.add(s)
    s.once("close", () => sockets.delete(s))
  }
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const upstream = request({ host: "127.0.0.1", port: targetPort, method: req.method, path: req.url, headers: req.headers, agent: false }, (answer) => {
      const headers = { ...answer.headers }
      if (options.stripCors) for (const k of Object.keys(headers)) if (k.startsWith("access-control-")) delete headers[k]
      res.writeHead(answer.statusCode ?? 502, headers)
      answer.pipe(res)
    })
    upstream.on("error", () => {
      res.writeHead(502, { "content-type": "text/plain" })
      res.end("bad gateway\n")
    })
    req.pipe(upstream)
  }
  const server: Server = options.tls ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, onRequest) : createHttpServer(onRequest)
  server.on("connection", track)
  server.on("secureConnection", track)
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const refuse = options.refuseUpgrade
    if (refuse !== undefined) {
      const body = `${refuse} ${STATUS_CODES[refuse] ?? ""} (test proxy)\n`
      socket.end(`HTTP/1.1 ${refuse} ${STATUS_CODES[refuse] ?? ""}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
      return
    }
    const upstream = connect(targetPort, "127.0.0.1", () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`]
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`)
      upstream.write(lines.join("\r\n") + "\r\n\r\n")
      if (head.length > 0) upstream.write(head)
      upstream.pipe(socket)
      socket.pipe(upstream)
    })
    track(upstream)
    upstream.on("error", () => socket.destroy())
    socket.on("error", () => upstream.destroy())
    socket.on("close", () => upstream.destroy())
    upstream.on("close", () => socket.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    url: `${options.tls ? "wss" : "ws"}://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
}
