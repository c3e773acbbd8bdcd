/**
 * Durability: every event the relay acknowledged (OK true) survives a
 * SIGKILL of the relay process. The relay runs as a real child process on the
 * embedded PostgreSQL in a fresh data folder; after the kill it is started
 * again on the same folder (which also exercises taking over the PostgreSQL
 * server the killed relay left running) and every acknowledged id is read back.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { mkdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { randomBytes } from "node:crypto"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure"
import { Relay, useWebSocketImplementation } from "nostr-tools/relay"
import WebSocket from "ws"

useWebSocketImplementation(WebSocket)

const root = fileURLToPath(new URL("../../../", import.meta.url))
const dataDir = join(tmpdir(), `parrhesia-durability-${randomBytes(4).toString("hex")}`)
mkdirSync(dataDir, { recursive: true })
const children: Array<ChildProcess> = []

afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill("SIGTERM")
      await new Promise((r) => c.once("exit", r))
    }
  }
  rmSync(dataDir, { recursive: true, force: true })
})

const startRelay = () =>
  new Promise<{ child: ChildProcess; url: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, "src/main.ts"), "serve", "--port", "0"], {
      cwd: root,
      env: { ...process.env, PARRHESIA_DATA_DIR: dataDir, PARRHESIA_LOG_LEVEL: "warn", DATABASE_URL: "" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    children.push(child)
    let out = ""
    let err = ""
    child.stdout!.on("data", (d) => {
      out += d
      const m = /ws:\/\/127\.0\.0\.1:\d+/.exec(out)
      if (m) resolve({ child, url: m[0] })
    })
    child.stderr!.on("data", (d) => (err += d))
    child.once("exit", (code, signal) => reject(new Error(`relay exited (${code ?? signal}) before listening: ${err}`)))
  })

describe("durability", () => {
  it("every acknowledged event survives a SIGKILL of the relay", async () => {
    const sk = generateSecretKey()
    const pk = getPublicKey(sk)
    const now = Math.floor(Date.now() / 1000)
    const events = Array.from({ length: 600 }, (_, i) =>
      finalizeEvent({ kind: 1, created_at: now - i, tags: [], content: `durable ${i}` }, sk)
    )

    const first = await startRelay()
    const relay = await Relay.connect(first.url)
    const acked = new Set<string>()
    let killed = false
    await Promise.allSettled(
      events.map((e) =>
        relay.publish(e).then(() => {
          acked.add(e.id)
          // Kill mid-stream, while later events are still in flight.
          if (!killed && acked.size >= 150) {
            killed = true
            first.child.kill("SIGKILL")
          }
        })
      )
    )
    relay.close()
    if (!killed) first.child.kill("SIGKILL")
    await new Promise((r) => (first.child.exitCode !== null || first.child.signalCode !== null ? r(null) : first.child.once("exit", r)))
    expect(acked.size).toBeGreaterThanOrEqual(150)

    const second = await startRelay()
    const again = await Relay.connect(second.url)
    const found = new Set<string>()
    await new Promise<void>((resolve) => {
      const sub = again.subscribe([{ authors: [pk], limit: 1000 }], {
        onevent: (e) => void found.add(e.id),
        oneose: () => {
          sub.close()
          resolve()
        }
      })
    })
    again.close()
    const missing = [...acked].filter((id) => !found.has(id))
    expect(missing).toEqual([])
  }, 120_000)
})
