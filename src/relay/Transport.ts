/**
 * What a connection needs from its socket. The server edge adapts a `ws`
 * WebSocket to this; nothing else in the relay knows about sockets.
 */
/** Who hears a socket's messages, pongs and close (one object per connection; its methods are called on it). */
export interface TransportListener {
  onMessage(text: string): void
  onPong(): void
  onClose(code: number): void
}

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
  /** Hands the socket's messages, pongs and its close (exactly once) to `listener`. Call once. */
  readonly listen: (listener: TransportListener) => void
}
