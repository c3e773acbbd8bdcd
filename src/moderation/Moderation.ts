/**
 * Moderation: the operator's lists as one in-memory view for the hot path
 * (synchronous Set lookups), made of the static configuration
 * (bannedPubkeys, allowedPubkeys, bannedEvents, allowedKinds,
 * disallowedKinds, blockedIps) and what NIP-86 stored in the ModerationStore.
 * Every change is written through the store first, then applied to the view,
 * so it takes effect at once on open connections and survives restarts.
 *
 * Static entries cannot be removed through the API (they come back at the
 * next start); `list` shows them with the reason "configuration".
 */
import { Context, type Effect } from "effect"
import type { StoreError } from "../storage/EventStore.ts"
import type { ModerationEntry, ModerationList, RelayInfoField } from "../storage/ModerationStore.ts"

export interface RelayInfoView {
  readonly name: string
  readonly description: string
  readonly icon: string
}

export interface ModerationShape {
  // ---------------------------------------------------------------- hot-path reads (synchronous)
  readonly isPubkeyBanned: (pubkey: string) => boolean
  /** Allow-list mode: on when at least one pubkey is allowed (configuration or API). */
  readonly allowListActive: () => boolean
  readonly isPubkeyAllowed: (pubkey: string) => boolean
  readonly isEventBanned: (id: string) => boolean
  /** False when the kind is disallowed, or when an allowed-kinds list exists and lacks it. */
  readonly isKindAllowed: (kind: number) => boolean
  readonly isIpBlocked: (ip: string) => boolean
  /** True when some banned pubkey or event exists: served events must then be checked one by one. */
  readonly hasServeRestrictions: () => boolean
  /** NIP-11 name, description and icon: the configuration overridden by NIP-86 changes. */
  readonly relayInfo: () => RelayInfoView
  /** The entries of a list (static ones with the reason "configuration"), sorted by value. */
  readonly list: (list: ModerationList) => ReadonlyArray<ModerationEntry>

  // ---------------------------------------------------------------- changes (persisted, then applied)
  readonly banPubkey: (pubkey: string, reason: string) => Effect.Effect<void, StoreError>
  readonly unbanPubkey: (pubkey: string) => Effect.Effect<boolean, StoreError>
  readonly allowPubkey: (pubkey: string, reason: string) => Effect.Effect<void, StoreError>
  readonly unallowPubkey: (pubkey: string) => Effect.Effect<boolean, StoreError>
  /** Bans an event (no longer served, cannot be republished); takes it off the approved list. */
  readonly banEvent: (id: string, reason: string) => Effect.Effect<void, StoreError>
  /** Approves an event: lifts a ban and takes it off the moderation queue. */
  readonly allowEvent: (id: string, reason: string) => Effect.Effect<void, StoreError>
  /** Adds to the allowed kinds and lifts a disallow. */
  readonly allowKind: (kind: number) => Effect.Effect<void, StoreError>
  /** Adds to the disallowed kinds and removes from the allowed kinds. */
  readonly disallowKind: (kind: number) => Effect.Effect<void, StoreError>
  readonly blockIp: (ipOrRange: string, reason: string) => Effect.Effect<void, StoreError>
  readonly unblockIp: (ipOrRange: string) => Effect.Effect<boolean, StoreError>
  readonly setRelayInfo: (field: RelayInfoField, value: string) => Effect.Effect<void, StoreError>
  /** Called after every applied change (e.g. the server closes connections of a newly blocked IP). */
  readonly onChange: (listener: (list: ModerationList | "relayInfo") => void) => () => void
}

export class Moderation extends Context.Service<Moderation, ModerationShape>()("parrhesia/moderation/Moderation") {}
