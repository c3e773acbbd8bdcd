/** In-memory ModerationStore: for tests and `PARRHESIA_STORE=memory` (nothing survives a restart). */
import { Effect, Layer } from "effect"
import {
  MODERATION_LISTS,
  ModerationStore,
  type ModerationData,
  type ModerationEntry,
  type ModerationList,
  type ModerationStoreShape,
  type RelayInfoField
} from "../ModerationStore.ts"

export const makeMemoryModerationStore = (): ModerationStoreShape => {
  const lists = new Map<ModerationList, Map<string, string>>(MODERATION_LISTS.map((l) => [l, new Map()]))
  const info = new Map<RelayInfoField, string>()
  return {
    load: Effect.sync(
      (): ModerationData => ({
        lists: Object.fromEntries(
          MODERATION_LISTS.map((l) => [l, [...lists.get(l)!].map(([value, reason]): ModerationEntry => ({ value, reason }))])
        ) as unknown as ModerationData["lists"],
        relayInfo: Object.fromEntries(info)
      })
    ),
    add: (list, value, reason) => Effect.sync(() => void lists.get(list)!.set(value, reason)),
    remove: (list, value) => Effect.sync(() => lists.get(list)!.delete(value)),
    setRelayInfo: (field, value) => Effect.sync(() => void info.set(field, value))
  }
}

export const layerMemoryModeration: Layer.Layer<ModerationStore> = Layer.sync(ModerationStore, makeMemoryModerationStore)
