/**
 * Every setting the relay has, in one table: its config-file key, its
 * environment variable, its type, default and bounds, and what it does.
 * The loader, the validation messages and the README's configuration
 * reference all come from this table.
 */

export type SettingType = "int" | "string" | "bool" | "enum" | "intList"

interface SettingBase {
  readonly doc: string
  /** Extra environment variable honoured for this setting (e.g. DATABASE_URL). */
  readonly alias?: string
}
export type Setting =
  | (SettingBase & { readonly type: "int"; readonly default: number; readonly min: number; readonly max: number })
  | (SettingBase & { readonly type: "string"; readonly default: string })
  | (SettingBase & { readonly type: "bool"; readonly default: boolean })
  | (SettingBase & { readonly type: "enum"; readonly default: string; readonly values: ReadonlyArray<string> })

type IntSetting = Extract<Setting, { type: "int" }>
type StrSetting = Extract<Setting, { type: "string" }>
type BoolSetting = Extract<Setting, { type: "bool" }>
type EnumSetting = Extract<Setting, { type: "enum" }>
const int = (def: number, min: number, max: number, doc: string): IntSetting => ({ type: "int", default: def, min, max, doc })
const str = (def: string, doc: string, alias?: string): StrSetting =>
  alias === undefined ? { type: "string", default: def, doc } : { type: "string", default: def, doc, alias }
export const bool = (def: boolean, doc: string): BoolSetting => ({ type: "bool", default: def, doc })
const oneOf = (def: string, values: ReadonlyArray<string>, doc: string): EnumSetting => ({ type: "enum", default: def, values, doc })

const MiB = 1024 * 1024

export const SETTINGS = {
  // ------------------------------------------------------------ server
  host: str("0.0.0.0", "Address to listen on."),
  port: int(7777, 0, 65535, "TCP port for WebSocket and HTTP (0 picks a free port)."),
  relayUrl: str("", "Public ws(s):// URL of this relay (NIP-42 AUTH relay tag). Defaults to ws://host:port."),
  // ------------------------------------------------------------ NIP-11 identity
  name: str("parrhesia", "NIP-11 name."),
  description: str("A Nostr relay on Effect.", "NIP-11 description."),
  pubkey: str("", "NIP-11 administrative contact pubkey (64 hex)."),
  contact: str("", "NIP-11 alternative contact URI."),
  icon: str("", "NIP-11 icon URL."),
  // ------------------------------------------------------------ storage
  store: oneOf("postgres", ["postgres", "memory"], "Event store: postgres (embedded unless databaseUrl is set) or memory (nothing survives a restart)."),
  databaseUrl: str("", "External PostgreSQL (15+) URL; empty starts the embedded PostgreSQL.", "DATABASE_URL"),
  dataDir: str("./data", "Folder of the embedded PostgreSQL data."),
  embeddedPgPort: int(0, 0, 65535, "Port of the embedded PostgreSQL (0 picks a free port)."),
  ingestPoolSize: int(4, 1, 200, "Postgres connections for event writes."),
  readPoolSize: int(8, 1, 200, "Postgres connections for REQ/COUNT reads."),
  adminPoolSize: int(2, 1, 50, "Postgres connections for maintenance and management."),
  writeBatchSize: int(200, 1, 10000, "Most events committed in one group-commit transaction."),
  writeBatchWaitMs: int(2, 0, 1000, "How long the writer waits to fill a batch after the first event arrives."),
  queryTimeoutMs: int(5000, 10, 600000, "Time limit of one REQ/COUNT query; past it the REQ gets CLOSED \"error: ...\"."),
  partitionMonths: int(1, 1, 12, "Months per events partition."),
  // ------------------------------------------------------------ limits (advertised in NIP-11)
  maxMessageBytes: int(256 * 1024, 1024, 64 * MiB, "Largest WebSocket message accepted; larger frames are refused before they are buffered whole."),
  maxSubscriptions: int(50, 1, 100000, "Most open subscriptions per connection."),
  maxFilters: int(20, 1, 1000, "Most filters in one REQ or COUNT."),
  maxFilterValues: int(1000, 1, 100000, "Most values in one filter list (ids, authors, kinds, #tag)."),
  maxLimit: int(5000, 1, 1000000, "Largest `limit` honoured; larger ones are clamped."),
  defaultLimit: int(500, 1, 1000000, "`limit` used for filters that have none."),
  maxSubidLength: int(64, 1, 1024, "Longest subscription id."),
  maxEventTags: int(2000, 1, 1000000, "Most tags in one event."),
  maxContentLength: int(256 * 1024, 0, 64 * MiB, "Longest event content, in characters."),
  createdAtLowerLimit: int(0, 0, 2 ** 31, "Oldest created_at accepted, in seconds before now (0: no limit)."),
  createdAtUpperLimit: int(900, 0, 2 ** 31, "Furthest created_at in the future accepted, in seconds after now."),
  // ------------------------------------------------------------ connections
  outboundQueueSize: int(10000, 16, 10000000, "Frames queued for one connection; a client that does not read past this is disconnected with a NOTICE."),
  maxPendingMessages: int(256, 1, 100000, "Client messages processed concurrently per connection before reading pauses."),
  pingIntervalSeconds: int(30, 0, 3600, "WebSocket ping interval; a client that misses two pongs is disconnected (0: off)."),
  idleTimeoutSeconds: int(600, 0, 86400, "Connections with no open subscription and no message for this long are closed (0: never)."),
  shutdownGraceMs: int(5000, 0, 600000, "How long shutdown waits for in-flight writes."),
  // ------------------------------------------------------------ signatures
  signatureVerifier: oneOf("auto", ["auto", "workers", "noble"], "BIP-340 checks: workers (native libsecp256k1 in worker threads), noble (pure JS on the main thread), auto (workers when available)."),
  verifierThreads: int(1, 1, 64, "Worker threads for signature checks."),
  // ------------------------------------------------------------ logging
  logLevel: oneOf("info", ["trace", "debug", "info", "warn", "error", "none"], "Minimum log level."),
  logFormat: oneOf("text", ["text", "json"], "Log format: one readable key=value line per entry, or JSON lines.")
} as const satisfies Record<string, Setting>

export type SettingKey = keyof typeof SETTINGS

type ValueOf<S> = S extends { type: "int" } ? number : S extends { type: "bool" } ? boolean : string
export type Settings = { readonly [K in SettingKey]: ValueOf<(typeof SETTINGS)[K]> }

/** camelCase key -> PARRHESIA_UPPER_SNAKE */
export const envName = (key: string): string => "PARRHESIA_" + key.replace(/([A-Z])/g, "_$1").toUpperCase()
