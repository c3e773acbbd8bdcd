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

interface RawSocket {
  write(data: Buffer, callback?: (err?: Error | null) => void): boolean
}

/**
 * Unmasked, uncompressed, unfragmented text frames (RFC 6455 5.2; the server never masks, and
 * permessage-deflate is off) for `frames`, one after the other in one buffer: what `ws.send` puts
 * on the wire for each, in one write. Frames are well-formed strings (JSON.stringify output, stored
 * texts), so Buffer.byteLength counts exactly what write puts in.
 */
export const encodeTextFrames = (frames: ReadonlyArray<string>): Buffer => {
  const lengths = new Array<number>(frames.length)
  let total = 0
  for (let i = 0; i < frames.length; i++) {
    const n = Buffer.byteLength(frames[i]!, "utf8")
    lengths[i] = n
    total += n + (n < 126 ? 2 : n < 65536 ? 4 : 10)
  }
  const buf = Buffer.allocUnsafe(total)
  let at = 0
  for (let i = 0; i < frames.length; i++) {
    const n = lengths[i]!
    buf[at++] = 0x81 // FIN, text
    if (n < 126) buf[at++] = n
    else if (n < 65536) {
      buf[at++] = 126
      buf.writeUInt16BE(n, at)
      at += 2
    } else {
      buf[at++] = 127
      buf.writeUInt32BE(Math.floor(n / 2 ** 32), at)
      buf.writeUInt32BE(n >>> 0, at + 4)
      at += 8
    }
    at += buf.write(frames[i]!, at, "utf8")
  }
  return buf
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
function flushFrames(t: WsTransport) {
  t.flush()
}

export class WsTransport implements Transport {
  private readonly ws: WebSocket
  private readonly socket: RawSocket | undefined
  /** Frames sent this event-loop turn, written together by `flush` (undefined: none). */
  private frames: Array<string> | undefined = undefined
  /** Their length in UTF-16 units: about their bytes, for bufferedAmount. */
  private framesChars = 0
  /** The `onFlushed` callbacks of those frames. */
  private flushed: Array<() => void> | undefined = undefined

  constructor(ws: WebSocket) {
    this.ws = ws
    this.socket = (ws as unknown as { _socket?: RawSocket })._socket
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
   * Frames sent in one event-loop turn (a batch of OKs after a group commit, a query's results)
   * leave in one write of one buffer, framed here (encodeTextFrames) once the turn's work is done.
   * Through `ws.send` each frame cost a header buffer, two socket writes and two slots of the
   * writev: ~1.6 µs a frame, half of a REQ's CPU. Only text frames go this way; ws still writes
   * pings, pongs and the close frame (after the frames queued before it: see close).
   */
  send(frame: string, onFlushed?: () => void): void {
    const ws = this.ws
    if (this.socket === undefined || ws.readyState !== ws.OPEN) {
      // Not open: ws answers as it does (an error to the callback, or nothing).
      if (onFlushed === undefined) ws.send(frame)
      else ws.send(frame, () => onFlushed())
      return
    }
    if (this.frames === undefined) {
      this.frames = [frame]
      setImmediate(flushFrames, this)
    } else this.frames.push(frame)
    this.framesChars += frame.length
    if (onFlushed !== undefined) (this.flushed ??= []).push(onFlushed)
  }

  /** Writes the frames sent so far (called after the turn that sent them, and before a close frame). */
  flush(): void {
    const frames = this.frames
    if (frames === undefined) return
    const callbacks = this.flushed
    this.frames = undefined
    this.flushed = undefined
    this.framesChars = 0
    const ws = this.ws
    if (ws.readyState !== ws.OPEN) {
      // Closed meanwhile: nothing is written; whoever waits for the flush is told (as ws would).
      if (callbacks !== undefined) for (const cb of callbacks) cb()
      return
    }
    const done = callbacks === undefined ? undefined : () => {
      for (const cb of callbacks) cb()
    }
    // One frame (a live event to one subscriber, the common case of fanout): ws's own path, which
    // measured cheaper there than framing it here (fanout relay CPU +7%, bench:compare, 4 rounds).
    if (frames.length === 1) ws.send(frames[0]!, done)
    else this.socket!.write(encodeTextFrames(frames), done)
  }

  bufferedAmount(): number {
    return this.ws.bufferedAmount + this.framesChars
  }

  close(code: number, reason: string): void {
    const ws = this.ws
    this.flush()
    ws.close(code, reason)
    // A peer that does not answer the close frame (typically one that stopped reading) is dropped
    // after a short grace, instead of holding its buffers and subscriptions for ws's 30 s timeout.
    const timer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS)
    timer.unref()
    ws.once("close", () => clearTimeout(timer))
  }

  terminate(): void {
    this.ws.terminate()
    this.flush()
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
