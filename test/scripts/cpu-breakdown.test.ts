/** scripts/cpu-breakdown.ts: how a CPU profile's samples are given to the parts of the relay. */
import { describe, expect, it } from "vitest"
import { categorize } from "../../scripts/cpu-breakdown.ts"

const frame = (id: number, functionName: string, url: string, children: Array<number> = []) => ({ id, callFrame: { functionName, url, lineNumber: 0 }, children })

// root > runLoop (effect) > writeBatch (writer) > write (node:net) > writeBuffer (native)
//      > onWsMessage (WsTransport:33) > decodeClientMessage (messages) ; (idle) ; (garbage collector)
//      > runLoop > computeEventId (event.ts) > update (node:internal/crypto)
const profile = {
  nodes: [
    frame(1, "(root)", "", [2, 6, 8, 9]),
    frame(2, "runLoop", "file:///x/node_modules/effect/dist/internal/effect.js", [3, 10]),
    frame(3, "writeBatch", "file:///x/src/storage/postgres/writer.ts", [4]),
    frame(4, "write", "node:net", [5]),
    frame(5, "writeBuffer", ""),
    frame(6, "onWsMessage", "file:///x/src/relay/WsTransport.ts", [7]),
    frame(7, "decodeClientMessage", "file:///x/src/nostr/messages.ts"),
    frame(8, "(idle)", ""),
    frame(9, "(garbage collector)", ""),
    frame(10, "computeEventId", "file:///x/src/nostr/event.ts", [11]),
    frame(11, "update", "node:internal/crypto/hash")
  ],
  startTime: 1_000,
  // one sample per ms: writeBuffer x3, decode x2, idle x4, GC x1, runLoop itself x1, hash x2
  samples: [5, 5, 5, 7, 7, 8, 8, 8, 8, 9, 2, 11, 11],
  timeDeltas: Array.from({ length: 13 }, () => 1_000)
}

describe("cpu-breakdown categorize", () => {
  it("gives each sample to the nearest frame naming a part, leaf first, looking through Node's own frames", () => {
    const parts = categorize(profile, 0, 1e9)
    expect(parts.get("store: writer, SQL parameters, wire, rows")).toBe(3)
    expect(parts.get("decode: WebSocket frames, JSON, shape")).toBe(2)
    expect(parts.get("idle")).toBe(4)
    expect(parts.get("garbage collection (main thread)")).toBe(1)
    expect(parts.get("Effect runtime: fibers, scheduling, async context")).toBe(1)
    expect(parts.get("event id: canonical JSON + SHA-256")).toBe(2)
  })

  it("counts only the samples inside the window", () => {
    // Samples land at 2,000 µs, 3,000 µs, ...: [2,500, 4,500] holds the 2nd and 3rd (writeBuffer).
    const parts = categorize(profile, 2_500, 4_500)
    expect([...parts]).toEqual([["store: writer, SQL parameters, wire, rows", 2]])
  })
})
