/**
 * What a connection needs from its socket. The server edge adapts a `ws`
 * WebSocket to this; nothing else in the relay knows about sockets.
 */
import type { Effect } from "effect"

export interface Transport {
  /** Queues a text frame on the socket; `onFlushed` runs once it has been handed to the kernel (or the socket closed). */
  readonly send: (frame: string, onFlushed?: () => void) => void
  /** Bytes queued in the socket but not yet written. */
  readonly bufferedAmount: () => number
  readonly close: (code: number, reason: string) => void
  /** Drops the connection at once, without a close handshake. */
  readonly terminate: () => void
  readonly ping: () => void
  /** Stops / restarts reading from the socket (backpressure on a busy client). */
  readonly pause: () => void
  readonly resume: () => void
  readonly onMessage: (handler: (text: string) => void) => void
  readonly onPong: (handler: () => void) => void
  /** Completes when the socket is closed, with the close code. */
  readonly closed: Effect.Effect<{ readonly code: number; readonly reason: string }>
}
