/**
 * Backs up one user's events into a relay (`parrhesia backup`, NIP-65):
 *
 * 1. The user's relay list (kind 10002), asked of every bootstrap relay at
 *    once; the newest valid one wins (signature checked: a relay could hand
 *    out a forged list to steer the backup). It is published to the
 *    destination too: it is one of the user's events, and a backup without
 *    it would not say where the user writes.
 * 2. For each write relay, in the list's order, `syncRelays` (sync.ts) from it
 *    to the destination with the filter `authors: [user]`: NIP-77 where the
 *    relay speaks it, REQ windows where not, copying only what the
 *    destination lacks. With `mentions`, then each read relay with
 *    `#p: [user]`. One relay after the other, so "new" counts what that relay
 *    alone brought (what an earlier relay copied is already there).
 * 3. A relay that cannot be reached or fails is a row with its error; the
 *    backup goes on with the others. The destination failing ends it.
 *
 * "Found" (the user's events at a relay): REQ windows list them all; NIP-77
 * only compares fingerprints, so for a relay synced that way its ids are
 * listed once more against an empty set (ids only, 32 bytes each).
 */
import { schnorr } from "@noble/curves/secp256k1.js"
import { hexToBytes } from "@noble/hashes/utils.js"
import { Data, Effect } from "effect"
import { Negentropy, Storage } from "../negentropy/engine.ts"
import { compareNewestFirst, hasValidId, parseEventShape, type Filter, type NostrEvent } from "../nostr/index.ts"
import { RELAY_LIST_KIND, relayListOf, type RelayList } from "../nostr/relayList.ts"
import { sameRelayUrl } from "../nostr/relayUrl.ts"
import type { ClientOptions, PublishResult, RelayClient } from "./RelayClient.ts"
import type { RelayPoolShape } from "./RelayPool.ts"
import { newProgress, syncRelays, type SyncProgress, type SyncReport } from "./sync.ts"

/** The backup could not run at all: no destination, no bootstrap relay answered. The message says which. */
export class BackupError extends Data.TaggedError("BackupError")<{ readonly message: string }> {}

export interface BackupOptions {
  readonly pool: RelayPoolShape
  /** Hex public key of the user. */
  readonly pubkey: string
  readonly bootstrap: ReadonlyArray<string>
  readonly destination: string
  /** Also events tagging the user (`#p`), from their read relays. */
  readonly mentions: boolean
  readonly clientOptions?: ClientOptions
  /** Publishes in flight per relay (sync's `concurrency`). */
  readonly concurrency?: number
  /** Updated as the backup runs (for a progress line). */
  readonly progress?: BackupProgress
}

export interface BackupProgress {
  phase: "relay-list" | "copy" | "done"
  /** The relay being copied from, and its place among all. */
  current: { readonly relay: string; readonly for: "writes" | "mentions"; readonly index: number; readonly total: number } | undefined
  sync: SyncProgress
  /** Each relay's row as it ends. */
  readonly onRow?: (row: BackupRow) => void
}

export const newBackupProgress = (onRow?: (row: BackupRow) => void): BackupProgress => ({
  phase: "relay-list",
  current: undefined,
  sync: newProgress(),
  ...(onRow === undefined ? {} : { onRow })
})

export interface BootstrapAnswer {
  readonly url: string
  readonly reachable: boolean
  /** created_at of the newest valid relay list it holds. */
  readonly listCreatedAt?: number
  /** Lists it sent that were not the user's valid kind 10002 (bad id or signature, another author). */
  readonly invalid: number
  readonly error?: string
}

export interface BackupRow {
  readonly relay: string
  readonly for: "writes" | "mentions"
  readonly reachable: boolean
  /** Why the relay was not copied from (it is the destination itself). */
  readonly skipped?: string
  readonly method?: SyncReport["method"]
  /** The relay's events for the filter; undefined when it could not be counted. */
  readonly found?: number
  /** Events the destination accepted as new. */
  readonly new: number
  readonly refused: number
  readonly refusals: Readonly<Record<string, number>>
  /** Ids the relay listed but did not return when asked. */
  readonly notFetched: number
  /** REQ windows compared in part (more events in one second than the relay returns at once). */
  readonly incompleteWindows: number
  readonly error?: string
  readonly seconds: number
}

export interface BackupReport {
  readonly pubkey: string
  readonly destination: string
  readonly bootstrap: ReadonlyArray<BootstrapAnswer>
  readonly relayList: {
    readonly id: string
    readonly createdAt: number
    /** The bootstrap relays that held this version. */
    readonly from: ReadonlyArray<string>
    readonly write: ReadonlyArray<string>
    readonly read: ReadonlyArray<string>
    readonly ignored: ReadonlyArray<string>
    /** The destination's answer to it. */
    readonly published: PublishResult
  }
  readonly rows: ReadonlyArray<BackupRow>
  /** Every relay was reached and every event found was copied. */
  readonly complete: boolean
}

/** No valid relay list on any reachable bootstrap relay: nothing says where the user writes. */
export class NoRelayList extends Data.TaggedError("NoRelayList")<{ readonly message: string; readonly bootstrap: ReadonlyArray<BootstrapAnswer> }> {}

const isValidRelayList = (e: unknown, pubkey: string): e is NostrEvent => {
  const shape = parseEventShape(e)
  if ("error" in shape) return false
  const ev = shape.event
  if (ev.kind !== RELAY_LIST_KIND || ev.pubkey !== pubkey || !hasValidId(ev)) return false
  try {
    return schnorr.verify(hexToBytes(ev.sig), hexToBytes(ev.id), hexToBytes(ev.pubkey))
  } catch {
    return false
  }
}

/** The newest valid kind 10002 of `pubkey` across `urls`, asked all at once. */
export const findRelayList = (
  pool: RelayPoolShape,
  urls: ReadonlyArray<string>,
  pubkey: string,
  clientOptions: ClientOptions = {}
): Effect.Effect<{ readonly event: NostrEvent | undefined; readonly from: ReadonlyArray<string>; readonly answers: ReadonlyArray<BootstrapAnswer> }> =>
  Effect.gen(function* () {
    const asked = yield* Effect.forEach(
      urls,
      (url) =>
        Effect.gen(function* () {
          const client = pool.relay(url, clientOptions)
          const got = yield* Effect.result(Effect.andThen(client.ready, client.query([{ kinds: [RELAY_LIST_KIND], authors: [pubkey], limit: 10 }])))
          if (got._tag === "Failure") {
            return { answer: { url, reachable: client.stats().connects > 0, invalid: 0, error: got.failure.message } satisfies BootstrapAnswer, valid: [] }
          }
          const valid = got.success.filter((e) => isValidRelayList(e, pubkey)).sort(compareNewestFirst)
          const answer: BootstrapAnswer = {
            url,
            reachable: true,
            invalid: got.success.length - valid.length,
            ...(valid[0] === undefined ? {} : { listCreatedAt: valid[0].created_at })
          }
          return { answer, valid }
        }),
      { concurrency: "unbounded" }
    )
    const newest = asked.flatMap((a) => a.valid).sort(compareNewestFirst)[0]
    return {
      event: newest,
      from: newest === undefined ? [] : asked.filter((a) => a.valid.some((e) => e.id === newest.id)).map((a) => a.answer.url),
      answers: asked.map((a) => a.answer)
    }
  })

/** How many events `client` holds for `filter`, by NIP-77 against an empty set (its ids, not its events). */
const countByNegentropy = (client: RelayClient, filter: Filter): Effect.Effect<number, unknown> =>
  Effect.gen(function* () {
    const engine = new Negentropy(new Storage([]), 60_000)
    const subId = `count-${Math.random().toString(36).slice(2, 10)}`
    let count = 0
    let msg: Uint8Array | undefined = engine.initiate()
    let first = true
    while (msg !== undefined) {
      const answer: Uint8Array = yield* first ? client.negOpen(subId, filter, msg, 10_000) : client.negMsg(subId, msg)
      first = false
      const r = engine.reconcile(answer)
      count += r.need.length
      msg = r.next
    }
    client.negClose(subId)
    return count
  })

export const runBackup = (options: BackupOptions): Effect.Effect<BackupReport, BackupError | NoRelayList> =>
  Effect.gen(function* () {
    const { pool, pubkey, destination } = options
    const clientOptions = options.clientOptions ?? {}
    const progress = options.progress ?? newBackupProgress()

    // The destination first: without it there is nothing to do.
    const to = () => pool.relay(destination, clientOptions)
    yield* to().ready.pipe(Effect.mapError((e) => new BackupError({ message: `the destination ${destination} cannot be reached: ${e.message}` })))

    progress.phase = "relay-list"
    const found = yield* findRelayList(pool, options.bootstrap, pubkey, clientOptions)
    if (found.event === undefined) {
      if (found.answers.every((a) => a.error !== undefined)) {
        return yield* new BackupError({ message: `no bootstrap relay could be asked for the relay list: ${found.answers.map((a) => a.error).join("; ")}` })
      }
      return yield* new NoRelayList({
        message: `no relay list (kind 10002) of ${pubkey} on ${found.answers.filter((a) => a.error === undefined).map((a) => a.url).join(", ")}: nothing says where the user writes`,
        bootstrap: found.answers
      })
    }
    const list: RelayList = relayListOf(found.event)
    const published = yield* to()
      .publish(found.event)
      .pipe(Effect.mapError((e) => new BackupError({ message: `the destination ${destination} failed: ${e.message}` })))

    const plan = [
      ...list.write.map((relay) => ({ relay, for: "writes" as const, filter: { authors: [pubkey] } as Filter })),
      ...(options.mentions ? list.read.map((relay) => ({ relay, for: "mentions" as const, filter: { "#p": [pubkey] } as Filter })) : [])
    ]
    progress.phase = "copy"
    const rows: Array<BackupRow> = []
    // A relay that could not be reached for its writes is not tried again for its mentions.
    const down = new Map<string, { reachable: boolean; error: string }>()
    for (const [index, step] of plan.entries()) {
      progress.current = { relay: step.relay, for: step.for, index, total: plan.length }
      progress.sync = newProgress()
      const started = performance.now()
      const base = { relay: step.relay, for: step.for, new: 0, refused: 0, refusals: {}, notFetched: 0, incompleteWindows: 0 }
      const seconds = () => (performance.now() - started) / 1000
      let row: BackupRow
      const earlier = down.get(step.relay)
      if (sameRelayUrl(step.relay, destination)) {
        row = { ...base, reachable: true, skipped: "the destination itself", seconds: 0 }
      } else if (earlier !== undefined) {
        row = { ...base, reachable: earlier.reachable, error: earlier.error, seconds: 0 }
      } else {
        const from = pool.relay(step.relay, clientOptions)
        const synced = yield* Effect.result(
          syncRelays({ from, to: to(), filter: step.filter, progress: progress.sync, ...(options.concurrency ? { concurrency: options.concurrency } : {}) })
        )
        if (synced._tag === "Failure") {
          const e = synced.failure
          if (e.relay !== undefined && sameRelayUrl(e.relay, destination) && !sameRelayUrl(e.relay, step.relay)) {
            return yield* new BackupError({ message: `the destination ${destination} failed while copying from ${step.relay}: ${e.message}` })
          }
          const failed = { reachable: from.stats().connects > 0, error: e.message }
          down.set(step.relay, failed)
          row = { ...base, ...failed, seconds: seconds() }
        } else {
          const r = synced.success
          const d = r.directions[0]!
          let counted = d.held
          if (counted === undefined) {
            const c = yield* Effect.result(countByNegentropy(from, step.filter))
            if (c._tag === "Success") counted = c.success
          }
          const refused = Object.values(d.refused).reduce((a, b) => a + b, 0)
          row = {
            ...base,
            reachable: true,
            method: r.method,
            ...(counted === undefined ? {} : { found: counted }),
            new: d.accepted - d.duplicates,
            refused,
            refusals: d.refused,
            notFetched: d.notFetched,
            incompleteWindows: r.incompleteWindows,
            seconds: seconds()
          }
        }
      }
      rows.push(row)
      progress.onRow?.(row)
    }
    progress.current = undefined
    progress.phase = "done"
    return {
      pubkey,
      destination,
      bootstrap: found.answers,
      relayList: {
        id: found.event.id,
        createdAt: found.event.created_at,
        from: found.from,
        write: list.write,
        read: list.read,
        ignored: list.ignored,
        published
      },
      rows,
      complete: published.accepted && rows.every((r) => r.error === undefined && r.refused === 0 && r.notFetched === 0 && r.incompleteWindows === 0)
    } satisfies BackupReport
  })
