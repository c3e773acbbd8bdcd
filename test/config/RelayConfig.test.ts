import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { availableParallelism, tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { ConfigError, defaults, loadSettings, RelayConfig, workerCount, type ConfigSources } from "../../src/config/RelayConfig.ts"
import { envName, SETTINGS, type Setting, type Settings } from "../../src/config/settings.ts"

const dir = mkdtempSync(join(tmpdir(), "parrhesia-config-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const file = (content: unknown): string => {
  const path = join(dir, `config-${++n}.json`)
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content))
  return path
}

const load = (sources: ConfigSources): Settings => Effect.runSync(loadSettings(sources))
const fail = (sources: ConfigSources): string => {
  const e = Effect.runSync(Effect.flip(loadSettings(sources)))
  expect(e).toBeInstanceOf(ConfigError)
  return e.message
}

const entries = Object.entries(SETTINGS) as Array<[keyof Settings, Setting]>

describe("settings table", () => {
  it("env names are PARRHESIA_ + UPPER_SNAKE of the key", () => {
    expect(envName("port")).toBe("PARRHESIA_PORT")
    expect(envName("maxLimit")).toBe("PARRHESIA_MAX_LIMIT")
    expect(envName("embeddedPgPort")).toBe("PARRHESIA_EMBEDDED_PG_PORT")
    expect(envName("databaseUrl")).toBe("PARRHESIA_DATABASE_URL")
  })

  it("every default is valid for its own setting, and defaults load without sources", () => {
    for (const [key, s] of entries) {
      if (s.type === "int") {
        expect(Number.isInteger(s.default), key).toBe(true)
        expect(s.default >= s.min && s.default <= s.max, key).toBe(true)
      }
      if (s.type === "enum") expect(s.values, key).toContain(s.default)
      expect(s.doc.length, key).toBeGreaterThan(0)
    }
    expect(load({})).toEqual(defaults())
    expect(load({ env: {} })).toEqual(defaults())
  })

  it("env names are all distinct", () => {
    const names = entries.map(([k]) => envName(k))
    expect(new Set(names).size).toBe(names.length)
  })
})

describe("loadSettings precedence: defaults < file < env < overrides", () => {
  it("each source overrides the ones below it, setting by setting", () => {
    const path = file({ port: 1111, name: "from file", maxSubscriptions: 7 })
    expect(load({ file: path })).toMatchObject({ port: 1111, name: "from file", maxSubscriptions: 7, maxFilters: SETTINGS.maxFilters.default })
    const env = { PARRHESIA_PORT: "2222", PARRHESIA_MAX_FILTERS: "3" }
    expect(load({ file: path, env })).toMatchObject({ port: 2222, name: "from file", maxSubscriptions: 7, maxFilters: 3 })
    expect(load({ file: path, env, overrides: { port: 3333, maxSubscriptions: 9 } })).toMatchObject({
      port: 3333,
      name: "from file",
      maxSubscriptions: 9,
      maxFilters: 3
    })
  })

  it("an override of undefined leaves the lower source in place", () => {
    expect(load({ env: { PARRHESIA_PORT: "2222" }, overrides: { port: undefined } }).port).toBe(2222)
  })

  it("empty environment variables count as unset", () => {
    const path = file({ port: 1111 })
    expect(load({ file: path, env: { PARRHESIA_PORT: "" } }).port).toBe(1111)
  })

  it("ints from text are trimmed; overrides may be text (command-line flags)", () => {
    expect(load({ env: { PARRHESIA_PORT: " 8080 " } }).port).toBe(8080)
    expect(load({ overrides: { port: "9090" } }).port).toBe(9090)
  })

  it("enum values from env", () => {
    expect(load({ env: { PARRHESIA_STORE: "memory" } }).store).toBe("memory")
  })
})

describe("DATABASE_URL alias", () => {
  const url = "postgres://u:p@db.example.com:5432/relay"
  it("is honoured for databaseUrl", () => {
    expect(load({ env: { DATABASE_URL: url } }).databaseUrl).toBe(url)
  })
  it("loses to PARRHESIA_DATABASE_URL and to overrides", () => {
    const own = "postgresql://other/relay"
    expect(load({ env: { DATABASE_URL: url, PARRHESIA_DATABASE_URL: own } }).databaseUrl).toBe(own)
    expect(load({ env: { DATABASE_URL: url }, overrides: { databaseUrl: own } }).databaseUrl).toBe(own)
  })
  it("beats the config file", () => {
    expect(load({ file: file({ databaseUrl: "postgres://file/db" }), env: { DATABASE_URL: url } }).databaseUrl).toBe(url)
  })
  it("applies when PARRHESIA_DATABASE_URL is set but empty", () => {
    expect(load({ env: { DATABASE_URL: url, PARRHESIA_DATABASE_URL: "" } }).databaseUrl).toBe(url)
  })
  it("an invalid alias value is reported under the alias name", () => {
    const msg = fail({ env: { DATABASE_URL: "mysql://x" } })
    expect(msg).toContain('"databaseUrl"')
  })
})

describe("validation errors name their setting", () => {
  it("every int setting: non-integers and out-of-range values, from env, file and overrides", () => {
    for (const [key, s] of entries) {
      if (s.type !== "int") continue
      const env = envName(key)
      for (const raw of ["abc", "1.5", "1e3", "0x10", "12abc", String(s.max + 1), String(s.min - 1)]) {
        const msg = fail({ env: { [env]: raw } })
        expect(msg, `${key}=${raw}`).toContain(`"${key}"`)
        expect(msg, `${key}=${raw}`).toContain(env)
      }
      const fromFile = fail({ file: file({ [key]: s.max + 1 }) })
      expect(fromFile).toContain(`"${key}"`)
      expect(fromFile).toContain("config file")
      expect(fail({ file: file({ [key]: "many" }) })).toContain(`"${key}"`)
      expect(fail({ file: file({ [key]: null }) })).toContain(`"${key}"`)
      expect(fail({ file: file({ [key]: 1.5 }) })).toContain(`"${key}"`)
      const flag = fail({ overrides: { [key]: s.min - 1 } })
      expect(flag).toContain(`"${key}"`)
      expect(flag).toContain("command line")
    }
  })

  it("int bounds are inclusive", () => {
    for (const [key, s] of entries) {
      if (s.type !== "int") continue
      // defaultLimit must not exceed maxLimit: move the other one out of the way.
      const base = key === "defaultLimit" ? { maxLimit: SETTINGS.maxLimit.max } : key === "maxLimit" ? { defaultLimit: 1 } : {}
      expect(load({ overrides: { ...base, [key]: s.min } })[key]).toBe(s.min)
      expect(load({ overrides: { ...base, [key]: s.max } })[key]).toBe(s.max)
    }
  })

  it("every enum setting: values outside the list, case-sensitively", () => {
    for (const [key, s] of entries) {
      if (s.type !== "enum") continue
      for (const raw of ["nonsense", s.default.toUpperCase(), ""]) {
        if (raw === "") continue
        const msg = fail({ env: { [envName(key)]: raw } })
        expect(msg, `${key}=${raw}`).toContain(`"${key}"`)
        for (const v of s.values) expect(msg).toContain(v)
      }
      expect(fail({ file: file({ [key]: 1 }) })).toContain(`"${key}"`)
      for (const v of s.values) expect(load({ env: { [envName(key)]: v } })[key]).toBe(v)
    }
  })

  it("every string setting: non-strings in the file", () => {
    for (const [key, s] of entries) {
      if (s.type !== "string") continue
      // `workers` is a count or "auto": a number is its one non-string form.
      if (key !== "workers") expect(fail({ file: file({ [key]: 5 }) }), key).toContain(`"${key}"`)
      expect(fail({ file: file({ [key]: null }) }), key).toContain(`"${key}"`)
    }
  })

  it("workers: a count (number or text) or auto; more than one needs the postgres store", () => {
    expect(load({ file: file({ workers: 3 }) }).workers).toBe("3")
    expect(load({ env: { PARRHESIA_WORKERS: "auto" } }).workers).toBe("auto")
    expect(workerCount(load({ env: { PARRHESIA_WORKERS: "auto" } }))).toBe(availableParallelism())
    for (const v of ["0", "-1", "two", "1.5", "1000"]) expect(fail({ env: { PARRHESIA_WORKERS: v } }), v).toContain('"workers"')
    expect(fail({ file: file({ workers: true }) })).toContain('"workers"')
    expect(fail({ env: { PARRHESIA_WORKERS: "2", PARRHESIA_STORE: "memory" } })).toContain("needs the postgres store")
    expect(load({ env: { PARRHESIA_WORKERS: "1", PARRHESIA_STORE: "memory" } }).store).toBe("memory")
  })

  it("defaultLimit may not exceed maxLimit", () => {
    const msg = fail({ overrides: { defaultLimit: 600, maxLimit: 500 } })
    expect(msg).toContain('"defaultLimit"')
    expect(msg).toContain('"maxLimit"')
    expect(fail({ env: { PARRHESIA_MAX_LIMIT: "100" } })).toContain('"defaultLimit"')
    expect(load({ overrides: { defaultLimit: 500, maxLimit: 500 } }).defaultLimit).toBe(500)
  })

  it("pubkey must be 64 lowercase hex when set", () => {
    for (const v of ["abc", "A".repeat(64), "a".repeat(63), "npub1xyz"]) expect(fail({ env: { PARRHESIA_PUBKEY: v } })).toContain('"pubkey"')
    expect(load({ env: { PARRHESIA_PUBKEY: "a".repeat(64) } }).pubkey).toBe("a".repeat(64))
  })

  it("relayUrl must be ws:// or wss:// when set", () => {
    for (const v of ["http://x", "relay.example.com", "wss://", "wss://a b"]) expect(fail({ overrides: { relayUrl: v } })).toContain('"relayUrl"')
    expect(load({ overrides: { relayUrl: "wss://relay.example.com/" } }).relayUrl).toBe("wss://relay.example.com/")
  })

  it("tlsCert and tlsKey go together and must be readable files", () => {
    expect(fail({ env: { PARRHESIA_TLS_CERT: "/etc/hostname" } })).toContain('"tlsKey"')
    expect(fail({ env: { PARRHESIA_TLS_CERT: "/nonexistent/cert.pem", PARRHESIA_TLS_KEY: "/etc/hostname" } })).toMatch(/"tlsCert".*ENOENT/)
    expect(load({ env: { PARRHESIA_TLS_CERT: "/etc/hostname", PARRHESIA_TLS_KEY: "/etc/hostname" } }).tlsKey).toBe("/etc/hostname")
  })

  it("mirrorUpstreams must be ws(s):// URLs and mirrorFilter a valid filter", () => {
    expect(fail({ env: { PARRHESIA_MIRROR_UPSTREAMS: "wss://a.example,http://b" } })).toContain('"mirrorUpstreams"')
    expect(load({ env: { PARRHESIA_MIRROR_UPSTREAMS: "wss://a.example,ws://127.0.0.1:7000" } }).mirrorUpstreams).toEqual(["wss://a.example", "ws://127.0.0.1:7000"])
    expect(fail({ env: { PARRHESIA_MIRROR_FILTER: "{kinds" } })).toContain('"mirrorFilter"')
    expect(fail({ env: { PARRHESIA_MIRROR_FILTER: '{"kinds":"x"}' } })).toContain('"mirrorFilter"')
    expect(load({ env: { PARRHESIA_MIRROR_FILTER: '{"kinds":[0,1]}' } }).mirrorFilter).toBe('{"kinds":[0,1]}')
  })

  it("databaseUrl must be postgres:// or postgresql:// when set", () => {
    expect(fail({ overrides: { databaseUrl: "mysql://x" } })).toContain('"databaseUrl"')
    expect(load({ overrides: { databaseUrl: "postgresql://h/db" } }).databaseUrl).toBe("postgresql://h/db")
  })
})

describe("config file", () => {
  it("unknown keys are rejected, including names that exist on Object.prototype", () => {
    for (const key of ["prot", "Port", "PARRHESIA_PORT", "constructor", "toString", "hasOwnProperty", "__proto__"]) {
      const msg = fail({ file: file(`{${JSON.stringify(key)}: 1}`) })
      expect(msg, key).toContain(`unknown setting "${key}"`)
    }
  })

  it("unknown override keys are rejected too", () => {
    expect(fail({ overrides: { nope: 1 } as never })).toContain('"nope"')
    expect(fail({ overrides: JSON.parse('{"constructor": 1}') })).toContain('"constructor"')
  })

  it("must exist, be JSON, and hold an object", () => {
    expect(fail({ file: join(dir, "missing.json") })).toContain("missing.json")
    expect(fail({ file: file("{port: 1}") })).toMatch(/not valid JSON/)
    for (const bad of ["[]", "1", "null", '"x"']) expect(fail({ file: file(bad) })).toMatch(/JSON object/)
  })

  it("an empty object means defaults", () => {
    expect(load({ file: file({}) })).toEqual(defaults())
  })
})

describe("RelayConfig.layerWith", () => {
  it("serves the defaults with overrides applied", () => {
    const program = Effect.gen(function* () {
      return yield* RelayConfig
    })
    const s = Effect.runSync(Effect.provide(program, RelayConfig.layerWith({ port: 1 })))
    // Tests and embedders get no JIT warm-up unless they ask for it.
    expect(s).toEqual({ ...defaults(), warmUpMessages: 0, port: 1 })
    expect(Effect.runSync(Effect.provide(program, RelayConfig.layerWith({ warmUpMessages: 5 }))).warmUpMessages).toBe(5)
  })
})
