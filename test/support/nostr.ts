/**
 * Shared builders of properly signed Nostr events for tests.
 * Every event is signed with nostr-tools (`finalizeEvent`) and returned as a
 * plain object with exactly the seven NIP-01 fields, so it compares equal to
 * whatever an adapter reads back.
 */
import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure"
import type { NostrEvent } from "../../src/nostr/index.ts"

export interface Key {
  readonly sk: Uint8Array
  readonly pk: string
}

/** A fresh random key pair. */
export const newKey = (): Key => {
  const sk = generateSecretKey()
  return { sk, pk: getPublicKey(sk) }
}

export interface Template {
  readonly kind?: number
  readonly tags?: ReadonlyArray<ReadonlyArray<string>>
  readonly content?: string
  readonly created_at?: number
}

/** A fixed, realistic base time (2023-11-14T22:13:20Z) for created_at values. */
export const T0 = 1_700_000_000

let counter = 0

/**
 * A signed event. Defaults: kind 1, no tags, a unique content, created_at T0.
 * `key` may be a Key or a bare secret key; without it a fresh key is used.
 */
export const makeEvent = (t: Template = {}, key?: Key | Uint8Array): NostrEvent => {
  const sk = key === undefined ? generateSecretKey() : key instanceof Uint8Array ? key : key.sk
  const signed = finalizeEvent(
    {
      kind: t.kind ?? 1,
      tags: (t.tags ?? []).map((tag) => [...tag]),
      content: t.content ?? `event ${++counter}`,
      created_at: t.created_at ?? T0
    },
    sk
  )
  return {
    id: signed.id,
    pubkey: signed.pubkey,
    created_at: signed.created_at,
    kind: signed.kind,
    tags: signed.tags,
    content: signed.content,
    sig: signed.sig
  }
}

const byIdAsc = (a: NostrEvent, b: NostrEvent) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/**
 * `n` (default 2) distinct events from the same template (same kind, tags,
 * created_at and key; only the content differs), sorted by id ascending:
 * element 0 has the lowest id.
 */
export const sameSecond = (t: Template, key: Key, n = 2): Array<NostrEvent> => {
  const out: Array<NostrEvent> = []
  for (let i = 0; i < n; i++) out.push(makeEvent({ ...t, content: `${t.content ?? "version"} #${i} ${++counter}` }, key))
  return out.sort(byIdAsc)
}

/** Sorts newest first, ties by lowest id, written from the NIP-01 text (independent of src). */
export const nip01Order = (events: ReadonlyArray<NostrEvent>): Array<NostrEvent> =>
  [...events].sort((a, b) => (a.created_at !== b.created_at ? b.created_at - a.created_at : byIdAsc(a, b)))

export const idsOf = (events: ReadonlyArray<Pick<NostrEvent, "id">>): Array<string> => events.map((e) => e.id)
