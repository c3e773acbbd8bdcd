/**
 * Every setting the relay has, in one table: its config-file key, its
 * environment variable, its type, default and bounds, and what it does.
 * The loader, the validation messages and the README's configuration
 * reference all come from this table.
 */

export type SettingType = "int" | "string" | "bool" | "enum" | "list" | "intList"

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
  /** Comma-separated in the environment, a JSON array (or the same string) in the config file. */
  | (SettingBase & { readonly type: "list"; readonly default: ReadonlyArray<string> })
  | (SettingBase & { readonly type: "intList"; readonly default: ReadonlyArray<number>; readonly min: number; readonly max: number })

type IntSetting = Extract<Setting, { type: "int" }>
type StrSetting = Extract<Setting, { type: "string" }>
type BoolSetting = Extract<Setting, { type: "bool" }>
type EnumSetting = Extract<Setting, { type: "enum" }>
type ListSetting = Extract<Setting, { type: "list" }>
type IntListSetting = Extract<Setting, { type: "intList" }>
const int = (def: number, min: number, max: number, doc: string): IntSetting => ({ type: "int", default: def, min, max, doc })
const str = (def: string, doc: string, alias?: string): StrSetting =>
  alias === undefined ? { type: "string", default: def, doc } : { type: "string", default: def, doc, alias }
export const bool = (def: boolean, doc: string): BoolSetting => ({ type: "bool", default: def, doc })
const oneOf = (def: string, values: ReadonlyArray<string>, doc: string): EnumSetting => ({ type: "enum", default: def, values, doc })
const list = (def: ReadonlyArray<string>, doc: string): ListSetting => ({ type: "list", default: def, doc })
const intList = (def: ReadonlyArray<number>, min: number, max: number, doc: string): IntListSetting =>
  ({ type: "intList", default: def, min, max, doc })

const MiB = 1024 * 1024

export const SETTINGS = {
  // ------------------------------------------------------------ server
  host: str("0.0.0.0", "Address to listen on."),
  port: int(7777, 0, 65535, "TCP port for WebSocket and HTTP (0 picks a free port)."),
  tlsCert: str("", "PEM certificate chain file: with tlsKey, the port serves wss:// and https:// (no proxy needed); SIGHUP reloads both files without dropping connections."),
  tlsKey: str("", "PEM private key file for tlsCert."),
  workers: str("1", "Relay processes sharing the port (a number, or `auto`: one per core). More than one needs the postgres store; the first process starts the embedded PostgreSQL and restarts workers that die. Per process: rate-limit buckets, connection counts, /metrics."),
  relayUrl: str("", "Public ws(s):// URL of this relay: the NIP-42 AUTH `relay` tag and the NIP-98 `u` tag must name it. Empty: the Host the client connected to (ws:// or wss://, http(s):// for NIP-98)."),
  // ------------------------------------------------------------ NIP-11 identity
  name: str("parrhesia", "NIP-11 name."),
  description: str("A Nostr relay on Effect.", "NIP-11 description."),
  pubkey: str("", "NIP-11 administrative contact pubkey (64 hex)."),
  contact: str("", "NIP-11 alternative contact URI."),
  icon: str("", "NIP-11 icon URL."),
  // ------------------------------------------------------------ storage
  store: oneOf("postgres", ["postgres", "memory"], "Event store: postgres (embedded unless databaseUrl is set) or memory (nothing survives a restart)."),
  databaseUrl: str("", "External PostgreSQL (15+) URL; empty starts the embedded PostgreSQL.", "DATABASE_URL"),
  readDatabaseUrl: str("", "A streaming replica of databaseUrl for REQ, COUNT and NIP-77 reads (the read pool); writes, deletions, management and LISTEN/NOTIFY stay on databaseUrl. Needs databaseUrl. Replica lag: a REQ right after an OK may miss the event (see parrhesia_replica_lag_seconds)."),
  dataDir: str("./data", "Folder of the embedded PostgreSQL data."),
  embeddedPgPort: int(0, 0, 65535, "Port of the embedded PostgreSQL (0 picks a free port)."),
  ingestPoolSize: int(4, 1, 200, "Postgres connections for event writes."),
  readPoolSize: int(8, 1, 200, "Postgres connections for REQ/COUNT reads."),
  adminPoolSize: int(2, 1, 50, "Postgres connections for maintenance and management."),
  writeBatchSize: int(200, 1, 10000, "Most events committed in one group-commit transaction."),
  writeBatchWaitMs: int(2, 0, 1000, "How long the writer waits to fill a batch after the first event arrives."),
  queryTimeoutMs: int(5000, 10, 600000, "Time limit of one REQ/COUNT query; past it the REQ gets CLOSED \"error: ...\"."),
  partitionMonths: int(1, 1, 12, "Months per events partition."),
  warmUpMessages: int(2000, 0, 100000, "JIT warm-up before the port opens: this many REQs (the common shapes, answered and framed, nothing sent) and as many badly signed EVENTs (refused after the signature check, nothing stored) run in-process, so the first clients after a start meet optimized code (0: off)."),
  hotWindowBytes: int(128 * MiB, 0, 2 ** 40, "Memory (estimated bytes) for the hot window: the newest stored events kept in each relay process, indexed, answering the REQs and COUNTs whose answer lies inside it without asking PostgreSQL; filled from the store at start, then from every process's commits (0: off). The default holds ~140,000 short notes; on a machine with under 2 GB of memory, or with many workers (each holds its own), 32 MiB."),
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
  maxSubscriptionBytesPerConnection: int(8 * MiB, 0, 2 ** 40, "Estimated bytes the live subscriptions of one connection may hold: 1024 a subscription, 384 a filter, 80 plus its length a filter value (144 an author or id); a REQ past it gets CLOSED \"blocked: ...\" before it is indexed or queried. The default holds about 58,000 authors (0: no limit)."),
  maxSubscriptionBytesPerIp: int(64 * MiB, 0, 2 ** 40, "Estimated bytes (as maxSubscriptionBytesPerConnection) the live subscriptions of all connections from one client IP may hold together; a REQ past it gets CLOSED \"blocked: ...\" (0: no limit)."),
  pingIntervalSeconds: int(30, 0, 3600, "WebSocket ping interval; a client that misses two pongs is disconnected (0: off)."),
  idleTimeoutSeconds: int(600, 0, 86400, "Connections with no open subscription and no message for this long are closed (0: never)."),
  shutdownGraceMs: int(5000, 0, 600000, "How long shutdown waits for in-flight writes."),
  // ------------------------------------------------------------ access control (NIP-42, NIP-70, NIP-13)
  authRequired: oneOf("none", ["none", "writes", "reads", "all"], "Which messages need NIP-42 AUTH first: none (only where a rule asks for it), writes (EVENT), reads (REQ, COUNT), all."),
  restrictedReadKinds: intList([4, 1059], 0, 65535, "Kinds served only to a connection authenticated as the event's author or a `p`-tagged pubkey (DMs, gift wraps); empty: none."),
  giftWrapAuth: bool(false, "NIP-59 spam protection: gift wraps (kind 1059) are accepted only from connections that did AUTH (as anyone)."),
  giftWrapMinPow: int(0, 0, 256, "NIP-59 spam protection: least proof of work (NIP-13) for gift wraps (0: off)."),
  minPowDifficulty: int(0, 0, 256, "NIP-13: least proof-of-work (leading zero bits of the id, with a committed target at least as high) for EVENTs (0: off)."),
  // ------------------------------------------------------------ write policy (plugins and modules)
  writePolicyPlugin: str("", "A write-policy plugin in strfry's protocol: a command the relay starts once and asks about every event (client EVENTs, mirrored, synced and imported ones) after its own checks, before storage; one JSON line per event on its stdin, one answer line (accept, reject, shadowReject) on its stdout; stderr goes to the log. Without spaces it is a script path, reloaded when the file's modification time changes; with spaces it runs through /bin/sh -c. Restarted with backoff when it exits. One per relay process. Empty: none."),
  writePolicyPluginTimeoutMs: int(5000, 10, 600000, "With writePolicyPlugin: how long one event may wait for its answer (including a free slot); past it writePolicyPluginFailure decides."),
  writePolicyPluginMaxInFlight: int(1000, 1, 1000000, "With writePolicyPlugin: most events sent to the plugin and not yet answered; more wait for a slot."),
  writePolicyPluginFailure: oneOf("reject", ["reject", "accept"], "With writePolicyPlugin: the answer when the plugin does not give one (timeout, not running, exited holding the event): reject (OK false \"error: ...\") or accept."),
  policyModules: list([], "Policy modules in TypeScript or JavaScript (file paths, relative to the working folder): each default-exports a list of checks run after the built-in ones, write checks on every EVENT, read checks on the filters of every REQ, COUNT and NEG-OPEN. Loaded at start; a module that fails to load stops start-up."),
  // ------------------------------------------------------------ NIPs
  search: bool(true, "NIP-50 search: filters with `search` (all words, whole words, any language; `domain:` honoured) answered by relevance."),
  relaySecretKey: str("", "The relay's own key (64 hex) for what it signs (NIP-43 lists, NIP-29 group state, NIP-66 self-description); empty: generated once into <dataDir>/relay.key (memory store: a new one per start)."),
  publishSelfDescription: bool(false, "NIP-66: the relay signs and stores a kind 30166 event describing itself (NIP-11 facts, measured round-trip times), refreshed every selfDescriptionIntervalSeconds."),
  selfDescriptionIntervalSeconds: int(3600, 60, 86400 * 7, "How often the NIP-66 self-description is refreshed."),
  negentropy: bool(true, "NIP-77 negentropy sync (NEG-OPEN / NEG-MSG / NEG-CLOSE)."),
  negentropyMaxRecords: int(1_000_000, 1, 100_000_000, "Most records one NEG-OPEN may reconcile; more gets NEG-ERR \"blocked:\"."),
  negentropyMaxSessions: int(8, 1, 1000, "Open negentropy sessions per connection."),
  negentropyMaxTotalSessions: int(500, 1, 100000, "Open negentropy sessions on the whole relay."),
  negentropyMaxTotalRecords: int(10_000_000, 1, 1_000_000_000, "Records all open negentropy sessions may hold together (about 40 bytes each); past it NEG-OPEN gets NEG-ERR \"blocked:\"."),
  negentropyIdleSeconds: int(60, 5, 3600, "A negentropy session without a message for this long is closed with NEG-ERR \"closed:\"."),
  mirrorUpstreams: list([], "Relays (ws:// or wss://) to mirror: a live subscription to each stores what arrives (validated like any EVENT), with a NIP-77 catch-up after every reconnect; empty: no mirroring."),
  mirrorFilter: str("", "With mirrorUpstreams: the NIP-01 filter (JSON) of what to mirror, e.g. {\"kinds\":[0,1]}; empty: everything."),
  mirrorCatchupSeconds: int(86400, 0, 100 * 365 * 86400, "With mirrorUpstreams: how far back the catch-up after the first connect looks (later ones cover the time the upstream was away)."),
  streams: str("", "Streams to and from other relays: a JSON list of {\"url\", \"direction\" (down, up or both), \"filter\", \"authKey\"}. down stores what the remote publishes (as mirrorUpstreams does), up sends the remote every event this relay accepts (stored or ephemeral, matching the filter, not one that came from that remote), both does both. Each stream's position is stored; after a disconnect or a restart a NIP-77 catch-up (REQ windows without NIP-77) runs from it both ways. authKey: the secret key (hex) for the remote's AUTH (default: the relay's own). More can be added at run time (NIP-86 addstream). Empty: none."),
  streamCatchupSeconds: int(86400, 0, 100 * 365 * 86400, "With streams: how far back a stream's first catch-up looks (it has no stored position yet); later ones start at its stored position."),
  nip43: bool(false, "NIP-43 relay membership: join with an invite code (28934), leave (28936), invites (28935) for members, member list and add/remove events signed by the relay."),
  membersOnly: oneOf("off", ["off", "writes", "all"], "With nip43: writes (and with `all` reads too) only from members (reads need AUTH as a member)."),
  inviteTtlSeconds: int(7 * 86400, 60, 365 * 86400, "How long a NIP-43 invite code stays valid (each is claimed once)."),
  nipEE: bool(false, "NIP-EE MLS messaging: accept KeyPackages (443), group messages (445, kept for mlsMessageRetentionSeconds) and KeyPackage relay lists (10051); off: those kinds are refused."),
  mlsMessageRetentionSeconds: int(7 * 86400, 60, 10 * 365 * 86400, "With nipEE: how long MLS group messages (kind 445) are kept, unless a `retention` rule names kind 445."),
  // ------------------------------------------------------------ NIP-29 relay-based groups
  groups: bool(true, "NIP-29 relay-based groups: `h`-tagged events of a managed group follow its rules (restricted, private, closed, hidden), moderation events 9000-9020 from members whose role permits them, join (9021) and leave (9022) requests, and the group's 39000-39003 and 39005 signed by the relay (NIP-11 `self`)."),
  groupCreation: oneOf("anyone", ["anyone", "members", "admins", "off"], "Who may create a group with kind 9007, authenticated (NIP-42) as its author: anyone, members (NIP-43 members of the relay), admins (adminPubkeys) or off. The creator becomes the group's admin."),
  groupsUnmanaged: bool(false, "Accept `h`-tagged events naming no managed group (as plain events, no group rules); off: they are refused with `invalid:`."),
  groupsLatePublicationSeconds: int(900, 0, 10 * 365 * 86400, "NIP-29 late publication: events of a managed group dated more than this many seconds ago are refused (0: accepted, e.g. while a forked or moved group's history is brought in)."),
  groupsMinPrevious: int(0, 0, 50, "NIP-29 timeline references: least `previous` references an event of a group must carry (fewer when the group has fewer recent events by others); references to unknown events are refused whatever this is."),
  // ------------------------------------------------------------ moderation (static; NIP-86 adds to these at run time)
  adminPubkeys: list([], "Pubkeys (hex) allowed to use the NIP-86 management API (NIP-98 authorization); empty: the API is off."),
  bannedPubkeys: list([], "Pubkeys (hex) whose events are refused and no longer served."),
  allowedPubkeys: list([], "Allow-list mode when non-empty: only these pubkeys (hex) may publish (plus those allowed through NIP-86)."),
  allowListReads: bool(false, "With an allow-list, reading also needs AUTH as an allowed pubkey."),
  bannedEvents: list([], "Event ids (hex) refused and no longer served."),
  allowedKinds: intList([], 0, 65535, "When non-empty, only these kinds are accepted (plus those allowed through NIP-86)."),
  disallowedKinds: intList([], 0, 65535, "Kinds refused."),
  blockedIps: list([], "IP addresses or CIDR ranges refused at the WebSocket upgrade."),
  // ------------------------------------------------------------ rate limits (token buckets; 0: off)
  eventsPerSecondPerConnection: int(1000, 0, 1000000, "EVENTs per second one connection may send (sustained)."),
  eventsPerSecondPerIp: int(10000, 0, 10000000, "EVENTs per second from one client IP (all its connections)."),
  eventsPerSecondPerPubkey: int(1000, 0, 1000000, "EVENTs per second from one authenticated pubkey (across connections)."),
  readsPerSecondPerConnection: int(500, 0, 1000000, "REQs + COUNTs per second one connection may send (sustained)."),
  readsPerSecondPerIp: int(5000, 0, 10000000, "REQs + COUNTs per second from one client IP."),
  readsPerSecondPerPubkey: int(500, 0, 1000000, "REQs + COUNTs per second from one authenticated pubkey."),
  rateLimitBurstSeconds: int(10, 1, 3600, "Bucket size in seconds of its rate: how long a client may burst above the sustained rate."),
  rateLimitDisconnectAfter: int(100, 0, 1000000, "Refusals in a row (rate-limited) after which the connection is closed (0: never)."),
  maxConnectionsPerIp: int(10000, 0, 10000000, "Open WebSocket connections from one client IP (0: no cap)."),
  trustedProxies: list([], "Direct peers (IP or CIDR) whose X-Forwarded-For / X-Real-IP header names the client IP (your reverse proxy)."),
  // ------------------------------------------------------------ retention
  retention: str("", "Age limits by kind, applied by maintenance: comma-separated `KINDS=AGE` rules, KINDS a kind, a range `A-B` or `default`, AGE like `30d`, `12h`, `3600s` or `never` (e.g. `1=30d,7=30d,30000-39999=never,default=365d`); the first matching rule wins; empty keeps everything."),
  // ------------------------------------------------------------ signatures
  signatureVerifier: oneOf("auto", ["auto", "workers", "noble"], "BIP-340 checks: workers (native libsecp256k1 in worker threads), noble (pure JS on the main thread), auto (workers when available)."),
  verifierThreads: int(1, 1, 64, "Worker threads for signature checks."),
  // ------------------------------------------------------------ logging
  logLevel: oneOf("info", ["trace", "debug", "info", "warn", "error", "none"], "Minimum log level."),
  logFormat: oneOf("text", ["text", "json"], "Log format: one readable key=value line per entry, or JSON lines.")
} as const satisfies Record<string, Setting>

export type SettingKey = keyof typeof SETTINGS

type ValueOf<S> = S extends { type: "int" }
  ? number
  : S extends { type: "bool" }
    ? boolean
    : S extends { type: "list" }
      ? ReadonlyArray<string>
      : S extends { type: "intList" }
        ? ReadonlyArray<number>
        : string
export type Settings = { readonly [K in SettingKey]: ValueOf<(typeof SETTINGS)[K]> }

/** camelCase key -> PARRHESIA_UPPER_SNAKE */
export const envName = (key: string): string => "PARRHESIA_" + key.replace(/([A-Z])/g, "_$1").toUpperCase()
