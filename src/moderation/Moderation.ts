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
import { Context, Effect, Layer } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import type { Settings } from "../config/settings.ts"
import { makeIpMatcher, normalizeIp, type IpMatcher } from "../net/ip.ts"
import type { StoreError } from "../storage/EventStore.ts"
import {
  MODERATION_LISTS,
  ModerationStore,
  type ModerationEntry,
  type ModerationList,
  type ModerationStoreShape,
  type RelayInfoField
} from "../storage/ModerationStore.ts"

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
  /** Lifts a block of the kind if there is one, else adds it to the allowed kinds. */
  readonly allowKind: (kind: number) => Effect.Effect<void, StoreError>
  /** Takes the kind off the allowed kinds; blocks it when it was not there or none are left. */
  readonly disallowKind: (kind: number) => Effect.Effect<void, StoreError>
  readonly blockIp: (ipOrRange: string, reason: string) => Effect.Effect<void, StoreError>
  readonly unblockIp: (ipOrRange: string) => Effect.Effect<boolean, StoreError>
  readonly setRelayInfo: (field: RelayInfoField, value: string) => Effect.Effect<void, StoreError>
  /** Called after every applied change (e.g. the server closes connections of a newly blocked IP). */
  readonly onChange: (listener: (list: ModerationList | "relayInfo") => void) => () => void
}

export const STATIC_REASON = "configuration"

/** The static entries of each list, from the settings. */
const staticLists = (s: Settings): Record<ModerationList, ReadonlyArray<string>> => ({
  bannedPubkeys: s.bannedPubkeys,
  allowedPubkeys: s.allowedPubkeys,
  bannedEvents: s.bannedEvents,
  allowedEvents: [],
  allowedKinds: s.allowedKinds.map(String),
  disallowedKinds: s.disallowedKinds.map(String),
  blockedIps: s.blockedIps.map(normalizeIp)
})

/** A view over the static lists and the store, as made by `Moderation.layer`. */
export const makeModeration = Effect.fnUntraced(function* (settings: Settings, store: ModerationStoreShape) {
  const data = yield* store.load
  const statics = staticLists(settings)
  /** list -> value -> reason; static entries included. */
  const lists = new Map<ModerationList, Map<string, string>>()
  const fixed = new Map<ModerationList, ReadonlySet<string>>()
  for (const l of MODERATION_LISTS) {
    const m = new Map<string, string>()
    for (const e of data.lists[l]) m.set(e.value, e.reason)
    for (const v of statics[l]) m.set(v, STATIC_REASON)
    lists.set(l, m)
    fixed.set(l, new Set(statics[l]))
  }
  const info: Partial<Record<RelayInfoField, string>> = { ...data.relayInfo }
  const listeners = new Set<(list: ModerationList | "relayInfo") => void>()

  let ips: IpMatcher = makeIpMatcher(lists.get("blockedIps")!.keys())
  let allowedKinds: ReadonlySet<number> = new Set()
  let disallowedKinds: ReadonlySet<number> = new Set()
  const derive = () => {
    ips = makeIpMatcher(lists.get("blockedIps")!.keys())
    allowedKinds = new Set([...lists.get("allowedKinds")!.keys()].map(Number))
    disallowedKinds = new Set([...lists.get("disallowedKinds")!.keys()].map(Number))
  }
  derive()

  const get = (l: ModerationList) => lists.get(l)!
  const changed = (l: ModerationList | "relayInfo") => {
    derive()
    for (const f of listeners) f(l)
  }

  // Another process (a worker, another host) changed the stored lists: rebuild the view from the store.
  const reload = Effect.gen(function* () {
    const fresh = yield* store.load
    for (const l of MODERATION_LISTS) {
      const m = new Map<string, string>()
      for (const e of fresh.lists[l]) m.set(e.value, e.reason)
      for (const v of statics[l]) m.set(v, STATIC_REASON)
      lists.set(l, m)
    }
    for (const k of Object.keys(info) as Array<RelayInfoField>) delete info[k]
    Object.assign(info, fresh.relayInfo)
    for (const l of MODERATION_LISTS) changed(l)
    changed("relayInfo")
  }).pipe(Effect.catch((e) => Effect.logWarning(`moderation: cannot reload the lists another process changed: ${e.message}`)))
  store.onRemoteChange?.(() => void Effect.runFork(reload))

  /** Persists, then applies: a failed write changes nothing. */
  const add = (l: ModerationList, value: string, reason: string) =>
    Effect.gen(function* () {
      if (fixed.get(l)!.has(value)) return
      yield* store.add(l, value, reason)
      get(l).set(value, reason)
    })
  const remove = (l: ModerationList, value: string) =>
    Effect.gen(function* () {
      if (fixed.get(l)!.has(value) || !get(l).has(value)) return false
      // The store's answer, not this view's: another process may have removed it first (an invite claimed once).
      const removed = yield* store.remove(l, value)
      get(l).delete(value)
      return removed
    })
  const notify = (l: ModerationList | "relayInfo") => <A, E>(eff: Effect.Effect<A, E>) =>
    Effect.tap(eff, () => Effect.sync(() => changed(l)))

  const shape: ModerationShape = {
    isPubkeyBanned: (pk) => get("bannedPubkeys").has(pk),
    allowListActive: () => get("allowedPubkeys").size > 0,
    isPubkeyAllowed: (pk) => get("allowedPubkeys").has(pk),
    isEventBanned: (id) => get("bannedEvents").has(id),
    isKindAllowed: (k) => !disallowedKinds.has(k) && (allowedKinds.size === 0 || allowedKinds.has(k)),
    isIpBlocked: (ip) => ips.matches(ip),
    hasServeRestrictions: () => get("bannedPubkeys").size > 0 || get("bannedEvents").size > 0,
    relayInfo: () => ({
      name: info.name ?? settings.name,
      description: info.description ?? settings.description,
      icon: info.icon ?? settings.icon
    }),
    list: (l) =>
      [...get(l)]
        .map(([value, reason]): ModerationEntry => ({ value, reason }))
        .sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0)),
    banPubkey: (pk, reason) => add("bannedPubkeys", pk, reason).pipe(notify("bannedPubkeys")),
    unbanPubkey: (pk) => remove("bannedPubkeys", pk).pipe(notify("bannedPubkeys")),
    allowPubkey: (pk, reason) => add("allowedPubkeys", pk, reason).pipe(notify("allowedPubkeys")),
    unallowPubkey: (pk) => remove("allowedPubkeys", pk).pipe(notify("allowedPubkeys")),
    banEvent: (id, reason) =>
      Effect.andThen(remove("allowedEvents", id), add("bannedEvents", id, reason)).pipe(notify("bannedEvents")),
    allowEvent: (id, reason) =>
      Effect.andThen(remove("bannedEvents", id), add("allowedEvents", id, reason)).pipe(notify("bannedEvents")),
    // allowkind lifts a block when there is one, else adds the kind to the allowed list (which,
    // once non-empty, admits only its kinds). disallowkind takes a kind off the allowed list, and
    // blocks it outright when it was not on it or when that list is left empty (so removing the
    // last allowed kind never opens the relay to it).
    allowKind: (k) =>
      Effect.gen(function* () {
        if (yield* remove("disallowedKinds", String(k))) return
        yield* add("allowedKinds", String(k), "")
      }).pipe(notify("allowedKinds")),
    disallowKind: (k) =>
      Effect.gen(function* () {
        const wasAllowed = yield* remove("allowedKinds", String(k))
        if (!wasAllowed || get("allowedKinds").size === 0) yield* add("disallowedKinds", String(k), "")
      }).pipe(notify("disallowedKinds")),
    blockIp: (ip, reason) => add("blockedIps", normalizeIp(ip), reason).pipe(notify("blockedIps")),
    unblockIp: (ip) => remove("blockedIps", normalizeIp(ip)).pipe(notify("blockedIps")),
    setRelayInfo: (field, value) =>
      Effect.gen(function* () {
        yield* store.setRelayInfo(field, value)
        info[field] = value
      }).pipe(notify("relayInfo")),
    onChange: (listener) => {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    }
  }
  return shape
})

export class Moderation extends Context.Service<Moderation, ModerationShape>()("parrhesia/moderation/Moderation") {
  /** Loads the stored lists once, merges the static configuration, and keeps the view current. */
  static readonly layer: Layer.Layer<Moderation, StoreError, RelayConfig | ModerationStore> = Layer.effect(
    Moderation,
    Effect.gen(function* () {
      const settings = yield* RelayConfig
      const store = yield* ModerationStore
      return Moderation.of(yield* makeModeration(settings, store))
    })
  )
}
