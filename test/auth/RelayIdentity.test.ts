import { mkdtempSync, existsSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { RelayIdentity } from "../../src/auth/RelayIdentity.ts"
import { RelayConfig } from "../../src/config/RelayConfig.ts"
import type { Settings } from "../../src/config/settings.ts"
import { verifyNoble } from "../../src/verify/SignatureVerifier.ts"

const identity = (o: Partial<Settings>) =>
  Effect.flatMap(RelayIdentity, (r) => r.get).pipe(Effect.provide(RelayIdentity.layer), Effect.provide(RelayConfig.layerWith(o)))

describe("RelayIdentity", () => {
  it.effect("generates a key once into the data folder (0600) and keeps it; signs valid events", () =>
    Effect.gen(function* () {
      const dataDir = join(mkdtempSync(join(tmpdir(), "parrhesia-key-")), "data")
      const first = yield* identity({ store: "postgres", dataDir })
      expect(statSync(join(dataDir, "relay.key")).mode & 0o777).toBe(0o600)
      const again = yield* identity({ store: "postgres", dataDir })
      expect(again.pubkey).toBe(first.pubkey)
      expect(verifyNoble(first.sign({ kind: 1, created_at: 1, tags: [["t", "x"]], content: "hi" }))).toBe(true)
    })
  )

  it.effect("uses relaySecretKey when set, and writes nothing for the memory store", () =>
    Effect.gen(function* () {
      const dataDir = join(mkdtempSync(join(tmpdir(), "parrhesia-key-")), "data")
      const sk = "11".repeat(32)
      const a = yield* identity({ relaySecretKey: sk, store: "postgres", dataDir })
      const b = yield* identity({ relaySecretKey: sk, store: "memory", dataDir })
      expect(a.pubkey).toBe(b.pubkey)
      yield* identity({ store: "memory", dataDir })
      expect(existsSync(dataDir)).toBe(false)
    })
  )
})
