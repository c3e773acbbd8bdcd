/**
 * Every configurable limit, set small, end to end with its exact prefix.
 */
import { randomBytes } from "node:crypto"
import { connect as tcpConnect, type Socket } from "node:net"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { makeEvent, newKey, nip01Order, idsOf } from "../support/nostr.ts"
import { startRelay, type TestRelay } from "../support/relay.ts"
import { connect, forSub, now, publish, publishOk, req, reqClosed, within, type RawClient } from "../support/ws.ts"

const LIMITS = {
  maxMessageBytes: 2048,
  maxSubscriptions: 3,
  maxFilters: 2,
  maxFilterValues: 3,
  maxLimit: 4,
  defaultLimit: 2,
  maxSubidLength: 8,
  maxEventTags: 3,
  maxContentLength: 10,
  createdAtLowerLimit: 3600,
  createdAtUpperLimit: 60
}

let relay: TestRelay
const clients: Array<RawClient> = []
const open = async (url = relay.url) => {
  const c = await connect(url)
  clients.push(c)
  return c
}
beforeAll(async () => {
  relay = await startRelay(LIMITS)
})
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
})
afterAll(() => relay.close())

const hex = (n: number) => randomBytes(n).toString("hex")

/**
 * Opens a raw TCP WebSocket handshake and sends only the header (plus a few
 * bytes) of a text frame that claims `claimed` bytes of payload. Resolves
 * with the close code of the first close frame the server sends.
 */
const sendOversizedHeader = (port: number, claimed: number, firstFragment?: number) =>
  new Promise<{ code: number; socket: Socket }>((resolve, reject) => {
    const socket = tcpConnect(port, "127.0.0.1")
    let buf = Buffer.alloc(0)
    let upgraded = false
    socket.on("error", reject)
    socket.on("connect", () => {
      socket.write(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`
      )
    })
    socket.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk])
      if (!upgraded) {
        const end = buf.indexOf("\r\n\r\n")
        if (end < 0) return
        const head = buf.subarray(0, end).toString()
        if (!head.startsWith("HTTP/1.1 101")) return reject(new Error(`no upgrade: ${head}`))
        upgraded = true
        buf = buf.subarray(end + 4)
        if (firstFragment !== undefined) {
          // A first, non-final text fragment under the limit (payload masked with a zero key).
          const f = Buffer.alloc(8)
          f[0] = 0x01 // text, FIN clear
          f[1] = 0x80 | 126
          f.writeUInt16BE(firstFragment, 2)
          socket.write(Buffer.concat([f, Buffer.alloc(firstFragment, 0x20)]))
        }
        const header = Buffer.alloc(14)
        header[0] = firstFragment === undefined ? 0x81 : 0x80 // FIN + text, or FIN + continuation
        header[1] = 0x80 | 127 // masked, 64-bit length
        header.writeBigUInt64BE(BigInt(claimed), 2)
        randomBytes(4).copy(header, 10)
        socket.write(Buffer.concat([header, Buffer.from("[\"EVENT\",{")]))
      }
      // Server frames are unmasked; skip any (e.g. a ping) until the close frame: 0x88, length, 2-byte code.
      while (upgraded && buf.length >= 2) {
        const len = buf[1]! & 0x7f
        if (len > 125 || buf.length < 2 + len) return
        if (buf[0] === 0x88) return resolve({ code: len >= 2 ? buf.readUInt16BE(2) : 1005, socket })
        buf = buf.subarray(2 + len)
      }
    })
  })

describe("maxMessageBytes", () => {
  it("closes with 1009 on the header of a frame over the limit, before the payload arrives", async () => {
    const { code, socket } = await within(sendOversizedHeader(relay.port, 50 * 1024 * 1024), 5000, "a close frame")
    expect(code).toBe(1009)
    socket.destroy()
  })

  it("counts fragments together: a continuation that takes the message over the limit closes with 1009", async () => {
    const { code, socket } = await within(sendOversizedHeader(relay.port, 1024, 1500), 5000, "a close frame")
    expect(code).toBe(1009)
    socket.destroy()
  })

  it("closes a ws client that sends a frame over the limit with 1009, and accepts one under it", async () => {
    const c = await open()
    const small = makeEvent({ content: "x".repeat(5), created_at: now() })
    expect((await publish(c, small)).accepted).toBe(true)
    c.send(["EVENT", { ...small, content: "y".repeat(LIMITS.maxMessageBytes) }])
    expect((await c.closed).code).toBe(1009)
  })

  it("with the default limit, a 10 MB frame closes that socket with 1009 and other connections stay healthy", async () => {
    const big = await startRelay()
    try {
      const bystander = await open(big.url)
      const k = newKey()
      await req(bystander, "live", { authors: [k.pk] })
      const sender = await open(big.url)
      sender.send("[\"EVENT\"," + JSON.stringify("z".repeat(10 * 1024 * 1024)) + "]")
      expect((await sender.closed).code).toBe(1009)
      const other = await open(big.url)
      const e = makeEvent({ created_at: now() }, k)
      expect(await publish(other, e)).toEqual({ accepted: true, message: "" })
      expect((await bystander.next(forSub("live", "EVENT")))[2].id).toBe(e.id)
      const health = await fetch(`${big.httpUrl}/health`)
      expect(health.status).toBe(200)
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.close()))
      await big.close()
    }
  })
})

describe("REQ limits", () => {
  it("maxSubscriptions: one more REQ is CLOSED blocked:; replacing or closing one frees room", async () => {
    const c = await open()
    for (const id of ["a", "b", "c"]) expect((await req(c, id, { kinds: [1], limit: 0 })).end.type).toBe("EOSE")
    expect(await reqClosed(c, "d", { kinds: [1], limit: 0 })).toMatch(/^blocked: /)
    // Re-sending an existing id replaces it and is not counted twice.
    expect((await req(c, "b", { kinds: [2], limit: 0 })).end.type).toBe("EOSE")
    c.send(["CLOSE", "a"])
    expect((await req(c, "d", { kinds: [1], limit: 0 })).end.type).toBe("EOSE")
    expect(await reqClosed(c, "e", { kinds: [1], limit: 0 })).toMatch(/^blocked: /)
    // The limit is per connection.
    const other = await open()
    expect((await req(other, "a", { kinds: [1], limit: 0 })).end.type).toBe("EOSE")
  })

  it("refused REQs do not take subscription slots", async () => {
    const c = await open()
    for (const id of ["x1", "x2", "x3", "x4"]) expect(await reqClosed(c, id, { "#e": ["nope"] })).toMatch(/^invalid: /)
    for (const id of ["a", "b", "c"]) expect((await req(c, id, { kinds: [1], limit: 0 })).end.type).toBe("EOSE")
    expect(await reqClosed(c, "d", { kinds: [1], limit: 0 })).toMatch(/^blocked: /)
  })

  it("maxSubscriptions holds for a burst of REQs sent at once", async () => {
    const c = await open()
    for (let i = 0; i < 10; i++) c.send(["REQ", `b${i}`, { kinds: [1], limit: 0 }])
    const ends = []
    for (let i = 0; i < 10; i++) ends.push((await c.next((f) => (f[0] === "EOSE" || f[0] === "CLOSED") && f[1] === `b${i}`))[0])
    expect(ends.filter((t) => t === "EOSE")).toHaveLength(LIMITS.maxSubscriptions)
    expect(ends.filter((t) => t === "CLOSED")).toHaveLength(10 - LIMITS.maxSubscriptions)
  })

  it("maxFilters: a REQ or COUNT with too many filters is CLOSED invalid:", async () => {
    const c = await open()
    expect(await reqClosed(c, "f", { kinds: [1] }, { kinds: [2] }, { kinds: [3] })).toMatch(/^invalid: /)
    expect((await req(c, "g", { kinds: [1], limit: 0 }, { kinds: [2], limit: 0 })).end.type).toBe("EOSE")
    c.send(["COUNT", "h", { kinds: [1] }, { kinds: [2] }, { kinds: [3] }])
    const f = await c.next(forSub("h"))
    expect(f[0]).toBe("CLOSED")
    expect(f[2]).toMatch(/^invalid: /)
  })

  it("maxFilterValues: a list with too many values is CLOSED invalid:", async () => {
    const c = await open()
    const four = [hex(32), hex(32), hex(32), hex(32)]
    expect(await reqClosed(c, "v1", { authors: four })).toMatch(/^invalid: /)
    expect(await reqClosed(c, "v2", { ids: four })).toMatch(/^invalid: /)
    expect(await reqClosed(c, "v3", { kinds: [1, 2, 3, 4] })).toMatch(/^invalid: /)
    expect(await reqClosed(c, "v4", { "#t": ["a", "b", "c", "d"] })).toMatch(/^invalid: /)
    expect((await req(c, "v5", { authors: four.slice(0, 3), "#t": ["a", "b", "c"], limit: 0 })).end.type).toBe("EOSE")
  })

  it("maxLimit clamps a larger limit, defaultLimit applies without one", async () => {
    const c = await open()
    const k = newKey()
    const base = now() - 100
    const evs = [1, 2, 3, 4, 5, 6].map((i) => makeEvent({ created_at: base + i }, k))
    for (const e of evs) await publishOk(c, e)
    const newest = idsOf(nip01Order(evs))
    expect(idsOf((await req(c, "l1", { authors: [k.pk], limit: 1000 })).events)).toEqual(newest.slice(0, LIMITS.maxLimit))
    expect(idsOf((await req(c, "l1", { authors: [k.pk] })).events)).toEqual(newest.slice(0, LIMITS.defaultLimit))
    expect(idsOf((await req(c, "l1", { authors: [k.pk], limit: 3 })).events)).toEqual(newest.slice(0, 3))
    // Per filter: two filters each get their own limit.
    const two = await req(c, "l1", { authors: [k.pk], until: base + 3 }, { authors: [k.pk], since: base + 4 })
    expect(two.end).toEqual({ type: "EOSE" })
    expect(idsOf(two.events)).toEqual([newest[0], newest[1], newest[3], newest[4]])
  })

  it("maxSubidLength: a longer subscription id is CLOSED invalid:", async () => {
    const c = await open()
    expect(await reqClosed(c, "123456789", { kinds: [1], limit: 0 })).toMatch(/^invalid: /)
    expect((await req(c, "12345678", { kinds: [1], limit: 0 })).end.type).toBe("EOSE")
  })

  it("unknown filter keys are CLOSED unsupported:", async () => {
    const c = await open()
    expect(await reqClosed(c, "u1", { kinds: [1], foo: 1 })).toMatch(/^unsupported: /)
    expect(await reqClosed(c, "u2", { "#ab": ["x"] })).toMatch(/^unsupported: /)
  })

  it("#e and #p with non-hex values are CLOSED invalid:", async () => {
    const c = await open()
    expect(await reqClosed(c, "e1", { "#e": ["not-hex"] })).toMatch(/^invalid: /)
    expect(await reqClosed(c, "e2", { "#p": [hex(32).toUpperCase()] })).toMatch(/^invalid: /)
    expect(await reqClosed(c, "e3", { "#e": [hex(31)] })).toMatch(/^invalid: /)
    expect((await req(c, "e4", { "#e": [hex(32)], "#p": [hex(32)], limit: 0 })).end.type).toBe("EOSE")
  })
})

describe("EVENT limits", () => {
  const expectInvalid = async (c: RawClient, e: Parameters<typeof publish>[1]) => {
    const r = await publish(c, e)
    expect(r.accepted).toBe(false)
    expect(r.message).toMatch(/^invalid: /)
  }

  it("maxEventTags: more tags is OK false invalid:", async () => {
    const c = await open()
    await expectInvalid(c, makeEvent({ tags: [["t", "a"], ["t", "b"], ["t", "c"], ["t", "d"]], created_at: now() }))
    await publishOk(c, makeEvent({ tags: [["t", "a"], ["t", "b"], ["t", "c"]], created_at: now() }))
  })

  it("maxContentLength: longer content is OK false invalid: (counted in characters)", async () => {
    const c = await open()
    await expectInvalid(c, makeEvent({ content: "x".repeat(11), created_at: now() }))
    await publishOk(c, makeEvent({ content: "x".repeat(10), created_at: now() }))
    await publishOk(c, makeEvent({ content: "😀".repeat(10), created_at: now() }))
    await expectInvalid(c, makeEvent({ content: "😀".repeat(11), created_at: now() }))
  })

  it("createdAtLowerLimit / createdAtUpperLimit: too old or too far ahead is OK false invalid:", async () => {
    const c = await open()
    await expectInvalid(c, makeEvent({ created_at: now() - LIMITS.createdAtLowerLimit - 120 }))
    await expectInvalid(c, makeEvent({ created_at: now() + LIMITS.createdAtUpperLimit + 120 }))
    await publishOk(c, makeEvent({ created_at: now() - LIMITS.createdAtLowerLimit + 120 }))
    await publishOk(c, makeEvent({ created_at: now() + LIMITS.createdAtUpperLimit - 30 }))
  })
})
