/** In-memory StreamStore: for tests and `PARRHESIA_STORE=memory` (nothing survives a restart). */
import { Effect, Layer } from "effect"
import { StreamStore, type StoredStream, type StreamStoreShape } from "../StreamStore.ts"

type Row = { -readonly [K in keyof StoredStream]: StoredStream[K] }

export const makeMemoryStreamStore = (): StreamStoreShape => {
  const rows = new Map<string, Row>()
  const leases = new Map<string, { owner: string; until: number }>()
  const row = (url: string): Row => {
    let r = rows.get(url)
    if (r === undefined) {
      r = { url, runtime: false, direction: "down", filter: "", authKey: "", paused: false, down: undefined, up: undefined }
      rows.set(url, r)
    }
    return r
  }
  return {
    load: Effect.sync(() => [...rows.values()].map((r) => ({ ...r })).sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0))),
    add: (spec) =>
      Effect.sync(() => {
        const r = row(spec.url)
        r.runtime = true
        r.direction = spec.direction
        r.filter = spec.filter
        r.authKey = spec.authKey
      }),
    remove: (url) =>
      Effect.sync(() => {
        const r = rows.get(url)
        if (r === undefined || !r.runtime) return false
        rows.delete(url)
        return true
      }),
    setPaused: (url, paused) => Effect.sync(() => void (row(url).paused = paused)),
    advance: (url, direction, position) =>
      Effect.sync(() => {
        const r = row(url)
        const old = r[direction]
        if (old === undefined || old.createdAt < position.createdAt) r[direction] = position
      }),
    claim: (url, owner, now, until) =>
      Effect.sync(() => {
        const held = leases.get(url)
        if (held !== undefined && held.owner !== owner && held.until >= now) return false
        leases.set(url, { owner, until })
        return true
      }),
    release: (url, owner) =>
      Effect.sync(() => {
        if (leases.get(url)?.owner === owner) leases.delete(url)
      }),
    rewind: (url, direction, position) =>
      Effect.sync(() => {
        const r = rows.get(url)
        const old = r?.[direction]
        if (r !== undefined && old !== undefined && old.createdAt > position.createdAt) r[direction] = position
      })
  }
}

export const layerMemoryStreams: Layer.Layer<StreamStore> = Layer.sync(StreamStore, makeMemoryStreamStore)
