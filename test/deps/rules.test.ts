/**
 * The import rules of .dependency-cruiser.cjs bite: each one, run through dependency-cruiser's API over a
 * small tree that mimics src/ (in a temp folder), passes the clean tree and fails on one deliberately
 * broken import, naming that import. The real src/ is checked by scripts/check-deps.sh in `npm test`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { cruise, type ICruiseResult, type IViolation } from "dependency-cruiser"
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const configPath = fileURLToPath(new URL("../../.dependency-cruiser.cjs", import.meta.url))
const ruleNames: ReadonlyArray<string> = (
  createRequire(import.meta.url)(configPath) as { forbidden: ReadonlyArray<{ name: string }> }
).forbidden.map((r) => r.name)

/** File -> the modules it imports (side-effect imports are enough for the cruiser). */
type Tree = Record<string, ReadonlyArray<string>>

/** A legal miniature of src/: every layer, both adapters, the wiring; each file imports or is imported. */
const clean: Tree = {
  "src/version.ts": [],
  "src/nostr/event.ts": ["node:crypto", "@noble/hashes/utils.js", "effect"],
  "src/net/ip.ts": ["node:net"],
  "src/config/RelayConfig.ts": ["../nostr/event.ts", "../net/ip.ts"],
  "src/observability/metrics.ts": ["../version.ts", "effect"],
  "src/storage/EventStore.ts": ["../nostr/event.ts", "../config/RelayConfig.ts"],
  "src/cluster/ClusterBus.ts": ["../nostr/event.ts"],
  "src/negentropy/engine.ts": ["node:crypto"],
  "src/verify/SignatureVerifier.ts": ["../nostr/event.ts", "./pool.ts"],
  "src/verify/pool.ts": ["node:worker_threads"],
  "src/storage/memory/MemoryEventStore.ts": ["../EventStore.ts"],
  "src/storage/postgres/PostgresEventStore.ts": ["../EventStore.ts", "../../cluster/ClusterBus.ts", "./sql.ts"],
  "src/storage/postgres/sql.ts": ["../../observability/metrics.ts"],
  "src/storage/layer.ts": ["./memory/MemoryEventStore.ts", "./postgres/PostgresEventStore.ts"],
  "src/moderation/Moderation.ts": ["../storage/EventStore.ts"],
  "src/subscriptions/Fanout.ts": ["../cluster/ClusterBus.ts"],
  "src/auth/AuthSessions.ts": ["../verify/SignatureVerifier.ts"],
  "src/policy/Policy.ts": ["../moderation/Moderation.ts"],
  "src/membership/Membership.ts": ["../auth/AuthSessions.ts", "../subscriptions/Fanout.ts"],
  "src/ingest/Ingest.ts": ["../storage/EventStore.ts", "../policy/Policy.ts", "../membership/Membership.ts"],
  "src/query/Query.ts": ["../storage/EventStore.ts", "../policy/Policy.ts"],
  "src/http/routes.ts": ["../observability/metrics.ts", "node:http"],
  "src/relay/server.ts": ["../ingest/Ingest.ts", "../query/Query.ts", "../http/routes.ts", "ws"],
  "src/discovery/SelfDescription.ts": ["../relay/server.ts"],
  "src/client/RelayPool.ts": ["ws", "../negentropy/engine.ts"],
  "src/app.ts": ["./relay/server.ts", "./storage/layer.ts", "./discovery/SelfDescription.ts"],
  "src/main.ts": ["./app.ts", "./client/RelayPool.ts", "./storage/postgres/PostgresEventStore.ts"],
  "test/support/events.ts": []
}

let root: string
let n = 0

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "parrhesia-deps-"))
})
afterAll(() => {
  rmSync(root, { recursive: true, force: true })
})

const write = (path: string, text: string) => {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, text)
}

/** Writes the clean tree plus `extra` into a fresh folder and cruises its src/ with the project's rules. */
const check = async (extra: Tree): Promise<ReadonlyArray<IViolation>> => {
  const dir = join(root, `t${n++}`)
  const tree: Tree = { ...clean, ...extra }
  for (const [file, imports] of Object.entries(tree)) {
    write(join(dir, file), imports.map((i) => `import ${JSON.stringify(i)}\n`).join("") + "export {}\n")
  }
  write(
    join(dir, "package.json"),
    JSON.stringify({
      name: "fixture",
      type: "module",
      dependencies: { effect: "*", ws: "*", "@noble/hashes": "*" },
      devDependencies: { vitest: "*" }
    })
  )
  for (const [pkg, main] of [["effect", "index.js"], ["ws", "wrapper.mjs"], ["@noble/hashes", "utils.js"], ["vitest", "index.js"]] as const) {
    write(join(dir, "node_modules", pkg, "package.json"), JSON.stringify({ name: pkg, main }))
    write(join(dir, "node_modules", pkg, main), "export {}\n")
  }
  const options = await extractDepcruiseOptions(configPath)
  const result = await cruise(["src"], { ...options, baseDir: dir })
  return (result.output as ICruiseResult).summary.violations
}

const show = (vs: ReadonlyArray<IViolation>) => vs.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)

/** A deliberately broken import: `from` (a new or changed file) imports `to`; `rule` must name it. */
interface Case {
  readonly rule: string
  readonly what: string
  readonly from: string
  readonly imports: string
  /** The resolved target as dependency-cruiser names it (the import, resolved from src/). */
  readonly to: string
}

const cases: ReadonlyArray<Case> = [
  { rule: "no-circular", what: "a <-> b", from: "src/query/a.ts", imports: "./b.ts", to: "src/query/b.ts" },
  { rule: "nostr-is-pure", what: "nostr/ imports relay/", from: "src/nostr/bad.ts", imports: "../relay/server.ts", to: "src/relay/server.ts" },
  { rule: "nostr-is-pure", what: "nostr/ imports config/", from: "src/nostr/bad.ts", imports: "../config/RelayConfig.ts", to: "src/config/RelayConfig.ts" },
  { rule: "nostr-is-pure", what: "nostr/ imports ws", from: "src/nostr/bad.ts", imports: "ws", to: "node_modules/ws/wrapper.mjs" },
  { rule: "stores-know-no-sockets", what: "a postgres file imports http/", from: "src/storage/postgres/bad.ts", imports: "../../http/routes.ts", to: "src/http/routes.ts" },
  { rule: "stores-know-no-sockets", what: "a port imports ingest/", from: "src/storage/bad.ts", imports: "../ingest/Ingest.ts", to: "src/ingest/Ingest.ts" },
  { rule: "stores-know-no-sockets", what: "the memory store imports ws", from: "src/storage/memory/bad.ts", imports: "ws", to: "node_modules/ws/wrapper.mjs" },
  { rule: "stores-know-no-sockets", what: "a store imports node:http", from: "src/storage/bad.ts", imports: "node:http", to: "http" },
  { rule: "ports-import-no-adapters", what: "the cluster port imports storage/postgres/", from: "src/cluster/bad.ts", imports: "../storage/postgres/sql.ts", to: "src/storage/postgres/sql.ts" },
  { rule: "ports-import-no-adapters", what: "query/ imports storage/memory/", from: "src/query/bad.ts", imports: "../storage/memory/MemoryEventStore.ts", to: "src/storage/memory/MemoryEventStore.ts" },
  { rule: "adapters-import-no-other-adapter", what: "memory imports postgres", from: "src/storage/memory/bad.ts", imports: "../postgres/sql.ts", to: "src/storage/postgres/sql.ts" },
  { rule: "store-wiring-only-from-entry", what: "a service imports storage/layer.ts", from: "src/query/bad.ts", imports: "../storage/layer.ts", to: "src/storage/layer.ts" },
  // each layer importing the one above it
  { rule: "layer-base-imports-nothing-above", what: "net/ imports config/", from: "src/net/bad.ts", imports: "../config/RelayConfig.ts", to: "src/config/RelayConfig.ts" },
  { rule: "layer-config-observability-imports-nothing-above", what: "observability/ imports a port", from: "src/observability/bad.ts", imports: "../storage/EventStore.ts", to: "src/storage/EventStore.ts" },
  { rule: "layer-ports-engines-imports-nothing-above", what: "the signature verifier imports subscriptions/", from: "src/verify/bad.ts", imports: "../subscriptions/Fanout.ts", to: "src/subscriptions/Fanout.ts" },
  { rule: "layer-ports-engines-imports-nothing-above", what: "a port imports the storage wiring", from: "src/storage/bad.ts", imports: "./layer.ts", to: "src/storage/layer.ts" },
  { rule: "layer-store-adapters-imports-nothing-above", what: "postgres imports subscriptions/", from: "src/storage/postgres/bad.ts", imports: "../../subscriptions/Fanout.ts", to: "src/subscriptions/Fanout.ts" },
  { rule: "layer-services-imports-nothing-above", what: "policy/ imports query/", from: "src/policy/bad.ts", imports: "../query/Query.ts", to: "src/query/Query.ts" },
  { rule: "layer-pipelines-imports-nothing-above", what: "ingest/ imports http/", from: "src/ingest/bad.ts", imports: "../http/routes.ts", to: "src/http/routes.ts" },
  { rule: "layer-http-imports-nothing-above", what: "http/ imports relay/", from: "src/http/bad.ts", imports: "../relay/server.ts", to: "src/relay/server.ts" },
  { rule: "layer-relay-edge-imports-nothing-above", what: "relay/ imports client/", from: "src/relay/bad.ts", imports: "../client/RelayPool.ts", to: "src/client/RelayPool.ts" },
  { rule: "layer-edge-features-imports-nothing-above", what: "discovery/ imports app.ts", from: "src/discovery/bad.ts", imports: "../app.ts", to: "src/app.ts" },
  // a module rule: it names the module itself (imports or not)
  { rule: "every-module-has-a-layer", what: "a new folder without a layer", from: "src/livekit/LiveKit.ts", imports: "../nostr/event.ts", to: "src/livekit/LiveKit.ts" },
  { rule: "src-imports-no-tests-or-scripts", what: "src/ imports test/", from: "src/query/bad.ts", imports: "../../test/support/events.ts", to: "test/support/events.ts" },
  { rule: "src-imports-no-dev-dependencies", what: "src/ imports a devDependency", from: "src/query/bad.ts", imports: "vitest", to: "node_modules/vitest/index.js" }
]

describe("dependency rules (.dependency-cruiser.cjs)", () => {
  it("pass the clean miniature of src/", async () => {
    expect(show(await check({}))).toEqual([])
  })

  it("every rule has a case below", () => {
    const covered = new Set([...cases.map((c) => c.rule), "no-orphans"])
    expect(ruleNames.filter((r) => !covered.has(r))).toEqual([])
  })

  for (const c of cases) {
    it(`${c.rule} fails on ${c.what}, naming ${c.from} → ${c.to}`, async () => {
      const extra: Tree =
        c.rule === "no-circular"
          ? { [c.from]: [c.imports], "src/query/b.ts": ["./a.ts"] }
          : { [c.from]: [c.imports] }
      const violations = await check(extra)
      expect(show(violations)).toContain(`${c.rule}: ${c.from} → ${c.to}`)
      // nothing else of the clean tree is flagged: every violation comes from the broken import
      for (const v of violations) expect([c.from, "src/query/b.ts"]).toContain(v.from)
    })
  }

  it("every-module-has-a-layer also names an unlayered module that imports nothing", async () => {
    const violations = await check({ "src/livekit/kinds.ts": [], "src/livekit/LiveKit.ts": ["./kinds.ts"], "src/app.ts": [...clean["src/app.ts"]!, "./livekit/LiveKit.ts"] })
    expect(show(violations).sort()).toEqual([
      "every-module-has-a-layer: src/livekit/LiveKit.ts → src/livekit/LiveKit.ts",
      "every-module-has-a-layer: src/livekit/kinds.ts → src/livekit/kinds.ts"
    ])
  })

  it("no-orphans fails on a module nothing imports and that imports nothing", async () => {
    const violations = await check({ "src/query/lonely.ts": [] })
    expect(show(violations)).toEqual(["no-orphans: src/query/lonely.ts → src/query/lonely.ts"])
  })
})
