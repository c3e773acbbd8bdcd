/**
 * The CLI as a child process: `node src/main.ts` (Node runs the .ts sources).
 */
import { spawn, type ChildProcess } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { makeEvent } from "../support/nostr.ts"
import { connect, now, publish } from "../support/ws.ts"

const MAIN = join(import.meta.dirname, "../../src/main.ts")

interface Run {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const run = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Run => {
  // Only what the relay needs from the parent environment: no stray PARRHESIA_* settings.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PARRHESIA_") && k !== "DATABASE_URL"))
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...base, PARRHESIA_STORE: "memory", PARRHESIA_HOST: "127.0.0.1", PARRHESIA_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let out = ""
  let err = ""
  child.stdout!.on("data", (d) => (out += d))
  child.stderr!.on("data", (d) => (err += d))
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal }))
  )
  return { child, stdout: () => out, stderr: () => err, exit }
}

/** Resolves with the first stdout match of `re`; rejects if the process exits first. */
const waitForLine = (r: Run, re: RegExp) =>
  new Promise<RegExpMatchArray>((resolve, reject) => {
    const check = () => {
      const m = r.stdout().match(re)
      if (m) {
        r.child.stdout!.off("data", check)
        resolve(m)
      }
    }
    r.child.stdout!.on("data", check)
    check()
    void r.exit.then(({ code }) => reject(new Error(`exited with ${code} before printing ${re}: ${r.stdout()} ${r.stderr()}`)))
  })

/** Runs to completion, killing it if it has not exited in `ms` (a hang becomes a failure, not a stuck suite). */
const finished = async (r: Run, ms = 25_000) => {
  const t = setTimeout(() => r.child.kill("SIGKILL"), ms)
  const res = await r.exit
  clearTimeout(t)
  return res
}

// Each test starts one or two Node processes (1-7 s each on a loaded 2-core machine): a roomier limit than the default.
describe("parrhesia CLI", { timeout: 60_000 }, () => {
  it("serve --port 0 prints its ws:// URL, serves, and exits 0 on SIGTERM", async () => {
    const r = run(["--port", "0"])
    try {
      const m = await waitForLine(r, /ws:\/\/127\.0\.0\.1:(\d+)/)
      expect(Number(m[1])).toBeGreaterThan(0)
      const c = await connect(m[0])
      const e = makeEvent({ created_at: now() })
      expect(await publish(c, e)).toEqual({ accepted: true, message: "" })
      const closed = c.closed
      r.child.kill("SIGTERM")
      const res = await finished(r)
      expect(res).toEqual({ code: 0, signal: null })
      expect((await closed).code).toBe(1001)
    } finally {
      r.child.kill("SIGKILL")
    }
  })

  const invalid: ReadonlyArray<[string, ReadonlyArray<string>, Record<string, string>, RegExp]> = [
    ["PARRHESIA_PORT=abc", [], { PARRHESIA_PORT: "abc" }, /port/i],
    ["PARRHESIA_MAX_LIMIT=0", ["--port", "0"], { PARRHESIA_MAX_LIMIT: "0" }, /maxLimit|MAX_LIMIT/],
    ["PARRHESIA_DEFAULT_LIMIT above maxLimit", ["--port", "0"], { PARRHESIA_DEFAULT_LIMIT: "10", PARRHESIA_MAX_LIMIT: "5" }, /defaultLimit/],
    ["--port 99999", ["--port", "99999"], {}, /port/]
  ]
  for (const [what, args, env, message] of invalid) {
    it(`an invalid setting (${what}) exits non-zero naming the setting`, async () => {
      const r = run(args, env)
      const res = await finished(r)
      expect(res.code).not.toBe(0)
      expect(res.code).not.toBeNull()
      expect(r.stderr()).toMatch(message)
      expect(r.stdout()).not.toMatch(/listening/)
    })
  }

  it("an unknown key in the config file exits non-zero naming the key", async () => {
    const dir = mkdtempSync(join(tmpdir(), "parrhesia-cli-"))
    const file = join(dir, "config.json")
    writeFileSync(file, JSON.stringify({ port: 0, maxLimitt: 5 }))
    const r = run(["--config", file])
    const res = await finished(r)
    expect(res.code).not.toBe(0)
    expect(r.stderr()).toMatch(/maxLimitt/)
  })

  it("an unknown command or option exits non-zero", async () => {
    const a = run(["frobnicate"])
    const b = run(["--frob"])
    const [ra, rb] = await Promise.all([finished(a), finished(b)])
    expect(ra.code).not.toBe(0)
    expect(a.stderr()).toMatch(/frobnicate/)
    expect(rb.code).not.toBe(0)
    expect(b.stderr()).toMatch(/--frob/)
  })

  it("help prints usage and exits 0", async () => {
    const r = run(["help"])
    expect(await finished(r)).toEqual({ code: 0, signal: null })
    expect(r.stdout()).toMatch(/Usage/)
    expect(r.stdout()).toMatch(/PARRHESIA_PORT/)
    expect(r.stdout()).toMatch(/PARRHESIA_MAX_LIMIT/)
  })
})
