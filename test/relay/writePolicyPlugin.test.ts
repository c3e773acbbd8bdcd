/**
 * The write-policy plugin in a running relay: client EVENTs get the plugin's verdict as their
 * OK (a shadow-rejected event is acknowledged, never stored nor sent to subscribers), mirrored
 * events reach it as Stream (live) and Sync (catch-up) with the upstream's URL, its metrics are
 * on /metrics, and a plugin that cannot be run stops start-up with a clear message.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { makeEvent, newKey } from "../support/nostr.ts"
import { startRelay, type TestRelay } from "../support/relay.ts"
import { connect, nextEvent, now, publish, publishOk, req } from "../support/ws.ts"
import { pluginDir, RULES_NODE, SOURCE_LOGGER_NODE, writeScript } from "../policy/plugin/fixtures.ts"

const { dir, remove } = pluginDir()
const relays: Array<TestRelay> = []
afterAll(async () => {
  for (const r of relays.reverse()) await r.close()
  remove()
})

describe("writePolicyPlugin in the relay", () => {
  it("client EVENTs: accept stores, reject answers OK false with the plugin's message, shadowReject answers OK true and keeps nothing", async () => {
    const relay = await startRelay({ store: "memory", writePolicyPlugin: writeScript(dir, "rules.js", RULES_NODE) })
    relays.push(relay)
    const key = newKey()
    const watcher = await connect(relay.url)
    watcher.send(["REQ", "live", { authors: [key.pk] }])
    await watcher.next((f) => f[0] === "EOSE")
    const c = await connect(relay.url)

    const shadow = makeEvent({ content: "shadow", created_at: now() }, key)
    expect(await publish(c, shadow)).toEqual({ accepted: true, message: "" })
    const rejected = makeEvent({ content: "please reject", created_at: now() }, key)
    expect(await publish(c, rejected)).toEqual({ accepted: false, message: "blocked: not today" })
    const source = makeEvent({ content: "source", created_at: now() }, key)
    expect(await publish(c, source)).toEqual({ accepted: false, message: "blocked: new IP4 127.0.0.1 number 1" })
    const fine = makeEvent({ content: "fine", created_at: now() }, key)
    await publishOk(c, fine)

    // Only the accepted event reached the subscriber (the shadow-rejected one came first) and the store.
    expect((await nextEvent(watcher, "live")).id).toBe(fine.id)
    expect((await req(c, "stored", { authors: [key.pk] })).events.map((e) => e.id)).toEqual([fine.id])

    const metrics = await (await fetch(`${relay.httpUrl}/metrics`)).text()
    expect(metrics).toMatch(/parrhesia_write_policy_plugin_calls_total\{outcome="shadowReject"\} 1/)
    expect(metrics).toMatch(/parrhesia_write_policy_plugin_calls_total\{outcome="reject"\} 2/)
    expect(metrics).toMatch(/parrhesia_write_policy_plugin_calls_total\{outcome="accept"\} 1/)
    expect(metrics).toMatch(/parrhesia_write_policy_plugin_rejections_total\{action="shadowReject"\} 1/)
    expect(metrics).toMatch(/parrhesia_write_policy_plugin_up 1/)
    expect(metrics).toMatch(/parrhesia_write_policy_plugin_seconds_count 4/)
    await c.close()
    await watcher.close()
  })

  it("mirrored events reach the plugin as Stream (live) and Sync (catch-up) with the upstream's URL", async () => {
    const upstream = await startRelay({ store: "memory" })
    relays.push(upstream)
    const key = newKey()
    const up = await connect(upstream.url)
    await publishOk(up, makeEvent({ content: "before", created_at: now() - 60 }, key))

    const log = join(dir, "sources.log")
    const script = writeScript(dir, "sources.js", SOURCE_LOGGER_NODE)
    const mirror = await startRelay({
      store: "memory",
      mirrorUpstreams: [upstream.url],
      mirrorFilter: JSON.stringify({ authors: [key.pk] }),
      // a command with spaces: run through /bin/sh -c
      writePolicyPlugin: `PLUGIN_LOG=${log} ${script}`
    })
    relays.push(mirror)
    const read = () => {
      try {
        return readFileSync(log, "utf8").trim().split("\n")
      } catch {
        return []
      }
    }
    await expect.poll(read, { timeout: 15_000 }).toContain(`Sync ${upstream.url} before`)
    await publishOk(up, makeEvent({ content: "live", created_at: now() }, key))
    await expect.poll(read, { timeout: 15_000 }).toContain(`Stream ${upstream.url} live`)
    await up.close()
  })

  it("a plugin that cannot be run stops start-up with a clear message", async () => {
    await expect(startRelay({ store: "memory", writePolicyPlugin: join(dir, "missing.js") })).rejects.toThrow(
      `setting "writePolicyPlugin": ${join(dir, "missing.js")} does not exist`
    )
    const notExecutable = writeScript(dir, "plain.txt", "hello")
    const { chmodSync } = await import("node:fs")
    chmodSync(notExecutable, 0o644)
    await expect(startRelay({ store: "memory", writePolicyPlugin: notExecutable })).rejects.toThrow(/is not executable \(chmod a\+x/)
  })
})
