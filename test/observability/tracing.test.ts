/**
 * Traces over OTLP/HTTP: a relay process on PostgreSQL with
 * OTEL_EXPORTER_OTLP_ENDPOINT set sends its spans to a small OTLP receiver
 * here. EVENT, REQ and COUNT are server spans with their steps as children
 * (decode, policy, verify, store, fanout / prepare, query, send / count),
 * with the attributes people filter by, and each stored event's span is
 * linked to the span of the group-commit batch it joined (and back).
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { makeEvent, newKey } from "../support/nostr.ts"
import { usePostgresDatabase } from "../support/postgres.ts"
import { startRelayProcess, type RelayProcess } from "../support/processes.ts"
import { connect, now, publishOk, req } from "../support/ws.ts"

interface OtlpSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly kind: number
  readonly attributes?: ReadonlyArray<{ key: string; value: Record<string, unknown> }>
  readonly links?: ReadonlyArray<{ traceId: string; spanId: string; attributes?: ReadonlyArray<{ key: string; value: Record<string, unknown> }> }>
  readonly service: string
}

const attr = (s: { attributes?: OtlpSpan["attributes"] }, key: string): unknown => {
  const a = s.attributes?.find((x) => x.key === key)
  if (a === undefined) return undefined
  const v = a.value
  return v["stringValue"] ?? (v["intValue"] !== undefined ? Number(v["intValue"]) : undefined) ?? v["doubleValue"] ?? v["boolValue"]
}

const db = usePostgresDatabase()

describe("OpenTelemetry traces", () => {
  const spans: Array<OtlpSpan> = []
  let receiver: Server
  let relay: RelayProcess
  beforeAll(async () => {
    receiver = createServer((request, res) => {
      let body = ""
      request.on("data", (d) => (body += d))
      request.on("end", () => {
        if (request.url === "/v1/traces") {
          const doc = JSON.parse(body) as { resourceSpans: Array<{ resource: { attributes: OtlpSpan["attributes"] }; scopeSpans: Array<{ spans: Array<OtlpSpan> }> }> }
          for (const rs of doc.resourceSpans) {
            const service = String(attr(rs.resource, "service.name"))
            for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service })
          }
        }
        res.writeHead(200, { "content-type": "application/json" })
        res.end("{}")
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve))
    relay = await startRelayProcess({
      PARRHESIA_STORE: "postgres",
      PARRHESIA_DATABASE_URL: db.url(),
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
      OTEL_SERVICE_NAME: "parrhesia-under-test"
    })
  })
  afterAll(async () => {
    await relay?.stop()
    receiver?.close()
  })

  it("exports EVENT, REQ and COUNT spans with their steps, attributes and batch links", async () => {
    const c = await connect(relay.url)
    const key = newKey()
    const events = Array.from({ length: 3 }, (_, i) => makeEvent({ kind: 1, created_at: now() - i }, key))
    await Promise.all(events.map((e) => publishOk(c, e)))
    expect((await req(c, "traced", { kinds: [1], authors: [key.pk], limit: 10 })).events).toHaveLength(3)
    c.send(["COUNT", "counted", { authors: [key.pk] }])
    await c.next((f) => f[0] === "COUNT")
    await c.close()

    const named = (name: string) => spans.filter((s) => s.name === name)
    const childrenOf = (parent: OtlpSpan) => spans.filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId).map((s) => s.name).sort()
    await expect.poll(() => named("EVENT").length, { timeout: 15_000 }).toBe(3)
    await expect.poll(() => named("COUNT").length, { timeout: 15_000 }).toBe(1)

    for (const ev of named("EVENT")) {
      expect(ev.kind).toBe(2) // SERVER
      expect(ev.service).toBe("parrhesia-under-test")
      expect(ev.parentSpanId ?? "").toBe("")
      expect(attr(ev, "nostr.kind")).toBe(1)
      expect(attr(ev, "nostr.result")).toBe("accepted")
      expect(events.map((e) => e.id)).toContain(attr(ev, "nostr.event_id"))
      expect(childrenOf(ev)).toEqual(["decode", "fanout", "policy.limits", "policy.write", "store", "verify"])
      // The event's store span is linked to the span of the batch that committed it, and back.
      const store = spans.find((s) => s.name === "store" && s.parentSpanId === ev.spanId)!
      const batchLink = store.links?.find((l) => attr(l, "link.kind") === "committed-in-batch")
      expect(batchLink).toBeDefined()
      const batch = spans.find((s) => s.spanId === batchLink!.spanId)!
      expect(batch.name).toBe("store.commit_batch")
      expect(Number(attr(batch, "store.batch_events"))).toBeGreaterThanOrEqual(1)
      expect(batch.links?.some((l) => l.spanId === store.spanId)).toBe(true)
    }

    const reqSpan = named("REQ").find((s) => attr(s, "nostr.filter_shape") === "authors,kinds,limit")!
    expect(reqSpan).toBeDefined()
    expect(attr(reqSpan, "nostr.result")).toBe("eose")
    expect(childrenOf(reqSpan)).toEqual(["decode", "prepare", "query", "send"])
    const query = spans.find((s) => s.name === "query" && s.parentSpanId === reqSpan.spanId)!
    expect(attr(query, "nostr.rows")).toBe(3)

    const countSpan = named("COUNT")[0]!
    expect(childrenOf(countSpan)).toEqual(["count", "decode", "prepare"])
    expect(attr(countSpan, "nostr.rows")).toBe(3)
  })
})
