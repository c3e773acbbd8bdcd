/**
 * The relay's own key: what the relay signs (NIP-43 membership events, the
 * NIP-66 self-description), and its NIP-11 `self`. From `relaySecretKey`, or
 * generated once and kept in `<dataDir>/relay.key` (mode 0600) for the
 * Postgres store; with the memory store a fresh key per start (nothing else
 * survives a restart either). Made on first use, so relays that sign nothing
 * write no file.
 */
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { schnorr } from "@noble/curves/secp256k1.js"
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js"
import { Context, Data, Effect, Layer } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import type { Settings } from "../config/settings.ts"
import { signEvent, type NostrEvent } from "../nostr/index.ts"

export class RelayKeyError extends Data.TaggedError("RelayKeyError")<{ readonly message: string }> {}

export interface Identity {
  readonly pubkey: string
  /** Signs a template as the relay. */
  readonly sign: (t: { readonly kind: number; readonly created_at: number; readonly tags: ReadonlyArray<ReadonlyArray<string>>; readonly content: string }) => NostrEvent
}

const identityOf = (sk: Uint8Array): Identity => {
  const pubkey = bytesToHex(schnorr.getPublicKey(sk))
  return {
    pubkey,
    sign: (t) => signEvent(sk, t, pubkey)
  }
}

const loadKey = (s: Settings): Uint8Array => {
  if (s.relaySecretKey !== "") return hexToBytes(s.relaySecretKey)
  if (s.store === "memory") return schnorr.utils.randomSecretKey()
  const file = join(s.dataDir, "relay.key")
  const read = () => {
    const hex = readFileSync(file, "utf8").trim()
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new RelayKeyError({ message: `${file} does not hold a 64-hex secret key` })
    return hexToBytes(hex)
  }
  if (existsSync(file)) return read()
  const sk = schnorr.utils.randomSecretKey()
  mkdirSync(s.dataDir, { recursive: true })
  // Written whole under a temporary name, then linked into place only if no other process (a
  // sibling worker starting at the same moment) got there first: every process ends up with one key.
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, bytesToHex(sk) + "\n", { mode: 0o600 })
  chmodSync(tmp, 0o600)
  try {
    linkSync(tmp, file)
    return sk
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
    return read()
  } finally {
    rmSync(tmp, { force: true })
  }
}

export class RelayIdentity extends Context.Service<RelayIdentity, { readonly get: Effect.Effect<Identity, RelayKeyError> }>()(
  "parrhesia/auth/RelayIdentity"
) {
  static readonly layer = Layer.effect(
    RelayIdentity,
    Effect.gen(function* () {
      const settings = yield* RelayConfig
      const get = yield* Effect.cached(
        Effect.try({
          try: () => identityOf(loadKey(settings)),
          catch: (e) => (e instanceof RelayKeyError ? e : new RelayKeyError({ message: `cannot load the relay key: ${String(e)}` }))
        })
      )
      return RelayIdentity.of({ get })
    })
  )
}
