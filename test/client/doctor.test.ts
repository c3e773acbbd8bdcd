/**
 * `parrhesia doctor` against real relays (direct, behind a proxy that strips
 * CORS or refuses upgrades, behind TLS), scripted fakes that claim NIPs they
 * do not honour, an unreachable port, an unresolvable host, and TLS servers
 * with a self-signed, a mismatched and an expiring certificate (made with
 * the openssl CLI at test time).
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https"
import { createServer as createNetServer, type AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { matchFilters } from "nostr-tools/filter"
import { Layer } from "effect"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import type WebSocket from "ws"
import { CHECK_NAMES, runDoctor, runDoctorCli, type CheckResult, type DoctorReport } from "../../src/client/doctor.ts"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { layerMemoryStores } from "../../src/storage/layer.ts"
import { StoreHealth } from "../../src/storage/StoreHealth.ts"
import { startFakeRelay, type FakeRelay } from "../support/fakeRelay.ts"
import { makeEvent, newKey, T0 } from "../support/nostr.ts"
import { startProxy, type Proxy } from "../support/proxy.ts"
import { startRelay, type TestRelay } from "../support/relay.ts"
import { connect, publishOk, req } from "../support/ws.ts"

const doctor = async (...argv: Array<string>) => {
  let out = ""
  let err = ""
  const code = await runDoctorCli(argv, {}, { out: (s) => void (out += s), err: (s) => void (err += s), tty: false })
  return { code, out, err }
}

/** Runs with --json and parses the report. */
const doctorJson = async (...argv: Array<string>) => {
  const run = await doctor(...argv, "--json", "--rounds", "5", "--timeout", "5000")
  let report: DoctorReport
  try {
    report = JSON.parse(run.out)
  } catch {
    throw new Error(`not JSON (exit ${run.code}): ${run.out}\n${run.err}`)
  }
  return { ...run, report }
}

const byName = (r: DoctorReport) => Object.fromEntries(r.checks.map((c) => [c.name, c])) as Record<string, CheckResult>
const statuses = (r: DoctorReport) => Object.fromEntries(r.checks.map((c) => [c.name, c.status]))
const failing = (r: DoctorReport) => r.checks.filter((c) => c.status === "fail").map((c) => c.name)
const show = (r: DoctorReport) => r.checks.map((c) => `${c.status} ${c.name}: ${c.detail}`).join("\n")

/** A minimal honest relay script for startFakeRelay; `override` answers a frame itself when it returns true. */
const scripted = (events: Array<NostrEvent>, override: (f: any, ws: WebSocket) => boolean = () => false, honourLimit = true) => (f: any, ws: WebSocket) => {
  const send = (x: unknown) => ws.send(JSON.stringify(x))
  if (!Array.isArray(f)) return send(["NOTICE", "not a message"])
  if (override(f, ws)) return
  switch (f[0]) {
    case "EVENT":
      if (!events.some((e) => e.id === f[1].id)) events.push(f[1])
      return send(["OK", f[1].id, true, ""])
    case "REQ": {
      const [, sub, ...filters] = f
      const limit = honourLimit ? Math.min(...filters.map((x: { limit?: number }) => x.limit ?? 500)) : Infinity
      for (const e of events.filter((e) => matchFilters(filters, e as never)).slice(0, limit)) send(["EVENT", sub, e])
      return send(["EOSE", sub])
    }
    case "COUNT": {
      const [, sub, ...filters] = f
      return send(["COUNT", sub, { count: events.filter((e) => matchFilters(filters, e as never)).length }])
    }
    case "CLOSE":
      return
    default:
      return send(["NOTICE", `ERROR: unknown message ${f[0]}`])
  }
}

const freePort = async () => {
  const s = createNetServer()
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

describe("parrhesia doctor", () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c()
  })
  const relay = async (overrides: Parameters<typeof startRelay>[0] = {}) => {
    const r: TestRelay = await startRelay(overrides)
    cleanups.push(r.close)
    return r
  }
  const fake = async (p: Promise<FakeRelay>) => {
    const f = await p
    cleanups.push(f.close)
    return f
  }
  const proxy = async (p: Promise<Proxy>) => {
    const x = await p
    cleanups.push(x.close)
    return x
  }

  it("passes a healthy relay: every check, with a probe event really stored, and claims that hold", async () => {
    const r = await relay({ maxLimit: 3 })
    const c = await connect(r.url)
    const key = newKey()
    for (let i = 0; i < 3; i++) await publishOk(c, makeEvent({ created_at: T0 + i }, key))
    const { code, report, err } = await doctorJson(r.url)
    expect(code, show(report) + err).toBe(0)
    expect(report.url).toBe(r.url)
    expect(report.ok).toBe(true)
    expect(report.checks.map((x) => x.name)).toEqual(CHECK_NAMES)
    expect(statuses(report)).toEqual({
      dns: "skip",
      tcp: "pass",
      tls: "skip",
      nip11: "pass",
      cors: "pass",
      ready: "pass",
      websocket: "pass",
      publish: "pass",
      auth: "pass",
      latency: "pass",
      "nip45-count": "pass",
      "nip50-search": "pass",
      "nip77-negentropy": "pass",
      "nip40-expiration": "pass",
      "max-limit": "pass"
    })
    const checks = byName(report)
    expect(checks["dns"]!.detail).toContain("127.0.0.1 is an IP address")
    expect(checks["nip11"]!.detail).toMatch(/^"parrhesia" \([\d.]+\), NIPs 1 9 11 (\d+ )*40 42 45 50 (\d+ )*77; max_limit 3, /)
    expect(checks["websocket"]!.detail).toMatch(/^101 in .* ms, .*pong .* ms, close code 1000$/)
    expect(checks["publish"]!.detail).toMatch(/^OK true "[^"]*"; read back by id/)
    expect(checks["auth"]!.detail).toMatch(/^challenge sent on connect; AUTH as the throwaway key [0-9a-f]{16}… accepted$/)
    expect(checks["latency"]!.detail).toMatch(/^5 REQs: p50 [\d.]+ ms, p95 [\d.]+ ms, max [\d.]+ ms; connect [\d.]+ ms$/)
    expect(checks["latency"]!.data).toMatchObject({ rounds: 5 })
    expect(checks["nip45-count"]!.detail).toContain('"count":1')
    expect(checks["nip50-search"]!.detail).toContain("with our event")
    expect(checks["nip77-negentropy"]!.detail).toContain("it holds our event")
    expect(checks["nip40-expiration"]!.detail).toMatch(/refused: OK false "invalid: .*expired/)
    expect(checks["max-limit"]!.detail).toBe("returned 3 events (max_limit) for limit 4")
    for (const x of report.checks) expect(x.ms).toBeGreaterThanOrEqual(0)
    // The probe is really on the relay, signed by a key of its own.
    const probeId = checks["publish"]!.data!["id"] as string
    const back = await req(c, "probe", { ids: [probeId] })
    expect(back.events).toHaveLength(1)
    expect(back.events[0]!.content).toMatch(/^parrhesia doctor probe [0-9a-f]{16}/)
    expect(back.events[0]!.pubkey).not.toBe(key.pk)
    await c.close()
  })

  it("does NIP-42 AUTH when writes need it (with --auth-key), resolving localhost", async () => {
    const r = await relay({ authRequired: "writes" })
    const key = newKey()
    const url = `ws://localhost:${r.port}`
    const { code, report, err } = await doctorJson(url, "--auth-key", Buffer.from(key.sk).toString("hex"))
    expect(code, show(report) + err).toBe(0)
    const checks = byName(report)
    expect(checks["dns"]!.status).toBe("pass")
    expect(checks["dns"]!.detail).toMatch(/^localhost -> /)
    expect(checks["publish"]!.status).toBe("pass")
    expect(checks["publish"]!.detail).toContain("after NIP-42 AUTH")
    expect(checks["auth"]!.status).toBe("pass")
    expect(checks["auth"]!.detail).toBe(`challenge sent on connect; AUTH as --auth-key ${key.pk.slice(0, 16)}… accepted (asked for by the relay on our EVENT)`)
    expect(failing(report)).toEqual([])
  })

  it("warns with the relay's message when it refuses the probe by policy", async () => {
    const r = await relay({ allowedPubkeys: [newKey().pk] })
    const { code, report } = await doctorJson(r.url)
    expect(code, show(report)).toBe(0)
    const checks = byName(report)
    expect(checks["publish"]!.status).toBe("warn")
    expect(checks["publish"]!.detail).toMatch(/^kind 1 refused: OK false "(restricted|blocked): /)
    expect(checks["nip40-expiration"]!.status).toBe("skip")
    expect(failing(report)).toEqual([])
  })

  it("warns when a proxy strips the CORS headers (readable report)", async () => {
    const r = await relay()
    const p = await proxy(startProxy(r.port, { stripCors: true }))
    const run = await doctor(p.url, "--rounds", "3")
    expect(run.code, run.out).toBe(0)
    const lines = run.out.trimEnd().split("\n")
    expect(lines[0]).toBe(`parrhesia doctor ${p.url}`)
    expect(lines).toHaveLength(CHECK_NAMES.length + 2)
    expect(lines.find((l) => l.startsWith("! cors"))).toMatch(/no Access-Control-Allow-Origin header: web clients cannot read it; the OPTIONS preflight has no Access-Control-Allow-Origin header  \(\d+ ms\)$/)
    expect(lines.find((l) => l.startsWith("✓ nip11"))).toBeDefined()
    expect(lines.find((l) => l.startsWith("✓ publish"))).toBeDefined()
    expect(lines.find((l) => l.startsWith("- tls"))).toContain("ws:// (no TLS)")
    expect(lines.filter((l) => l.startsWith("✗"))).toEqual([])
    expect(lines.at(-1)).toMatch(new RegExp(`^${p.url}: \\d+ passed, 1 warned, 0 failed, \\d+ skipped in [\\d.]+ s: OK, with warnings$`))
  })

  it("fails the WebSocket check, naming the proxy, when a proxy refuses upgrades", async () => {
    const r = await relay()
    const p = await proxy(startProxy(r.port, { refuseUpgrade: 502 }))
    const { code, report } = await doctorJson(p.url)
    expect(code).toBe(1)
    const checks = byName(report)
    expect(checks["nip11"]!.status).toBe("pass")
    expect(checks["websocket"]!.status).toBe("fail")
    expect(checks["websocket"]!.detail).toMatch(/^WebSocket upgrade refused with HTTP 502 Bad Gateway ".*": the proxy in front of the relay could not reach it, or does not proxy WebSocket upgrades$/)
    expect(checks["publish"]!.status).toBe("skip")
    expect(failing(report)).toEqual(["websocket"])
  })

  it("fails NIP-45 when a relay claims it and answers COUNT with CLOSED", async () => {
    const events: Array<NostrEvent> = []
    const f = await fake(
      startFakeRelay(
        scripted(events, (m, ws) => m[0] === "COUNT" && (ws.send(JSON.stringify(["CLOSED", m[1], "unsupported: COUNT is not implemented"])), true)),
        { name: "fake", supported_nips: [1, 11, 45], limitation: {} }
      )
    )
    const { code, report } = await doctorJson(f.url)
    expect(code, show(report)).toBe(1)
    expect(report.ok).toBe(false)
    expect(failing(report)).toEqual(["nip45-count"])
    expect(byName(report)["nip45-count"]!.detail).toBe('claims NIP-45 but answered COUNT with CLOSED: "unsupported: COUNT is not implemented"')
    // The rest of the fake is honest: the round trip works, the unclaimed NIPs are skipped.
    expect(statuses(report)).toMatchObject({ publish: "pass", latency: "pass", auth: "skip", "nip50-search": "skip", "nip77-negentropy": "skip", "nip40-expiration": "skip", "max-limit": "skip" })
    expect(events.some((e) => e.content.startsWith("parrhesia doctor probe"))).toBe(true)
  })

  it("fails each claim a relay does not honour: NIP-40, NIP-50, NIP-77, max_limit", async () => {
    const key = newKey()
    const events: Array<NostrEvent> = Array.from({ length: 3 }, (_, i) => makeEvent({ created_at: T0 + i }, key))
    const f = await fake(
      startFakeRelay(
        scripted(
          events,
          (m, ws) => {
            if (m[0] === "REQ" && m.slice(2).some((x: { search?: string }) => x.search !== undefined)) {
              ws.send(JSON.stringify(["CLOSED", m[1], "unsupported: no search here"]))
              return true
            }
            return false
          },
          false
        ),
        { name: "liar", supported_nips: [1, 11, 40, 50, 77], limitation: { max_limit: 2 } }
      )
    )
    const { code, report } = await doctorJson(f.url)
    expect(code).toBe(1)
    expect(failing(report)).toEqual(["nip50-search", "nip77-negentropy", "nip40-expiration", "max-limit"])
    const checks = byName(report)
    expect(checks["nip50-search"]!.detail).toBe('claims NIP-50 but answered a search REQ with CLOSED: "unsupported: no search here"')
    expect(checks["nip77-negentropy"]!.detail).toBe('claims NIP-77 but answered NEG-OPEN with NOTICE: "ERROR: unknown message NEG-OPEN"')
    expect(checks["nip40-expiration"]!.detail).toBe('claims NIP-40 but accepted an already expired event (OK true "") and serves it')
    expect(checks["max-limit"]!.detail).toMatch(/^claims max_limit 2 but returned [3-9] events for limit 3$/)
    expect(checks["nip45-count"]!.status).toBe("skip")
  })

  it("fails a relay that is up but cannot store, naming the reason from /ready", async () => {
    const down = { ready: false, server: "down", reason: "the embedded PostgreSQL (pid 42) ended (signal SIGKILL)", since: Date.UTC(2026, 0, 2, 3, 4, 5), restarts: 0 } as const
    const r = await startRelay({}, { stores: Layer.merge(layerMemoryStores, Layer.succeed(StoreHealth, { status: () => down })) })
    cleanups.push(r.close)
    const { code, report } = await doctorJson(r.url)
    expect(code).toBe(1)
    const ready = byName(report)["ready"]!
    expect(ready.status).toBe("fail")
    expect(ready.detail).toBe(
      'the relay is up but cannot store: "the embedded PostgreSQL (pid 42) ended (signal SIGKILL)" since 2026-01-02T03:04:05.000Z (GET /ready 503); EVENTs are refused with "error:" until it recovers'
    )
    // Up: the WebSocket checks still run.
    expect(byName(report)["websocket"]!.status).toBe("pass")
  })

  it("skips readiness on a relay without /ready", async () => {
    const f = await fake(startFakeRelay(scripted([])))
    const { report } = await doctorJson(f.url)
    expect(byName(report)["ready"]!.status).toBe("skip")
  })

  it("exits 3 naming an unreachable port, and skips the rest", async () => {
    const port = await freePort()
    const run = await doctor(`ws://127.0.0.1:${port}`, "--timeout", "5000")
    expect(run.code).toBe(3)
    expect(run.err).toContain(`parrhesia doctor: cannot reach 127.0.0.1:${port}: cannot connect to 127.0.0.1:${port}: `)
    expect(run.err).toContain("ECONNREFUSED")
    expect(run.out).toMatch(/✗ tcp +cannot connect to 127\.0\.0\.1:\d+/)
    expect(run.out.split("\n").filter((l) => l.startsWith("- ")).length).toBe(CHECK_NAMES.length - 1)
    expect(run.out.trimEnd().split("\n").at(-1)).toMatch(/: UNREACHABLE$/)
  })

  it("exits 3 naming a host that does not resolve", async () => {
    const { code, report, err } = await doctorJson("wss://doctor-check.invalid")
    expect(code).toBe(3)
    expect(report.reachable).toBe(false)
    expect(byName(report)["dns"]!.status).toBe("fail")
    expect(byName(report)["dns"]!.detail).toMatch(/^cannot resolve doctor-check\.invalid: /)
    expect(err).toContain("cannot reach doctor-check.invalid:443")
  })

  it("rejects bad usage with exit 2", async () => {
    expect((await doctor()).code).toBe(2)
    expect((await doctor("relay.example.com")).err).toContain("is not a ws:// or wss:// URL")
    expect((await doctor("ws://x", "--rounds", "0")).code).toBe(2)
    expect((await doctor("ws://x", "--timeout", "abc")).code).toBe(2)
    expect((await doctor("ws://x", "--auth-key", "nope")).code).toBe(2)
    expect((await doctor("ws://x", "--frobnicate")).err).toContain("unknown option --frobnicate")
    expect((await doctor("ws://a", "ws://b")).code).toBe(2)
  })

  describe("over TLS", () => {
    let dir: string
    const certs: Record<string, { key: string; cert: string }> = {}
    const makeCert = (name: string, days: number, subj: string, san: string) => {
      execFileSync("openssl", [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.crt`),
        "-days", String(days), "-subj", subj, "-addext", `subjectAltName=${san}`
      ], { stdio: "pipe" })
      certs[name] = { key: readFileSync(join(dir, `${name}.key`), "utf8"), cert: readFileSync(join(dir, `${name}.crt`), "utf8") }
    }
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "parrhesia-doctor-"))
      makeCert("local", 5, "/CN=127.0.0.1", "IP:127.0.0.1,DNS:localhost")
      makeCert("elsewhere", 90, "/CN=elsewhere.example", "DNS:elsewhere.example")
    })
    afterAll(() => rmSync(dir, { recursive: true, force: true }))

    const httpsServer = async (pair: { key: string; cert: string }) => {
      const s: HttpsServer = createHttpsServer(pair, (_, res) => {
        res.writeHead(200, { "content-type": "application/nostr+json", "access-control-allow-origin": "*" })
        res.end(JSON.stringify({ name: "tls" }))
      })
      await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve))
      cleanups.push(() => new Promise((resolve) => (s.closeAllConnections(), s.close(() => resolve()))))
      return (s.address() as AddressInfo).port
    }

    it("fails the TLS check of a self-signed certificate with a readable reason", async () => {
      const port = await httpsServer(certs["local"]!)
      const { code, report } = await doctorJson(`wss://127.0.0.1:${port}`)
      expect(code).toBe(1)
      expect(report.reachable).toBe(true)
      expect(failing(report)).toEqual(["tls"])
      const tls = byName(report)["tls"]!
      expect(tls.detail).toMatch(/^the certificate is self-signed: clients will not trust it \(DEPTH_ZERO_SELF_SIGNED_CERT\) \(TLSv1\.3, subject 127\.0\.0\.1, issuer 127\.0\.0\.1, SANs IP Address:127\.0\.0\.1, DNS:localhost, expires \d{4}-\d\d-\d\d\)$/)
      expect(byName(report)["nip11"]!.status).toBe("skip")
      expect(byName(report)["nip11"]!.detail).toBe("the TLS check failed: clients cannot connect")
    })

    it("fails a trusted certificate issued for another host", async () => {
      const port = await httpsServer(certs["elsewhere"]!)
      const report = await runDoctor({ url: `wss://127.0.0.1:${port}`, ca: certs["elsewhere"]!.cert, timeoutMs: 5000, rounds: 2 })
      expect(failing(report)).toEqual(["tls"])
      expect(byName(report)["tls"]!.detail).toMatch(/^the certificate is for DNS:elsewhere\.example, not 127\.0\.0\.1 \(/)
    })

    it("checks a relay end to end behind a TLS proxy, warning of a certificate about to expire", async () => {
      const r = await relay()
      const p = await proxy(startProxy(r.port, { tls: certs["local"]! }))
      const seen: Array<string> = []
      const report = await runDoctor({ url: p.url, ca: certs["local"]!.cert, timeoutMs: 5000, rounds: 3, onCheck: (c) => seen.push(c.name) })
      expect(seen).toEqual(CHECK_NAMES)
      expect(report.ok, show(report)).toBe(true)
      const tls = byName(report)["tls"]!
      expect(tls.status).toBe("warn")
      expect(tls.detail).toMatch(/^the certificate expires in [45] days \(TLSv1\.3, .*\): renew it$/)
      expect(tls.data).toMatchObject({ authorized: true, subject: "127.0.0.1" })
      expect(report.checks.filter((c) => c.status === "warn").map((c) => c.name)).toEqual(["tls"])
      expect(statuses(report)).toMatchObject({ nip11: "pass", cors: "pass", websocket: "pass", publish: "pass", auth: "pass", latency: "pass", "nip77-negentropy": "pass" })
    })
  })
})
