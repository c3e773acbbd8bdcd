/**
 * `parrhesia bench` against two relays at once: every scenario runs, one
 * JSON line per relay with the figures each scenario produces (checked for
 * what must hold: all events accepted and served back, every delivery made
 * once), then the side-by-side table; --pid samples a process; an
 * unreachable relay, or one that drops a connection it was asked on, exits 3
 * and bad usage 2.
 */
import { once } from "node:events"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { WebSocketServer } from "ws"
import { runBenchCli } from "../../src/client/bench.ts"
import { startRelay, type TestRelay } from "../support/relay.ts"

const bench = async (...argv: Array<string>) => {
  let out = ""
  let err = ""
  const code = await runBenchCli(argv, {}, { out: (s) => void (out += s), err: (s) => void (err += s) })
  return { code, out, err }
}

describe("parrhesia bench", () => {
  const relays: Array<TestRelay> = []
  beforeAll(async () => {
    relays.push(await startRelay(), await startRelay())
  })
  afterAll(async () => {
    for (const r of relays) await r.close()
  })

  it("runs every scenario against several relays: a JSON line each, then a table", async () => {
    const run = await bench(
      ...relays.map((r) => r.url),
      "--scenarios", "all", "--events", "120", "--rate", "20", "--seconds", "1", "--connections", "40", "--idle-seconds", "2", "--pid", String(process.pid), "--cache", ""
    )
    expect(run.code, run.err).toBe(0)
    const lines = run.out.split("\n").filter((l) => l.startsWith("{"))
    expect(lines).toHaveLength(2)
    for (const [i, line] of lines.entries()) {
      const r = JSON.parse(line)
      expect(r.url).toBe(relays[i]!.url)
      expect(r.ingest).toMatchObject({ events: 120, accepted: 120, refused: {}, sampled: 120, servedBack: 120 })
      expect(r.ingest.eventsPerSecond).toBeGreaterThan(0)
      for (const shape of ["kinds limit 100", "one author limit 50", "#p limit 50", "20 ids"]) {
        expect(r.query.shapes[shape]).toMatchObject({ refused: 0, p50Ms: expect.any(Number), p95Ms: expect.any(Number) })
      }
      expect(r.query.shapes["kinds limit 100"].events).toBe(100)
      // The warm-up's 500 REQs, right after the ingest, are reported on their own.
      expect(r.query.first).toMatchObject({ reqs: 500, p50Ms: expect.any(Number), p95Ms: expect.any(Number), reqsPerSecond: expect.any(Number) })
      expect(r.fanout.expected).toBeGreaterThan(0)
      expect(r.fanout).toMatchObject({ delivered: r.fanout.expected, duplicates: 0, lost: 0 })
      expect(r.connections).toMatchObject({ connections: 40, idleReqP50Ms: expect.any(Number), rssPerConnectionKb: expect.any(Number) })
      expect(r.process).toMatchObject({ pid: process.pid, cpuSeconds: expect.any(Number), rssMaxMb: expect.any(Number) })
    }
    expect(run.out).toMatch(new RegExp(`ingest events/s\\s+\\d+\\s+\\d+`))
    expect(run.out).toContain(relays[1]!.url)
    expect(run.err).toMatch(/^bench: /m)
  }, 60_000)

  it("exits 3 for a relay it cannot reach and 2 on bad usage", async () => {
    const unreachable = await bench("ws://127.0.0.1:9", "--scenarios", "query", "--events", "10", "--cache", "")
    expect(unreachable.code).toBe(3)
    expect(unreachable.err).toMatch(/ws:\/\/127\.0\.0\.1:9: .*ECONNREFUSED/)
    expect((await bench()).code).toBe(2)
    expect((await bench(relays[0]!.url, "--scenarios", "nope")).err).toMatch(/unknown scenario nope/)
    expect((await bench("http://x")).code).toBe(2)
  })

  it("exits 3 with a message, instead of waiting for ever, when the relay drops a connection it sent a REQ on", async () => {
    // A relay that accepts connections and dies on the first REQ (as one build of strfry did under the connections scenario).
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
    await once(wss, "listening")
    wss.on("connection", (ws) => ws.on("message", (m) => String(m).startsWith('["REQ"') && ws.terminate()))
    try {
      const run = await bench(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, "--scenarios", "query", "--events", "10", "--cache", "")
      expect(run.code).toBe(3)
      expect(run.err).toMatch(/REQ .*: the relay closed the connection before answering/)
    } finally {
      wss.close()
    }
  })
})
