/**
 * docs/status.png: the status page of a relay under some traffic, taken by
 * headless Chromium (@sparticuz/chromium + puppeteer-core, devDependencies).
 *
 *   sh scripts/with-node.sh node scripts/status-screenshot.ts [--seconds 120] [--out docs/status.png]
 *
 * Three relays in this process on the memory store: the relay shown, an
 * upstream it mirrors and a remote it streams both ways with (so both show,
 * with their state and lag). For `--seconds`
 * the relay gets waves of EVENTs and REQs from a few clients, subscriptions
 * that come and go, and the upstream events that reach it through the
 * mirror; then the page is opened and its charts (the time since the relay
 * started: the page draws what it has of the last hour) are taken.
 */
import { statSync } from "node:fs"
import { makeEvent, newKey } from "../test/support/nostr.ts"
import { startRelay } from "../test/support/relay.ts"
import { connect, now, publishOk, req, type RawClient } from "../test/support/ws.ts"
import { launchChromium } from "./chromium.ts"

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback
}
const seconds = Number(arg("seconds", "120"))
const out = arg("out", "docs/status.png")
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const upstream = await startRelay({ name: "upstream" })
const remote = await startRelay({ name: "remote" })
const relay = await startRelay({
  name: "relay.example.com",
  description: "A Parrhesia relay: NIP-01 exactly, NIP-77 sync, search.",
  mirrorUpstreams: [upstream.url],
  streams: JSON.stringify([{ url: remote.url, direction: "both", filter: { kinds: [1], "#t": ["topic0"] } }])
})
console.log(`relay ${relay.httpUrl}, upstream ${upstream.url}, remote ${remote.url}; ${seconds} s of traffic`)

const clients: Array<RawClient> = []
for (let i = 0; i < 6; i++) clients.push(await connect(relay.url))
const up = await connect(upstream.url)
const keys = Array.from({ length: 20 }, () => newKey())
const started = Date.now()
let n = 0
let subs = 0
while (Date.now() - started < seconds * 1000) {
  const t = (Date.now() - started) / 1000
  // Waves: a slow swell with bursts on top.
  const rate = Math.max(2, Math.round(40 + 35 * Math.sin(t / 12) + (Math.floor(t / 25) % 2 === 1 ? 25 : 0)))
  const tickStart = Date.now()
  await Promise.all(
    clients.map(async (c, i) => {
      for (let j = 0; j < Math.ceil(rate / clients.length); j++) {
        const key = keys[(n++ + i) % keys.length]!
        await publishOk(c, makeEvent({ created_at: now() - (n % 5), content: `note ${n}`, tags: [["t", `topic${n % 7}`]] }, key))
      }
      for (let j = 0; j < 1 + Math.round(rate / 30); j++) await req(c, `q${j}`, { kinds: [1], "#t": [`topic${(n + j) % 7}`], limit: 20 })
      // Live subscriptions that come and go.
      if (Math.random() < 0.3) c.send(["REQ", `live${subs++ % 8}`, { authors: [keys[subs % keys.length]!.pk] }])
    })
  )
  if (Math.floor(t) % 3 === 0) await publishOk(up, makeEvent({ created_at: now() - 2, content: `from upstream ${n}` }))
  await sleep(Math.max(0, 1000 - (Date.now() - tickStart)))
}

const browser = await launchChromium()
try {
  const page = await browser.newPage()
  await page.setViewport({ width: 960, height: 900, deviceScaleFactor: 1 })
  await page.goto(relay.httpUrl, { waitUntil: "load" })
  await page.waitForFunction(() => Number(document.body.dataset["charts"] ?? 0) >= 1 && Number(document.body.dataset["updates"] ?? 0) >= 1)
  await page.waitForFunction(() => Array.from(document.querySelectorAll("#streams td.state")).every((td) => td.textContent === "connected"), { timeout: 10_000 })
  await page.screenshot({ path: out as `${string}.png`, type: "png", fullPage: true })
  console.log(`${out}: ${statSync(out).size} bytes`)
} finally {
  await browser.close()
  for (const c of [...clients, up]) await c.close()
  await relay.close()
  await upstream.close()
  await remote.close()
}
