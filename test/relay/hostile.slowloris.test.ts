/**
 * Hostile input, part 3: slow HTTP upgrades (slowloris). A client that sends
 * its upgrade headers one byte every 100 ms, clients that send part of the
 * headers and stop, and clients that connect and send nothing must all be
 * dropped once the relay's headers timeout has passed, while the relay keeps
 * serving everyone else. Time is the point here, so this test waits on a clock.
 *
 * The relay's HTTP server sets headersTimeout 10 s, checked every second
 * (connectionsCheckingInterval); Node's defaults (60 s, checked every 30 s)
 * would hold each such socket for up to 90 s.
 */
import { describe, expect, it } from "vitest"
import { describeMemory, memory, readUntilClosed, tcpOpen, upgradeRequest } from "../support/hostile.ts"
import { makeEvent, newKey } from "../support/nostr.ts"
import { startRelay } from "../support/relay.ts"
import { connect, nextEvent, now, publishOk, req, within } from "../support/ws.ts"

/** headersTimeout (10 s) + the check interval (1 s) + slack for a loaded machine. */
const DROPPED_WITHIN_MS = 15_000

describe("slow upgrades (slowloris)", () => {
  it("drops a trickled upgrade, unfinished headers and silent sockets after the headers timeout, and serves meanwhile", async () => {
    const relay = await startRelay({ pingIntervalSeconds: 0 })
    const timers: Array<NodeJS.Timeout> = []
    try {
      const k = newKey()
      const subscriber = await connect(relay.url)
      await req(subscriber, "live", { authors: [k.pk] })
      const before = await memory()
      const started = Date.now()

      // One byte every 100 ms of a 600-byte upgrade request: a minute to send it whole.
      const request = upgradeRequest(`X-Padding: ${"a".repeat(450)}\r\n`)
      const trickle = await tcpOpen(relay.port)
      const trickleEnd = readUntilClosed(trickle)
      let sent = 0
      timers.push(
        setInterval(() => {
          if (!trickle.destroyed && sent < request.length) trickle.write(request[sent++]!)
        }, 100)
      )
      // 200 sockets that sent part of their headers and stopped, 50 that never sent a byte.
      const stuck = await Promise.all(
        Array.from({ length: 250 }, async (_, i) => {
          const s = await tcpOpen(relay.port)
          const end = readUntilClosed(s)
          if (i < 200) s.write(request.slice(0, 20 + (i % 100)))
          return { end }
        })
      )

      // Meanwhile the relay serves: a new connection publishes, the subscriber receives.
      const pub = await connect(relay.url)
      const e = makeEvent({ created_at: now() }, k)
      await publishOk(pub, e)
      expect((await nextEvent(subscriber, "live")).id).toBe(e.id)

      const ends = await within(Promise.all([trickleEnd, ...stuck.map((x) => x.end)]), DROPPED_WITHIN_MS, "the relay to drop every slow upgrade")
      const slowest = Math.max(...ends.map((x) => x.at)) - started
      // The trickle never got to finish its headers, and no slow socket was upgraded.
      expect(sent).toBeLessThan(request.length)
      for (const x of ends) expect(x.data).not.toMatch(/^HTTP\/1\.1 101/)
      expect(ends[0]!.data).toMatch(/^(HTTP\/1\.1 408 |$)/)

      // And the relay still serves, on the connections it had and on new ones.
      const e2 = makeEvent({ created_at: now() }, k)
      await publishOk(pub, e2)
      expect((await nextEvent(subscriber, "live")).id).toBe(e2.id)
      const fresh = await connect(relay.url)
      expect((await req(fresh, "s", { ids: [e.id, e2.id] })).events.map((x) => x.id).sort()).toEqual([e.id, e2.id].sort())
      for (const c of [pub, fresh, subscriber]) await c.close()

      const after = await memory()
      console.log(`[slowloris] 251 slow upgrades dropped, the last ${slowest} ms after they began (${sent} of ${request.length} trickled bytes sent)`)
      console.log(describeMemory("slowloris", before, after))
      expect(after.heapUsed - before.heapUsed).toBeLessThan(8 * 1024 * 1024)
    } finally {
      for (const t of timers) clearInterval(t)
      await relay.close()
    }
  }, 40_000)
})
