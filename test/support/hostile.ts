/**
 * Helpers for the hostile-input tests (test/relay/hostile*.test.ts): memory
 * snapshots of this process (the relay runs in-process), the relay's
 * connection gauge, and raw TCP clients that do the WebSocket upgrade by hand.
 */
import { randomBytes } from "node:crypto"
import { connect as tcpConnect, type Socket } from "node:net"
import v8 from "node:v8"
import vm from "node:vm"

// ---------------------------------------------------------------- memory

/** A real `gc()` even when the worker was not started with --expose-gc. */
const gc: () => void = (() => {
  const existing = (globalThis as { gc?: () => void }).gc
  if (typeof existing === "function") return existing
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc") as () => void
})()

export interface MemorySnapshot {
  readonly rss: number
  readonly heapUsed: number
  readonly external: number
}

/** Memory of this process after full collections (the relay under test runs here too). */
export const memory = async (): Promise<MemorySnapshot> => {
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((r) => setImmediate(r))
  }
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external }
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`

/** One readable line for the test log (the lead collects these figures). */
export const describeMemory = (label: string, before: MemorySnapshot, after: MemorySnapshot, peak?: MemorySnapshot) =>
  `[memory] ${label}: heapUsed ${mb(before.heapUsed)} -> ${mb(after.heapUsed)}, rss ${mb(before.rss)} -> ${mb(after.rss)}, external ${mb(before.external)} -> ${mb(after.external)}` +
  (peak ? ` (peak during: heapUsed after GC ${mb(peak.heapUsed)}, rss ${mb(peak.rss)})` : "")

// ---------------------------------------------------------------- metrics

/**
 * The relay's open-connection gauge (process-wide: compare against a baseline). Absent until the
 * first connection opens, so absent reads as 0; callers check it counts their own connections.
 */
export const openConnections = async (httpUrl: string): Promise<number> => {
  const text = await (await fetch(`${httpUrl}/metrics`)).text()
  return Number(/^parrhesia_connections (\d+)$/m.exec(text)?.[1] ?? 0)
}

/**
 * Waits until the gauge is at most `target`. The gauge has no push signal, so
 * this polls /metrics; the deadline turns a leak into a failure.
 */
export const gaugeSettles = async (httpUrl: string, target: number, timeoutMs: number): Promise<number> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const n = await openConnections(httpUrl)
    if (n <= target) return n
    if (Date.now() > deadline) throw new Error(`parrhesia_connections is ${n} after ${timeoutMs} ms, expected <= ${target}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

// ---------------------------------------------------------------- raw WebSocket clients

export const upgradeRequest = (extraHeaders = ""): string =>
  "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`

/** A masked client frame (FIN set) with the given opcode (1 text, 2 binary, 8 close). */
export const clientFrame = (opcode: number, payload: Buffer): Buffer => {
  const len = payload.length
  const head = len < 126 ? Buffer.alloc(2) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10)
  head[0] = 0x80 | opcode
  if (len < 126) head[1] = 0x80 | len
  else if (len < 65536) {
    head[1] = 0x80 | 126
    head.writeUInt16BE(len, 2)
  } else {
    head[1] = 0x80 | 127
    head.writeBigUInt64BE(BigInt(len), 2)
  }
  const mask = randomBytes(4)
  const body = Buffer.alloc(len)
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ mask[i & 3]!
  return Buffer.concat([head, mask, body])
}

/** Resolves once the socket is connected. */
export const tcpOpen = (port: number): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const s = tcpConnect(port, "127.0.0.1")
    s.once("connect", () => {
      s.off("error", reject)
      resolve(s)
    })
    s.once("error", reject)
  })

/** Resolves with everything the socket received until the server closed it (reads it, so only for sockets meant to be read). */
export const readUntilClosed = (s: Socket): Promise<{ readonly data: string; readonly at: number }> =>
  new Promise((resolve) => {
    const chunks: Array<Buffer> = []
    s.on("data", (c) => chunks.push(c))
    s.on("error", () => {})
    s.once("close", () => resolve({ data: Buffer.concat(chunks).toString("latin1"), at: Date.now() }))
  })

/** Sends an upgrade request and resolves with the response head (status line and headers) and the socket. */
export const rawUpgrade = async (port: number, extraHeaders = ""): Promise<{ readonly head: string; readonly socket: Socket }> => {
  const socket = await tcpOpen(port)
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0)
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      const end = buf.indexOf("\r\n\r\n")
      if (end < 0) return
      socket.off("data", onData)
      socket.pause()
      resolve({ head: buf.subarray(0, end).toString("latin1"), socket })
    }
    socket.on("data", onData)
    socket.once("error", reject)
    socket.once("close", () => reject(new Error(`closed before the upgrade answer: ${buf.toString("latin1")}`)))
    socket.write(upgradeRequest(extraHeaders))
  })
}
