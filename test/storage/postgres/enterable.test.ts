/**
 * Running as root, PostgreSQL runs as the OS user `postgres`, which must be
 * able to enter every folder above its data and above its binaries. A fresh
 * checkout under a 0700 folder (what `mktemp -d` makes) used to fail with
 * `spawn .../initdb EACCES`.
 */
import { randomBytes } from "node:crypto"
import { accessSync, constants, mkdirSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { embeddedBinDir, ensureEnterable } from "../../../src/storage/postgres/EmbeddedPostgres.ts"

const top = join(tmpdir(), `parrhesia-enterable-${randomBytes(4).toString("hex")}`)
afterAll(() => rmSync(top, { recursive: true, force: true }))

describe("embedded PostgreSQL: folders the postgres user must enter", () => {
  it("finds this platform's PostgreSQL binaries", async () => {
    const bin = await embeddedBinDir()
    accessSync(join(bin, "initdb"), constants.X_OK)
    accessSync(join(bin, "postgres"), constants.X_OK)
  })

  it("adds o+x to every closed folder up the chain, and says which", () => {
    const a = join(top, "a")
    const b = join(a, "b")
    mkdirSync(b, { recursive: true, mode: 0o700 })
    const warnings: Array<string> = []
    ensureEnterable(b, (m) => warnings.push(m))
    for (const d of [top, a, b]) expect(statSync(d).mode & 0o001, d).toBe(0o001)
    // Owner and group bits are kept; nothing more than enter permission is granted.
    expect(statSync(b).mode & 0o777).toBe(0o701)
    expect(warnings.some((w) => w.includes(b))).toBe(true)
    expect(warnings.some((w) => w.includes(a))).toBe(true)
    // Already enterable: nothing changed, nothing said.
    const again: Array<string> = []
    ensureEnterable(b, (m) => again.push(m))
    expect(again).toEqual([])
  })
})
