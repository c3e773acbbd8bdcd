/**
 * The moderation storage port: the operator's lists (NIP-86 and static
 * configuration end up in the same sets) and relay-information overrides.
 * Adapters persist; the in-memory view used on the hot path lives in the
 * Moderation service (src/moderation/Moderation.ts), which loads everything
 * once at start and writes through this port on every change.
 *
 * Values are normalised by the caller: pubkeys and event ids are 64 lowercase
 * hex, kinds are decimal strings, IPs are as given to `blockip` (address or
 * CIDR range, normalised by src/net/ip.ts).
 *
 * NIP-43 relay membership is not here: it lives in the GroupStore (relay scope).
 */
import { Context, type Effect } from "effect"
import type { StoreError } from "./EventStore.ts"

export type ModerationList =
  | "bannedPubkeys"
  | "allowedPubkeys"
  | "bannedEvents"
  /** Events an admin approved (NIP-86 allowevent): off the moderation queue. */
  | "allowedEvents"
  | "allowedKinds"
  | "disallowedKinds"
  | "blockedIps"

export const MODERATION_LISTS: ReadonlyArray<ModerationList> = [
  "bannedPubkeys",
  "allowedPubkeys",
  "bannedEvents",
  "allowedEvents",
  "allowedKinds",
  "disallowedKinds",
  "blockedIps"
]

export interface ModerationEntry {
  readonly value: string
  /** "" when none was given. */
  readonly reason: string
}

export type RelayInfoField = "name" | "description" | "icon"

export interface ModerationData {
  readonly lists: Readonly<Record<ModerationList, ReadonlyArray<ModerationEntry>>>
  readonly relayInfo: Readonly<Partial<Record<RelayInfoField, string>>>
}

export interface ModerationStoreShape {
  /** Everything stored, for the service's in-memory view. */
  readonly load: Effect.Effect<ModerationData, StoreError>
  /** Adds (or re-adds with a new reason) a value; idempotent. */
  readonly add: (list: ModerationList, value: string, reason: string) => Effect.Effect<void, StoreError>
  /** Removes a value; returns whether it was there. */
  readonly remove: (list: ModerationList, value: string) => Effect.Effect<boolean, StoreError>
  readonly setRelayInfo: (field: RelayInfoField, value: string) => Effect.Effect<void, StoreError>
  /**
   * Registers what to do when another relay process (a worker, another host) changed what is
   * stored, so every process's view follows NIP-86 changes made on any of them. Absent when this
   * process is the only one writing (the memory store).
   */
  readonly onRemoteChange?: (reload: () => void) => void
}

export class ModerationStore extends Context.Service<ModerationStore, ModerationStoreShape>()("parrhesia/storage/ModerationStore") {}
