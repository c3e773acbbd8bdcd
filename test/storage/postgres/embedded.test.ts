/**
 * The embedded PostgreSQL traps: a server left running by a SIGKILLed relay,
 * a stale postmaster.pid, a port in use, an already initialised folder.
 */
import { spawn } from "node:child_process"
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { randomBytes } from "node:crypto"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { startEmbedded } from "../../../src/storage/postgres/EmbeddedPostgres.ts"
import { withClient } from "../../support/postgres.ts"

const dir = join(tmpdir(), `parrhesia-embedded-${randomBytes(4).toString("hex")}`)
mkdirSync(dir, { recursive: true })
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const ping = (url: string) => withClient(url, (sql) => sql.unsafe<{ one: number }>("SELECT 1 AS one"))

describe("embedded PostgreSQL", () => {
  it("restarts over a server left running by a SIGKILLed parent, and over a stale postmaster.pid", async () => {
    const child = spawn(process.execPath, [fileURLToPath(new URL("../../support/embeddedChild.ts", import.meta.url)), dir], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    const url = await new Promise<string>((res, rej) => {
      let out = ""
      child.stdout!.on("data", (d) => {
        out += d
        const m = /READY (\S+)/.exec(out)
        if (m) res(m[1]!)
      })
      child.on("exit", (code) => rej(new Error(`child exited ${code}`)))
    })
    await ping(url)
    child.kill("SIGKILL")
    await new Promise((r) => child.once("exit", r))
    const orphan = Number(readFileSync(join(dir, "pg", "postmaster.pid"), "utf8").split("\n")[0])
    expect(alive(orphan)).toBe(true) // the server outlived its parent

    const warnings: Array<string> = []
    const server = await startEmbedded({ dataDir: dir, port: 0, warn: (m) => warnings.push(m) })
    try {
      expect(warnings.join("\n")).toMatch(/left running by an earlier, killed run/)
      expect(alive(orphan)).toBe(false)
      expect((await ping(server.url))[0]?.one).toBe(1)
    } finally {
      await server.stop()
    }

    // A postmaster.pid naming a pid that is not this server (initialised folder: initdb is skipped).
    writeFileSync(join(dir, "pg", "postmaster.pid"), `${process.pid}\n${join(dir, "pg")}\n`)
    const warnings2: Array<string> = []
    const again = await startEmbedded({ dataDir: dir, port: 0, warn: (m) => warnings2.push(m) })
    try {
      expect(warnings2.join("\n")).toMatch(/stale/)
      expect((await ping(again.url))[0]?.one).toBe(1)
    } finally {
      await again.stop()
    }
  }, 60_000)

  it("a port in use gives a clear message", async () => {
    const blocker = createServer()
    const port = await new Promise<number>((res) =>
      blocker.listen(0, "127.0.0.1", () => res((blocker.address() as { port: number }).port))
    )
    try {
      await expect(startEmbedded({ dataDir: dir, port, warn: () => {} })).rejects.toThrow(
        new RegExp(`port ${port}.*in use.*embeddedPgPort`)
      )
    } finally {
      blocker.close()
    }
  }, 60_000)
})
