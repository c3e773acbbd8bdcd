import { describe, expect, it } from "vitest"
import { clientSource, importSource, sourceOf, streamSource, syncSource } from "../../src/policy/source.ts"

describe("event sources", () => {
  it("a client connection is IP4 or IP6 by its address", () => {
    expect(sourceOf({ connectionId: 1, ip: "203.0.113.7", authenticated: new Set() })).toEqual({ type: "IP4", info: "203.0.113.7" })
    expect(sourceOf({ connectionId: 1, ip: "2001:db8::1", authenticated: new Set() })).toEqual({ type: "IP6", info: "2001:db8::1" })
    expect(clientSource("::1")).toEqual({ type: "IP6", info: "::1" })
  })

  it("a context that names its source keeps it", () => {
    const ctx = { connectionId: -1, ip: "127.0.0.1", authenticated: new Set<string>() }
    expect(sourceOf({ ...ctx, source: importSource("events.jsonl") })).toEqual({ type: "Import", info: "events.jsonl" })
    expect(sourceOf({ ...ctx, source: streamSource("wss://up.example") })).toEqual({ type: "Stream", info: "wss://up.example" })
    expect(sourceOf({ ...ctx, source: syncSource("wss://up.example") })).toEqual({ type: "Sync", info: "wss://up.example" })
  })
})
