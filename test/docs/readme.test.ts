import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { envName, SETTINGS } from "../../src/config/settings.ts"
import { supportedNips } from "../../src/http/nip11.ts"
import { defaults } from "../../src/config/RelayConfig.ts"

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8")

describe("README", () => {
  it("documents every setting with its variable and default", () => {
    for (const [key, s] of Object.entries(SETTINGS)) {
      const row = readme.split("\n").find((l) => l.startsWith(`| \`${key}\` |`))
      expect(row, key).toBeDefined()
      expect(row).toContain(envName(key))
      const shown = Array.isArray(s.default) ? s.default.join(",") : String(s.default)
      if (shown !== "") expect(row).toContain(`\`${shown}\``)
    }
  })

  it("lists exactly the NIPs the relay advertises", () => {
    const section = readme.slice(readme.indexOf("## Supported NIPs"), readme.indexOf("## Configuration"))
    const listed = [...section.matchAll(/^\| (\d\d) \|/gm)].map((m) => Number(m[1]))
    expect(listed).toEqual([...supportedNips(defaults())])
  })

  it("carries the two quick-start commands", () => {
    expect(readme).toMatch(/^npm start\b/m)
    expect(readme).toMatch(/^npm test\b/m)
  })
})
