/**
 * RelayPool: the process's outgoing relay connections, one RelayClient per
 * URL, closed with the pool's scope. Sync, mirroring and the tools take their
 * clients from here; `stats` is what /metrics and progress lines read.
 */
import { Context, Effect, Layer } from "effect"
import type { NostrEvent } from "../nostr/index.ts"
import { BoundedSet } from "../lib/BoundedSet.ts"
import { RelayClient, type ClientOptions, type RelayStats } from "./RelayClient.ts"
import type { Filter } from "../nostr/index.ts"

export interface RelayPoolShape {
  /** The client for `url`, created (and connecting) on first use with `options`. */
  readonly relay: (url: string, options?: ClientOptions) => RelayClient
  /**
   * One live subscription on several relays: each event once, whichever relay
   * sends it first. Returns a function that closes it everywhere.
   */
  readonly subscribeAll: (urls: ReadonlyArray<string>, filters: () => ReadonlyArray<Filter>, onEvent: (event: NostrEvent, url: string) => void) => () => void
  readonly stats: () => ReadonlyArray<RelayStats>
}

export class RelayPool extends Context.Service<RelayPool, RelayPoolShape>()("parrhesia/client/RelayPool") {
  /** A pool whose clients use `defaults` unless `relay` is given options. */
  static readonly layer = (defaults: ClientOptions = {}) =>
    Layer.effect(
      RelayPool,
      Effect.gen(function* () {
        const clients = new Map<string, RelayClient>()
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            for (const c of clients.values()) c.close()
            clients.clear()
          })
        )
        const relay = (url: string, options?: ClientOptions) => {
          let c = clients.get(url)
          if (c === undefined || c.connectionState === "closed") {
            c = new RelayClient(url, { ...defaults, ...options })
            clients.set(url, c)
          }
          return c
        }
        return RelayPool.of({
          relay,
          subscribeAll: (urls, filters, onEvent) => {
            const seen = new BoundedSet(100_000)
            const subs = urls.map((url) => relay(url).subscribe(filters, { onEvent: (e) => seen.add(e.id) && onEvent(e, url) }))
            return () => subs.forEach((s) => s.close())
          },
          stats: () => [...clients.values()].map((c) => c.stats())
        })
      })
    )
}
