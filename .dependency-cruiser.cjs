// The import rules of src/, kept by a tool rather than by memory (issue 15, item 4).
// `npm test` runs them (scripts/check-deps.sh); test/deps/rules.test.ts shows that each one
// fails on a deliberately broken import. Every rule is about what must never be; each says why.
//
// Paths are folder patterns, so a file added to a folder (e.g. the pieces of storage/postgres/)
// is covered without editing this file. A new top-level folder of src/ must be given a layer
// below (rule `every-module-has-a-layer`).

/** The wiring: the only files that pick adapters and assemble the relay. */
const ENTRY = ["^src/app\\.ts$", "^src/main\\.ts$"]
/** The storage wiring (storeFromConfig, Stores): the one place that chooses a store adapter. */
const STORE_WIRING = "^src/storage/layer\\.ts$"

// Layers, bottom first. A module may import its own layer and the layers below it, never one
// above: the lower layer would then know about (and be started with) everything the higher one
// needs. The order is the one the code has (derived from `depcruise src` before the rules were
// written). The paths of the layers are disjoint; the lookaheads carve single files out of a
// folder that otherwise sits higher up.
const LAYERS = [
  {
    name: "base",
    why: "protocol types, IP parsing, small data structures (lib/) and the version string: everything stands on them, they stand on nothing",
    path: ["^src/version\\.ts$", "^src/nostr/", "^src/net/", "^src/lib/"],
  },
  {
    name: "config-observability",
    why: "settings and metrics/tracing are read by every service; they know no service",
    path: ["^src/config/", "^src/observability/"],
  },
  {
    name: "ports-engines",
    why: "the ports (EventStore, ModerationStore, Maintenance, ClusterBus), the worker supervisor, the negentropy engine and the signature verifier: the contracts and the pure engines the services are built on",
    path: [
      "^src/storage/(?!layer\\.ts$)[^/]+$",
      // the hot window's pieces (storage/HotWindow.ts is its front; withHotWindow.ts the decorator)
      "^src/storage/hotWindow/",
      "^src/cluster/",
      "^src/negentropy/",
      // signature checks: an engine that the write pipeline and auth/ (NIP-42, NIP-98) both use
      "^src/verify/",
    ],
  },
  {
    name: "store-adapters",
    why: "the memory and PostgreSQL adapters and the storage wiring implement the ports; nothing of the relay above",
    path: ["^src/storage/memory/", "^src/storage/postgres/", STORE_WIRING],
  },
  {
    name: "services",
    why: "moderation lists, subscriptions and fanout, auth sessions, policy, membership and groups: the state and checks the pipelines consult",
    path: ["^src/moderation/", "^src/subscriptions/", "^src/auth/", "^src/policy/", "^src/membership/", "^src/groups/"],
  },
  {
    name: "pipelines",
    why: "the write (ingest) and read (query) pipelines compose the services; they know no protocol edge",
    path: ["^src/ingest/", "^src/query/"],
  },
  {
    name: "http",
    why: "NIP-11, NIP-86, /metrics, the status page: HTTP answers that the socket edge serves on its port",
    path: ["^src/http/"],
  },
  {
    name: "relay-edge",
    why: "the server, a Connection per socket and the handlers: the only place that knows the client sockets",
    path: ["^src/relay/"],
  },
  {
    name: "edge-features",
    why: "self-description (NIP-66) and the client side (RelayPool, mirror, sync, doctor, admin, bench) use the relay from outside",
    path: ["^src/discovery/", "^src/client/"],
  },
  {
    name: "entry",
    why: "app.ts wires the layers, main.ts is the CLI; nothing imports them (but main imports app)",
    path: ENTRY,
  },
]

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer.name}-imports-nothing-above`,
  comment: `Layer ${i} (${layer.name}: ${layer.why}) must not import a higher layer (${LAYERS.slice(i + 1)
    .map((l) => l.name)
    .join(", ")}).`,
  severity: "error",
  from: { path: layer.path },
  to: { path: LAYERS.slice(i + 1).flatMap((l) => l.path) },
}))

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment:
        "An import circle makes the modules one unit: none can be understood, tested or loaded first on its own, " +
        "and with ESM a circle can leave a binding undefined at start-up. Type-only imports count too: a circle of types is the same knot.",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "nostr-is-pure",
      comment:
        "src/nostr/ is the protocol (events, filters, messages, signatures): pure functions other projects and every layer can use. " +
        "It imports nothing else from src/, and of the packages only effect and @noble (node builtins are fine).",
      severity: "error",
      from: { path: "^src/nostr/" },
      to: { path: ["^src/(?!nostr/)", "(^|/)node_modules/(?!(@noble/|effect/))"] },
    },
    {
      name: "stores-know-no-sockets",
      comment:
        "Storage (the ports and the adapters) keeps events and lists; it must not know the edge (relay/, http/, ws, node:http) " +
        "nor the pipelines that call it (ingest/, query/). Otherwise a store cannot be used by the CLI, the tests or a worker alone.",
      severity: "error",
      from: { path: "^src/storage/" },
      to: {
        path: [
          "^src/(relay|http|ingest|query)/",
          "(^|/)node_modules/ws/",
          "^(node:)?https?$",
        ],
      },
    },
    {
      name: "ports-import-no-adapters",
      comment:
        "The ports (storage/*.ts, cluster/ClusterBus.ts) and everything built on them know the interface, not PostgreSQL or the " +
        "in-memory store; only the wiring (storage/layer.ts, app.ts, main.ts) chooses an adapter, so tests and other stores can swap it.",
      severity: "error",
      from: { pathNot: ["^src/storage/(memory|postgres)/", STORE_WIRING, ...ENTRY] },
      to: { path: "^src/storage/(memory|postgres)/" },
    },
    {
      name: "adapters-import-no-other-adapter",
      comment:
        "An adapter implements the port on its own: the memory store does not borrow from PostgreSQL nor the reverse, " +
        "so either can be changed or removed alone.",
      severity: "error",
      from: { path: "^src/storage/(memory|postgres)/" },
      to: { path: "^src/storage/(memory|postgres)/", pathNot: "^src/storage/$1/" },
    },
    {
      name: "store-wiring-only-from-entry",
      comment:
        "storage/layer.ts builds the chosen adapter (and its pool, migrations, listener); a service importing it would " +
        "pull in every adapter. Services take the ports from the context instead.",
      severity: "error",
      from: { pathNot: [STORE_WIRING, ...ENTRY] },
      to: { path: STORE_WIRING },
    },
    ...layerRules,
    {
      name: "every-module-has-a-layer",
      comment:
        "A module outside every layer of .dependency-cruiser.cjs would escape the layer rules: give a new folder its layer.",
      severity: "error",
      // a "dependents" rule, so it flags the module itself, whether or not it imports anything
      // (the schema caps the count at 100: a module of src/ with 100 importers is out of sight)
      module: { path: "^src/", pathNot: LAYERS.flatMap((l) => l.path), numberOfDependentsLessThan: 100 },
      from: {},
    },
    {
      name: "src-imports-no-tests-or-scripts",
      comment: "The relay ships src/ alone: test/ and scripts/ may import src/, never the reverse.",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(test|scripts)/" },
    },
    {
      name: "src-imports-no-dev-dependencies",
      comment:
        "A production install (npm ci --omit=dev) has no devDependencies: an import of one from src/ fails only there.",
      severity: "error",
      from: { path: "^src/" },
      to: { dependencyTypes: ["npm-dev"] },
    },
    {
      name: "no-orphans",
      comment: "A module that imports nothing and that nothing imports is dead code (or a forgotten entry point).",
      severity: "error",
      from: { orphan: true, path: "^src/" },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: ["node_modules"] },
    // type-only imports are architecture too (a type from relay/ in storage/ is still knowledge of relay/)
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
  },
}
