/**
 * A scripted WebSocket "relay" for client tests: each frame a client sends
 * goes to `onFrame`, which answers as the test wants (garbage, errors, an
 * independent NIP-77 responder...). Serves `info` as its NIP-11 document.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import WebSocket, { WebSocketServer } from "ws"

export interface FakeRelay {
  readonly url: string
  readonly port: number
  /** Sockets currently open. */
  readonly sockets: () => ReadonlyArray<WebSocket>
  readonly close: () => Promise<void>
}

export const startFakeRelay = async (
  onFrame: (frame: any, ws: WebSocket) => void,
  info: Record<string, unknown> = { name: "fake" },
  port = 0
): Promise<FakeRelay> => {
  const http: Server = createServer((_, res) => {
    res.writeHead(200, { "content-type": "application/nostr+json", "access-control-allow-origin": "*" })
    res.end(JSON.stringify(info))
  })
  const wss = new WebSocketServer({ server: http })
  wss.on("connection", (ws) => {
    ws.on("message", (data) => {
      let frame: unknown
      try {
        frame = JSON.parse(data.toString())
      } catch {
        frame = data.toString()
      }
      onFrame(frame, ws)
    })
  })
  await new Promise<void>((resolve) => http.listen(port, "127.0.0.1", resolve))
  const p = (http.address() as AddressInfo).port
  return {
    url: `ws://127.0.0.1:${p}`,
    port: p,
    sockets: () => [...wss.clients],
    close: () =>
      new Promise((resolve) => {
        for (const c of wss.clients) c.terminate()
        wss.close()
        http.close(() => resolve())
      })
  }
}
