/**
 * The `ws` WebSocket behind a connection's Transport. Part of the edge: with
 * server.ts, the only code that knows about sockets. A class, so that its
 * methods cost nothing per idle connection; the socket's event listeners are
 * shared functions that find their listener on the socket (no closures per
 * connection).
 */
import type { WebSocket } from "ws"
import type { Transport, TransportListener } from "./Transport.ts"

/** How long a closing socket waits for the peer's close frame before it is dropped. */
export const CLOSE_GRACE_MS = 3000

interface Corkable {
  cork(): void
  uncork(): void
}

const toText = (data: unknown, isBinary: boolean): string =>
  !isBinary && typeof data === "string"
    ? data
    : Buffer.isBuffer(data)
      ? data.toString("utf8")
      : Array.isArray(data)
        ? Buffer.concat(data as Array<Buffer>).toString("utf8")
        : Buffer.from(data as ArrayBuffer).toString("utf8")

/** The listener of a socket, kept on the socket itself so the event handlers below can be shared. */
const LISTENER = Symbol("parrhesia.listener")
type Listened = WebSocket & { [LISTENER]: TransportListener }

const listenerOf = (ws: WebSocket) => (ws as Listened)[LISTENER]
function onWsMessage(this: WebSocket, data: unknown, isBinary: boolean) {
  listenerOf(this).onMessage(toText(data, isBinary))
}
function onWsPong(this: WebSocket) {
  listenerOf(this).onPong()
}
function onWsClose(this: WebSocket, code: number) {
  listenerOf(this).onClose(code)
}
function uncork(t: WsTransport) {
  t.corked = false
  t.socket?.uncork()
}

export class WsTransport implements Transport {
  private readonly ws: WebSocket
  readonly socket: Corkable | undefined
  corked = false

  constructor(ws: WebSocket) {
    this.ws = ws
    this.socket = (ws as unknown as { _socket?: Corkable })._socket
    // Errors (bad frames, too-large messages) end in a close event; without a listener they would throw.
    ws.on("error", ignore)
  }

  listen(listener: TransportListener): void {
    const ws = this.ws as Listened
    ws[LISTENER] = listener
    ws.on("message", onWsMessage)
    ws.on("pong", onWsPong)
    // `on`, not `once`: ws emits close once, and `once` would cost a wrapper closure per socket.
    ws.on("close", onWsClose)
  }

  /**
   * Frames sent in one event-loop turn (a batch of OKs after a group commit, a
   * query's results) leave in one write: the socket is corked on the first
   * send and uncorked once the turn's work is done.
   */
  send(frame: string, onFlushed?: () => void): void {
    const ws = this.ws
    if (!this.corked && this.socket !== undefined && ws.readyState === ws.OPEN) {
      this.corked = true
      this.socket.cork()
      setImmediate(uncork, this)
    }
    if (onFlushed === undefined) ws.send(frame)
    else ws.send(frame, () => onFlushed())
  }

  bufferedAmount(): number {
    return this.ws.bufferedAmount
  }

  close(code: number, reason: string): void {
    const ws = this.ws
    ws.close(code, reason)
    // A peer that does not answer the close frame (typically one that stopped reading) is dropped
    // after a short grace, instead of holding its buffers and subscriptions for ws's 30 s timeout.
    const timer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS)
    timer.unref()
    ws.once("close", () => clearTimeout(timer))
  }

  terminate(): void {
    this.ws.terminate()
  }

  ping(): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping()
  }

  pause(): void {
    this.ws.pause()
  }

  resume(): void {
    this.ws.resume()
  }
}

function ignore() {}
