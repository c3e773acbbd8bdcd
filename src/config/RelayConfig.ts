/**
 * RelayConfig: the validated settings, from defaults < config file (JSON) <
 * PARRHESIA_* environment variables < command-line flags. Any invalid value
 * stops start-up with a message naming the setting.
 */
import { readFileSync } from "node:fs"
import { availableParallelism } from "node:os"
import { Context, Data, Effect, Layer } from "effect"
import { parseIpRange } from "../net/ip.ts"
import { parseFilter } from "../nostr/filter.ts"
import { parseStreams } from "./streams.ts"
import { parseRetention } from "./retention.ts"
import { envName, SETTINGS, type Setting, type SettingKey, type Settings } from "./settings.ts"

/** The setting named `key`, if it is one: own keys only, so "constructor" or "__proto__" are unknown, not Object's. */
const settingOf = (key: string): Setting | undefined =>
  Object.hasOwn(SETTINGS, key) ? (SETTINGS as Record<string, Setting>)[key] : undefined

export class ConfigError extends Data.TaggedError("ConfigError")<{ readonly message: string }> {}

export class RelayConfig extends Context.Service<RelayConfig, Settings>()("parrhesia/config/RelayConfig") {
  /** A config built from literals over the defaults; for tests. */
  /** The defaults with `overrides` (tests, embedding): no JIT warm-up unless asked for. */
  static readonly layerWith = (overrides: Partial<Settings> = {}) =>
    Layer.succeed(RelayConfig, RelayConfig.of({ ...defaults(), warmUpMessages: 0, ...overrides }))
}

export const defaults = (): Settings =>
  Object.fromEntries(Object.entries(SETTINGS).map(([k, s]) => [k, s.default])) as unknown as Settings

/** A list value: a JSON array, or a comma-separated string (environment variables, or a string in the file). */
const listItems = (raw: unknown, where: string): ReadonlyArray<unknown> => {
  if (Array.isArray(raw)) return raw
  if (typeof raw === "string") return raw.split(",").map((x) => x.trim()).filter((x) => x !== "")
  throw new ConfigError({ message: `${where} must be a list (a JSON array or a comma-separated string), got ${JSON.stringify(raw)}` })
}

const coerce = (key: string, s: Setting, raw: unknown, source: string): number | string | boolean | ReadonlyArray<unknown> => {
  const where = `setting "${key}" (${source})`
  switch (s.type) {
    case "int": {
      const n = typeof raw === "string" && /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw
      if (typeof n !== "number" || !Number.isInteger(n)) throw new ConfigError({ message: `${where} must be an integer, got ${JSON.stringify(raw)}` })
      if (n < s.min || n > s.max) throw new ConfigError({ message: `${where} must be between ${s.min} and ${s.max}, got ${n}` })
      return n
    }
    case "bool": {
      if (typeof raw === "boolean") return raw
      if (raw === "true" || raw === "1") return true
      if (raw === "false" || raw === "0") return false
      throw new ConfigError({ message: `${where} must be true or false, got ${JSON.stringify(raw)}` })
    }
    case "enum": {
      if (typeof raw !== "string" || !s.values.includes(raw)) {
        throw new ConfigError({ message: `${where} must be one of ${s.values.join(", ")}, got ${JSON.stringify(raw)}` })
      }
      return raw
    }
    case "list":
      return listItems(raw, where).map((v) => {
        if (typeof v !== "string" || v.trim() === "") throw new ConfigError({ message: `${where} must hold non-empty strings, got ${JSON.stringify(v)}` })
        return v.trim()
      })
    case "intList":
      return listItems(raw, where).map((v) => {
        const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v
        if (typeof n !== "number" || !Number.isInteger(n) || n < s.min || n > s.max) {
          throw new ConfigError({ message: `${where} must hold integers between ${s.min} and ${s.max}, got ${JSON.stringify(v)}` })
        }
        return n
      })
    case "string":
      // `workers` is a number or "auto": a JSON number in the config file is taken as its text.
      if (key === "workers" && typeof raw === "number") return String(raw)
      // `streams` is JSON: the config file may hold the list itself.
      if (key === "streams" && Array.isArray(raw)) return JSON.stringify(raw)
      if (typeof raw !== "string") throw new ConfigError({ message: `${where} must be a string, got ${JSON.stringify(raw)}` })
      return raw
  }
}

export interface ConfigSources {
  readonly file?: string | undefined
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Highest precedence: command-line flags, already keyed by setting name. */
  readonly overrides?: Readonly<Partial<Record<SettingKey, unknown>>>
}

/** How many relay processes `workers` asks for: `auto` is one per core. */
export const workerCount = (s: Settings): number => (s.workers === "auto" ? availableParallelism() : Number(s.workers))

const crossChecks = (s: Settings) => {
  if (!/^(auto|[1-9]\d{0,2})$/.test(s.workers)) {
    throw new ConfigError({ message: `setting "workers" must be a number from 1 to 999 or "auto", got ${JSON.stringify(s.workers)}` })
  }
  if (workerCount(s) > 1 && s.store === "memory") {
    throw new ConfigError({
      message: `setting "workers" (${workerCount(s)} processes) needs the postgres store: with "store": "memory" each process would hold different events. Use store postgres, or workers 1.`
    })
  }
  if (s.defaultLimit > s.maxLimit) {
    throw new ConfigError({ message: `setting "defaultLimit" (${s.defaultLimit}) must not exceed "maxLimit" (${s.maxLimit})` })
  }
  if (s.relaySecretKey !== "" && !/^[0-9a-f]{64}$/.test(s.relaySecretKey)) {
    throw new ConfigError({ message: `setting "relaySecretKey" must be 64 lowercase hex characters` })
  }
  if (s.pubkey !== "" && !/^[0-9a-f]{64}$/.test(s.pubkey)) {
    throw new ConfigError({ message: `setting "pubkey" must be 64 lowercase hex characters` })
  }
  if (s.relayUrl !== "" && !/^wss?:\/\/[^\s]+$/.test(s.relayUrl)) {
    throw new ConfigError({ message: `setting "relayUrl" must be a ws:// or wss:// URL, got ${JSON.stringify(s.relayUrl)}` })
  }
  for (const key of ["databaseUrl", "readDatabaseUrl"] as const) {
    if (s[key] !== "" && !/^postgres(ql)?:\/\//.test(s[key])) throw new ConfigError({ message: `setting "${key}" must be a postgres:// URL` })
  }
  if (s.readDatabaseUrl !== "") {
    if (s.store === "memory") {
      throw new ConfigError({ message: `setting "readDatabaseUrl" (a read replica) needs the postgres store: with "store": "memory" there is no database to read from. Unset it, or use store postgres with databaseUrl.` })
    }
    if (s.databaseUrl === "") {
      throw new ConfigError({
        message: `setting "readDatabaseUrl" (a read replica) needs "databaseUrl" (PARRHESIA_DATABASE_URL or DATABASE_URL): the embedded PostgreSQL has no replicas. Set databaseUrl to the replica's primary, or unset readDatabaseUrl.`
      })
    }
  }
  for (const key of ["adminPubkeys", "bannedPubkeys", "allowedPubkeys", "bannedEvents"] as const) {
    const bad = s[key].find((v) => !/^[0-9a-f]{64}$/.test(v))
    if (bad !== undefined) throw new ConfigError({ message: `setting "${key}" must hold 64 lowercase hex characters per entry, got ${JSON.stringify(bad)}` })
  }
  if ((s.tlsCert === "") !== (s.tlsKey === "")) {
    throw new ConfigError({ message: `settings "tlsCert" and "tlsKey" go together: set both files or neither` })
  }
  for (const key of ["tlsCert", "tlsKey"] as const) {
    if (s[key] === "") continue
    try {
      readFileSync(s[key])
    } catch (e) {
      throw new ConfigError({ message: `setting "${key}": cannot read ${s[key]}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` })
    }
  }
  const upstream = s.mirrorUpstreams.find((u) => !/^wss?:\/\/[^\s]+$/.test(u))
  if (upstream !== undefined) throw new ConfigError({ message: `setting "mirrorUpstreams" must hold ws:// or wss:// URLs, got ${JSON.stringify(upstream)}` })
  if (s.mirrorFilter !== "") {
    let raw: unknown
    try {
      raw = JSON.parse(s.mirrorFilter)
    } catch {
      throw new ConfigError({ message: `setting "mirrorFilter" must be a JSON filter object` })
    }
    const f = parseFilter(raw, { maxFilterValues: s.maxFilterValues, allowSearch: false })
    if ("error" in f) throw new ConfigError({ message: `setting "mirrorFilter": ${f.error}` })
  }
  const streams = parseStreams(s.streams)
  if ("error" in streams) throw new ConfigError({ message: `setting "streams" ${streams.error}` })
  const retention = parseRetention(s.retention)
  if ("error" in retention) throw new ConfigError({ message: `setting "retention": ${retention.error}` })
  for (const key of ["blockedIps", "trustedProxies"] as const) {
    const bad = s[key].find((v) => parseIpRange(v) === undefined)
    if (bad !== undefined) throw new ConfigError({ message: `setting "${key}" must hold IP addresses or CIDR ranges, got ${JSON.stringify(bad)}` })
  }
}

export const loadSettings = (sources: ConfigSources): Effect.Effect<Settings, ConfigError> =>
  Effect.try({
    try: () => {
      const out: Record<string, unknown> = { ...defaults() }
      if (sources.file !== undefined) {
        let text: string
        try {
          text = readFileSync(sources.file, "utf8")
        } catch (e) {
          throw new ConfigError({ message: `cannot read config file ${sources.file}: ${(e as Error).message}` })
        }
        let parsed: unknown
        try {
          parsed = JSON.parse(text)
        } catch (e) {
          throw new ConfigError({ message: `config file ${sources.file} is not valid JSON: ${(e as Error).message}` })
        }
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
          throw new ConfigError({ message: `config file ${sources.file} must hold a JSON object` })
        }
        for (const [k, v] of Object.entries(parsed)) {
          const s = settingOf(k)
          if (s === undefined) throw new ConfigError({ message: `unknown setting "${k}" in config file ${sources.file}` })
          out[k] = coerce(k, s, v, `config file ${sources.file}`)
        }
      }
      const env = sources.env ?? {}
      for (const [k, s] of Object.entries(SETTINGS) as Array<[string, Setting]>) {
        const name = envName(k)
        // An empty variable counts as unset, so an empty PARRHESIA_* does not hide the alias.
        const own = env[name]
        const alias = s.alias !== undefined ? env[s.alias] : undefined
        if (own !== undefined && own !== "") out[k] = coerce(k, s, own, name)
        else if (alias !== undefined && alias !== "") out[k] = coerce(k, s, alias, s.alias!)
      }
      for (const [k, v] of Object.entries(sources.overrides ?? {})) {
        if (v === undefined) continue
        const s = settingOf(k)
        if (s === undefined) throw new ConfigError({ message: `unknown setting "${k}"` })
        out[k] = coerce(k, s, v, "command line")
      }
      const settings = out as unknown as Settings
      crossChecks(settings)
      return settings
    },
    catch: (e) => (e instanceof ConfigError ? e : new ConfigError({ message: String(e) }))
  })

export const layerFromSources = (sources: ConfigSources) => Layer.effect(RelayConfig, loadSettings(sources))
