/**
 * wss:// and https:// on the relay's own port (tlsCert / tlsKey): nostr-tools
 * publishes and subscribes over wss with a test certificate authority, NIP-11
 * and /health answer over https, and after the certificate files are renewed
 * SIGHUP makes new connections get the new certificate while an open
 * connection stays up and keeps working.
 */
import { copyFileSync } from "node:fs"
import { get } from "node:https"
import { connect as tlsConnect } from "node:tls"
import { finalizeEvent, generateSecretKey } from "nostr-tools/pure"
import { Relay, useWebSocketImplementation } from "nostr-tools/relay"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { startRelayProcess, type RelayProcess } from "../support/processes.ts"
import { makeTestCa, type TestCa } from "../support/tls.ts"
import { connect, req } from "../support/ws.ts"

const httpsGet = (url: string, ca: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    get(url, { ca, headers }, (res) => {
      let body = ""
      res.on("data", (d) => (body += d))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
    }).on("error", reject)
  })

/** The serial number of the certificate a new TLS connection is given. */
const servedSerial = (port: number, ca: string) =>
  new Promise<string>((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      resolve(s.getPeerCertificate().serialNumber.toUpperCase())
      s.end()
    })
    s.on("error", reject)
  })

describe("TLS on the relay's port", () => {
  let ca: TestCa
  let relay: RelayProcess
  let cert: { certFile: string; keyFile: string; serial: string }
  beforeAll(async () => {
    ca = makeTestCa()
    const first = ca.issue("first")
    // The relay reads fixed paths; renewing overwrites them.
    cert = { certFile: `${ca.dir}/live.crt`, keyFile: `${ca.dir}/live.key`, serial: first.serial }
    copyFileSync(first.certFile, cert.certFile)
    copyFileSync(first.keyFile, cert.keyFile)
    relay = await startRelayProcess({ PARRHESIA_TLS_CERT: cert.certFile, PARRHESIA_TLS_KEY: cert.keyFile, PARRHESIA_LOG_LEVEL: "info" })
  })
  afterAll(async () => {
    await relay?.stop()
  })

  it("serves wss:// to nostr-tools and https:// for NIP-11 and /health", async () => {
    expect(relay.url).toMatch(/^wss:\/\//)
    const trusting = class extends WebSocket {
      constructor(url: string, protocols?: string | Array<string>) {
        super(url, protocols, { ca: ca.cert })
      }
    }
    useWebSocketImplementation(trusting)
    const r = await Relay.connect(relay.url)
    const e = finalizeEvent({ kind: 1, created_at: Math.floor(Date.now() / 1000), tags: [], content: "over tls" }, generateSecretKey())
    await r.publish(e)
    const got = await new Promise<string>((resolve) => {
      const sub = r.subscribe([{ ids: [e.id] }], { onevent: (x) => (resolve(x.id), sub.close()) })
    })
    expect(got).toBe(e.id)
    r.close()
    const info = await httpsGet(`https://127.0.0.1:${relay.port}/`, ca.cert, { accept: "application/nostr+json" })
    expect(info.status).toBe(200)
    expect(JSON.parse(info.body).supported_nips).toContain(1)
    expect((await httpsGet(`https://127.0.0.1:${relay.port}/health`, ca.cert)).body.trim()).toBe("ok")
  })

  it("refuses clients that do not trust the certificate", async () => {
    await expect(connect(relay.url)).rejects.toThrow(/certificate/i)
  })

  it("reloads a renewed certificate on SIGHUP without dropping open connections", async () => {
    expect(await servedSerial(relay.port, ca.cert)).toBe(cert.serial)
    const open = await connect(relay.url, { ca: ca.cert })
    const renewed = ca.issue("renewed")
    expect(renewed.serial).not.toBe(cert.serial)
    copyFileSync(renewed.certFile, cert.certFile)
    copyFileSync(renewed.keyFile, cert.keyFile)
    relay.child.kill("SIGHUP")
    await expect.poll(() => relay.output()).toMatch(/TLS certificate reloaded/)
    expect(await servedSerial(relay.port, ca.cert)).toBe(renewed.serial)
    // The connection opened before the reload still works.
    expect((await req(open, "after-reload", { limit: 1 })).end.type).toBe("EOSE")
    await open.close()
    expect(relay.child.exitCode).toBe(null)
  })
})
