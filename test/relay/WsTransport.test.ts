import { once } from "node:events"
import type { AddressInfo } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { WebSocket, WebSocketServer } from "ws"
import { encodeTextFrames, WsTransport } from "../../src/relay/WsTransport.ts"

let cleanup: Array<() => void> = []
afterEach(() => {
  for (const f of cleanup) f()
  cleanup = []
})

/** A ws server whose first connection is wrapped in a WsTransport, and a client connected to it. */
const pair = async () => {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false })
  await once(wss, "listening")
  const accepted = once(wss, "connection")
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: false })
  const received: Array<string> = []
  const waiters: Array<() => void> = []
  client.on("message", (data) => {
    received.push(String(data))
    for (const w of waiters.splice(0)) w()
  })
  /** Resolves once `n` messages have arrived. */
  const receivedCount = async (n: number) => {
    while (received.length < n) await new Promise<void>((r) => waiters.push(r))
  }
  await once(client, "open")
  const [ws] = (await accepted) as [WebSocket]
  cleanup.push(() => (client.terminate(), wss.close()))
  return { transport: new WsTransport(ws), client, received, receivedCount }
}

describe("WsTransport", () => {
  it("frames each length class (7-bit, 16-bit, 64-bit) and multi-byte text as ws does", () => {
    const frames = ["", "a", "é€😀", "x".repeat(125), "y".repeat(126), "z".repeat(65535), "w".repeat(65536), "ü".repeat(40000)]
    const ours = encodeTextFrames(frames)
    // ws's own framing of the same texts, one after the other.
    const theirs = Buffer.concat(
      frames.flatMap((f) => {
        const data = Buffer.from(f, "utf8")
        const head = data.length < 126 ? 2 : data.length < 65536 ? 4 : 10
        const h = Buffer.alloc(head)
        h[0] = 0x81
        if (head === 2) h[1] = data.length
        else if (head === 4) (h[1] = 126, h.writeUInt16BE(data.length, 2))
        else (h[1] = 127, h.writeBigUInt64BE(BigInt(data.length), 2))
        return [h, data]
      })
    )
    expect(ours.equals(theirs)).toBe(true)
  })

  it("delivers the frames of one turn in order, in one write, and counts them as buffered until then", async () => {
    const { transport, received, receivedCount } = await pair()
    const frames = ["first", "é€😀", "x".repeat(200), "y".repeat(70_000), "last"]
    for (const f of frames) transport.send(f)
    const flushed = new Promise<void>((r) => transport.send("with callback", r))
    expect(transport.bufferedAmount()).toBeGreaterThanOrEqual(70_000)
    await flushed
    await receivedCount(frames.length + 1)
    expect(received).toEqual([...frames, "with callback"])
  })

  it("a close sends the frames queued before it first", async () => {
    const { transport, client, received } = await pair()
    transport.send("before close")
    transport.close(1000, "bye")
    const [code] = (await once(client, "close")) as [number]
    expect(code).toBe(1000)
    expect(received).toEqual(["before close"])
  })

  it("after terminate, frames are dropped and their callbacks still run", async () => {
    const { transport, client, received } = await pair()
    let flushed = 0
    transport.send("lost", () => flushed++)
    const closed = once(client, "close")
    transport.terminate()
    expect(flushed).toBe(1)
    await closed
    expect(received).toEqual([])
  })
})
