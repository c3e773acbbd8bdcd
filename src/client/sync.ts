/**
 * Synchronises two relays: finds the events one holds and the other lacks,
 * then copies them (from -> to, and back with `both`).
 *
 * Finding the difference: NIP-77 on both relays, bridged (src/negentropy/
 * bridge.ts), so only fingerprints and the differing ids cross the wire.
 * When a relay does not speak NIP-77 (it does not claim it and answers
 * NEG-OPEN with a NOTICE, nothing, or an error), or refuses it for too many
 * records, both relays are compared by REQ over time windows, each window
 * split in half until both answers fit under the relays' limit.
 *
 * Copying: the missing events are fetched by id in chunks and published with
 * bounded concurrency; each OK is counted, refusals by their message. A
 * destination that answers `rate-limited:` is waited out (all publishers
 * pause, doubling up to 30 s) and the event sent again.
 *
 * A relay that cannot be reached, drops the connection, sends frames that are
 * not NIP-01, or claims NIP-77 and then fails it ends the sync with a
 * SyncError naming it.
 */
import { Data, Effect } from "effect"
import { Bridge, type Side } from "../negentropy/bridge.ts"
import { NegentropyError } from "../negentropy/engine.ts"
import type { Filter, NostrEvent } from "../nostr/index.ts"
import { fetchRelayInfo, type RelayInfo } from "./info.ts"
import { RelayClientError, type RelayClient } from "./RelayClient.ts"

export class SyncError extends Data.TaggedError("SyncError")<{ readonly message: string; readonly relay?: string }> {}

export interface SyncOptions {
  readonly from: RelayClient
  readonly to: RelayClient
  readonly filter?: Filter
  /** Copy both ways (default: from -> to only). */
  readonly both?: boolean
  readonly method?: "auto" | "negentropy" | "req"
  /** Ids per fetch (default 250). */
  readonly fetchChunk?: number
  /** Publishes in flight per destination (default 32). */
  readonly concurrency?: number
  /** How long a relay that does not claim NIP-77 may leave NEG-OPEN unanswered (default 5000 ms). */
  readonly probeTimeoutMs?: number
  /** Updated as the sync runs (for a progress line). */
  readonly progress?: SyncProgress
}

export interface SyncProgress {
  phase: "connect" | "compare" | "copy" | "done"
  rounds: number
  /** Events (REQ windows) or ids (negentropy id lists) compared. */
  compared: number
  fetched: number
  sent: number
  accepted: number
  refused: number
}

export const newProgress = (): SyncProgress => ({ phase: "connect", rounds: 0, compared: 0, fetched: 0, sent: 0, accepted: 0, refused: 0 })

export interface DirectionReport {
  readonly from: string
  readonly to: string
  /** Events the destination lacked. */
  missing: number
  fetched: number
  /** Missing ids the source did not return when asked (deleted meanwhile, or hidden). */
  notFetched: number
  /**
   * Events the source holds for the filter, when the comparison saw them all (REQ windows; a
   * lower bound with incomplete windows). Undefined with NIP-77, which compares fingerprints.
   */
  held: number | undefined
  accepted: number
  /** Accepted as duplicates (the destination had them after all). */
  duplicates: number
  /** Refusals by the relay's message. */
  readonly refused: Record<string, number>
  /** `rate-limited:` answers that were waited out and sent again. */
  rateLimited: number
}

export interface SyncReport {
  readonly method: "negentropy" | "req-windows"
  /** Why negentropy was not used (with method req-windows). */
  readonly fallbackReason?: string
  /** Negentropy rounds, or REQ windows. */
  readonly rounds: number
  readonly compared: number
  /** Windows that held more events in one second than the relays return at once (compared in part). */
  readonly incompleteWindows: number
  readonly directions: ReadonlyArray<DirectionReport>
  readonly seconds: number
  /** Every missing event was fetched and accepted, and every window compared in full. */
  readonly converged: boolean
}

const fatal = (e: RelayClientError) => new SyncError({ message: e.message, relay: e.url })

const direction = (from: RelayClient, to: RelayClient): DirectionReport => ({
  from: from.url,
  to: to.url,
  missing: 0,
  fetched: 0,
  notFetched: 0,
  held: undefined,
  accepted: 0,
  duplicates: 0,
  refused: {},
  rateLimited: 0
})

/** How often one event is sent again after `rate-limited:` before the refusal counts. */
const MAX_RATE_LIMIT_RETRIES = 12
/** Differences found while reconciling are copied once this many wait. */
const COPY_BATCH = 5000

/** Why negentropy could not be used, when that is a reason to compare by REQ instead. */
class NoNegentropy extends Data.TaggedError("NoNegentropy")<{ readonly message: string }> {}

export const syncRelays = (options: SyncOptions): Effect.Effect<SyncReport, SyncError> =>
  Effect.gen(function* () {
    const started = performance.now()
    const { from, to } = options
    const filter: Filter = { ...(options.filter ?? {}) }
    delete (filter as { limit?: number }).limit
    const progress = options.progress ?? newProgress()
    const concurrency = options.concurrency ?? 32
    const method = options.method ?? "auto"

    yield* Effect.all([from.ready, to.ready], { concurrency: 2 }).pipe(Effect.mapError(fatal))
    const infos = yield* Effect.all([fetchRelayInfo(from.url), fetchRelayInfo(to.url)], { concurrency: 2 })
    const clients = [from, to] as const
    const forward = direction(from, to)
    const backward = direction(to, from)
    const directions = options.both ? [forward, backward] : [forward]

    // A destination that answers `rate-limited:` is given time: every publisher waits until the
    // pause ends (doubling while refusals continue, up to 30 s), then the event is sent again.
    const pacing = { until: 0, strikes: 0 }
    const publishOne = (dst: RelayClient, e: NostrEvent, report: DirectionReport, attempt: number): Effect.Effect<void, SyncError> =>
      Effect.gen(function* () {
        const wait = pacing.until - Date.now()
        if (wait > 0) yield* Effect.sleep(wait)
        const sentAt = Date.now()
        const ok = yield* dst.publish(e).pipe(Effect.mapError(fatal))
        if (!ok.accepted && ok.message.startsWith("rate-limited:") && attempt < MAX_RATE_LIMIT_RETRIES) {
          // Refusals of events sent before the current pause began belong to the same wave: no longer pause for them.
          if (sentAt >= pacing.until) {
            pacing.strikes++
            pacing.until = Date.now() + Math.min(30_000, 250 * 2 ** Math.min(pacing.strikes - 1, 7))
          }
          report.rateLimited++
          return yield* publishOne(dst, e, report, attempt + 1)
        }
        if (ok.accepted) pacing.strikes = 0
        progress.sent++
        if (ok.accepted) {
          progress.accepted++
          report.accepted++
          if (ok.message.startsWith("duplicate:")) report.duplicates++
        } else {
          progress.refused++
          const why = ok.message.slice(0, 200) || "(no message)"
          report.refused[why] = (report.refused[why] ?? 0) + 1
        }
      })

    const publishAll = (dst: RelayClient, events: ReadonlyArray<NostrEvent>, report: DirectionReport) =>
      Effect.forEach(events, (e) => publishOne(dst, e, report, 0), { concurrency, discard: true })

    const copyByIds = (src: RelayClient, dst: RelayClient, ids: ReadonlyArray<string>, report: DirectionReport) =>
      src
        .fetchByIds(
          ids,
          (got, notReturned) => {
            report.fetched += got.length
            report.notFetched += notReturned
            progress.fetched += got.length
            return publishAll(dst, got, report)
          },
          { perReq: options.fetchChunk ?? 250, concurrency: 2 }
        )
        .pipe(Effect.mapError((e) => (e instanceof RelayClientError ? fatal(e) : e)))

    // ---------------------------------------------------------------- NIP-77
    const viaNegentropy = Effect.gen(function* () {
      const budget = Math.max(
        4096,
        Math.min(
          500_000,
          ...infos.map((i) => (i?.maxMessageLength === undefined ? 120_000 : Math.floor(i.maxMessageLength / 2) - 1024))
        )
      )
      const bridge = new Bridge(budget)
      const subId = `sync-${Math.random().toString(36).slice(2, 10)}`
      const opened = [false, false]
      const claims = (side: Side) => (infos[side]?.supportedNips ?? []).includes(77)
      const failure = (side: Side, e: RelayClientError | NegentropyError) => {
        const url = clients[side].url
        if (e instanceof NegentropyError) {
          return new SyncError({ relay: url, message: `${url} ${claims(side) ? "claims NIP-77 but " : ""}sent an invalid negentropy message: ${e.message}` })
        }
        if (e.reason === "unreachable" || e.reason === "disconnected" || e.reason === "protocol" || e.reason === "closed") return fatal(e)
        if (e.reason === "refused" && /refused negentropy: blocked:/.test(e.message) && !opened[side] && method !== "negentropy") {
          return new NoNegentropy({ message: e.message })
        }
        if (!opened[side] && !claims(side) && method !== "negentropy") {
          return new NoNegentropy({ message: `${url} does not speak NIP-77 (${e.message})` })
        }
        return new SyncError({ relay: url, message: `${url} ${claims(side) ? "claims NIP-77 but failed it" : "failed negentropy"}: ${e.message}` })
      }
      const ask = (side: Side, message: Uint8Array) => {
        const c = clients[side]
        const answer = opened[side]
          ? c.negMsg(subId, message)
          : c.negOpen(subId, filter, message, claims(side) ? undefined : (options.probeTimeoutMs ?? 5000))
        return answer.pipe(
          Effect.tap(() => Effect.sync(() => (opened[side] = true))),
          Effect.mapError((e) => failure(side, e))
        )
      }
      progress.phase = "compare"
      const closeSessions = Effect.sync(() => clients.forEach((c, side) => opened[side] && c.negClose(subId)))
      // Differences are copied as they are found, a few thousand at a time, so memory does not grow
      // with the size of the difference (an empty relay synced from a big one).
      const found: [Array<string>, Array<string>] = [[], []]
      const copyFound = (atLeast: number) =>
        Effect.gen(function* () {
          for (const side of [0, 1] as const) found[side].push(...bridge.take(side))
          if (found[0].length >= atLeast && found[0].length > 0) {
            const ids = found[0].splice(0)
            forward.missing += ids.length
            yield* copyByIds(from, to, ids, forward)
          }
          if (found[1].length >= atLeast && found[1].length > 0) {
            const ids = found[1].splice(0)
            backward.missing += ids.length
            if (options.both) yield* copyByIds(to, from, ids, backward)
          }
        })
      yield* Effect.gen(function* () {
        while (!bridge.done) {
          progress.rounds++
          const questions = ([0, 1] as const).map((side) => [side, bridge.next(side)] as const)
          const answers = yield* Effect.all(
            questions.map(([side, q]) => (q === undefined ? Effect.succeed(undefined) : ask(side, q))),
            { concurrency: 2 }
          )
          for (const [side] of questions) {
            const a = answers[side]
            if (a === undefined) continue
            try {
              bridge.receive(side, a)
            } catch (e) {
              if (e instanceof NegentropyError) return yield* failure(side, e)
              throw e
            }
          }
          progress.compared = bridge.idsCompared
          yield* copyFound(COPY_BATCH)
        }
      }).pipe(Effect.ensuring(closeSessions))
      progress.phase = "copy"
      yield* copyFound(0)
      return { rounds: progress.rounds, compared: bridge.idsCompared }
    })

    // ---------------------------------------------------------------- REQ windows
    const viaWindows = Effect.gen(function* () {
      progress.phase = "compare"
      const limit = Math.min(500, ...infos.map((i: RelayInfo | undefined) => i?.maxLimit ?? 500))
      const now = Math.floor(Date.now() / 1000)
      const stack: Array<[number, number]> = [[filter.since ?? 0, filter.until ?? now + 600]]
      let windows = 0
      let compared = 0
      let incomplete = 0
      while (stack.length > 0) {
        const [since, until] = stack.pop()!
        windows++
        progress.rounds = windows
        const window = { ...filter, since, until, limit }
        const [a, b] = yield* Effect.all([from.query([window]), to.query([window])], { concurrency: 2 }).pipe(Effect.mapError(fatal))
        const full = a.length >= limit || b.length >= limit
        if (full && since < until) {
          const mid = Math.floor((since + until) / 2)
          stack.push([mid + 1, until], [since, mid])
          continue
        }
        if (full) incomplete++
        const inA = new Set(a.map((e) => e.id))
        const inB = new Set(b.map((e) => e.id))
        compared += new Set([...inA, ...inB]).size
        progress.compared = compared
        forward.held = (forward.held ?? 0) + a.length
        backward.held = (backward.held ?? 0) + b.length
        const aOnly = a.filter((e) => !inB.has(e.id))
        const bOnly = b.filter((e) => !inA.has(e.id))
        forward.missing += aOnly.length
        forward.fetched += aOnly.length
        backward.missing += bOnly.length
        backward.fetched += bOnly.length
        progress.fetched += aOnly.length + (options.both ? bOnly.length : 0)
        yield* publishAll(to, aOnly, forward)
        if (options.both) yield* publishAll(from, bOnly, backward)
      }
      return { rounds: windows, compared, incomplete }
    })

    let fallbackReason: string | undefined
    let outcome: { rounds: number; compared: number; incomplete?: number }
    let used: SyncReport["method"] = "negentropy"
    if (method === "req") {
      used = "req-windows"
      fallbackReason = "asked for (--method req)"
      outcome = yield* viaWindows
    } else {
      const tried = yield* Effect.result(viaNegentropy)
      if (tried._tag === "Success") outcome = tried.success
      else if (tried.failure._tag === "NoNegentropy") {
        used = "req-windows"
        fallbackReason = tried.failure.message
        outcome = yield* viaWindows
      } else return yield* tried.failure
    }
    progress.phase = "done"
    const incompleteWindows = outcome.incomplete ?? 0
    return {
      method: used,
      ...(fallbackReason === undefined ? {} : { fallbackReason }),
      rounds: outcome.rounds,
      compared: outcome.compared,
      incompleteWindows,
      directions,
      seconds: (performance.now() - started) / 1000,
      converged: incompleteWindows === 0 && directions.every((d) => d.notFetched === 0 && Object.keys(d.refused).length === 0)
    } satisfies SyncReport
  })
