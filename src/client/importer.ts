/**
 * The core of `parrhesia import`: JSON lines in, each event through the
 * relay's own write pipeline (Ingest: limits, id, signature, policy and the
 * write-policy plugin with the source marked `Import`, NIP-01 storage rules,
 * deletions and requests to vanish applied) and a tally out.
 *
 * Why it is fast enough without a second pipeline: many events are in flight
 * at once (bounded), so the signature checks of one event-loop turn go to the
 * verifier's worker threads as one batch, and the store's group-commit writer
 * commits the puts of many events in one transaction. Reading pauses while
 * the in-flight count is at its bound, so memory stays flat whatever the size.
 *
 * Order where it matters: a deletion request (kind 5) or a request to vanish
 * (kind 62) waits until every event read before it is settled, and runs
 * alone, so it applies to them as it would have on the relay that wrote the
 * file (oldest first); replaceable versions need no order (the store keeps the
 * NIP-01 winner whatever the order of arrival).
 *
 * What a line can be: blank (skipped), not JSON or not an event (malformed,
 * with its line number), an ephemeral event (skipped: relays never store
 * them, and an old one must not reach live subscribers), or an event, which
 * the pipeline stores, finds duplicate, superseded, or refuses with a reason.
 * An import interrupted and run again goes on where it stopped: what it had
 * stored comes back as duplicates, found by one query per batch of lines
 * (`storedIds`) rather than by checking each signature again.
 */
import { Effect } from "effect"
import { Duplicate, isEphemeral, parseEventShape, type NostrEvent } from "../nostr/index.ts"
import { Ingest, type IngestShape, type OkAnswer } from "../ingest/Ingest.ts"
import type { EventSource, RequestContext } from "../policy/Policy.ts"
import { importSource } from "../policy/source.ts"
import { EventStore } from "../storage/EventStore.ts"
import type { LineSource } from "./jsonLines.ts"

const DELETION_KIND = 5
const VANISH_KIND = 62

/** Malformed lines listed by number in the tally (all are counted). */
export const MALFORMED_LISTED = 100
/** Distinct refusal reasons kept (the rest are counted under "other reasons"). */
const MAX_REASONS = 50

export interface ImportTally {
  /** Lines read, blank ones included. */
  lines: number
  /** Events read (lines that are events). */
  events: number
  stored: number
  /** Already stored (same id). */
  duplicate: number
  /** Older than the stored version of their replaceable/addressable address. */
  superseded: number
  /** Ephemeral kinds: never stored, skipped. */
  ephemeral: number
  /** Refused by the pipeline, by `prefix: message`. */
  readonly refused: Map<string, number>
  refusedTotal: number
  /** Lines that are not JSON or not an event. */
  malformed: number
  /** The first MALFORMED_LISTED of them. */
  readonly malformedLines: Array<{ readonly line: number; readonly reason: string }>
  /** Whether the import stopped before the end of its input (interrupted). */
  stopped: boolean
}

export const newTally = (): ImportTally => ({
  lines: 0,
  events: 0,
  stored: 0,
  duplicate: 0,
  superseded: 0,
  ephemeral: 0,
  refused: new Map(),
  refusedTotal: 0,
  malformed: 0,
  malformedLines: [],
  stopped: false
})

export interface ImportOptions {
  /** What the events come from (the plugin's `sourceInfo`): the file, or "" for stdin. */
  readonly info: string
  /** Events in the pipeline at once (at least 1). */
  readonly maxInFlight?: number
  /** Counted into as the import goes (progress reads it). */
  readonly tally?: ImportTally
  /** Stops reading when aborted; what is in flight is finished. */
  readonly signal?: AbortSignal
}

const OTHER_REASONS = "(other reasons)"

const record = (t: ImportTally, a: OkAnswer) => {
  if (a.accepted) {
    if (a.result === "duplicate") t.duplicate++
    else t.stored++
    return
  }
  if (a.rejection instanceof Duplicate) {
    t.superseded++
    return
  }
  t.refusedTotal++
  const reason = t.refused.has(a.message) || t.refused.size < MAX_REASONS ? a.message : OTHER_REASONS
  t.refused.set(reason, (t.refused.get(reason) ?? 0) + 1)
}

const malformed = (t: ImportTally, line: number, reason: string) => {
  t.malformed++
  if (t.malformedLines.length < MALFORMED_LISTED) t.malformedLines.push({ line, reason })
}

/** What the import needs of the relay: its write pipeline, and the store's `storedIds` for the resume check. */
interface Deps {
  readonly ingest: IngestShape
  /** Of these ids, those stored already; undefined when the store could not say. */
  readonly storedIds: (ids: ReadonlyArray<string>) => Promise<ReadonlySet<string> | undefined>
  /** Starts one pipeline run (a fiber in the caller's context). */
  readonly fork: (e: Effect.Effect<OkAnswer>) => { readonly addObserver: (cb: (exit: { readonly _tag: string; readonly value?: unknown }) => void) => unknown }
}

/** Batches between two resume checks grow up to this while checks find nothing stored. */
const MAX_CHECK_GAP = 64

/**
 * Runs the import; resolves with the tally once every event read has been settled.
 *
 * The resume check: an import run again after an interruption reads first what it stored
 * already. Each batch of lines is checked against the store (`storedIds`, one query) while
 * checks find stored events: those are counted as duplicates without a signature check. A
 * check that finds none doubles the gap to the next (up to MAX_CHECK_GAP batches), so a
 * fresh import pays for a handful of queries.
 */
const run = async (deps: Deps, source: LineSource, options: ImportOptions): Promise<ImportTally> => {
  const { ingest, fork } = deps
  const t = options.tally ?? newTally()
  const maxInFlight = Math.max(1, options.maxInFlight ?? 4096)
  const resumeAt = Math.max(1, Math.floor(maxInFlight / 2))
  const src: EventSource = importSource(options.info)
  let inFlight = 0
  let waiting: { readonly below: number; readonly wake: () => void } | undefined

  const settled = (exit: { readonly _tag: string; readonly value?: unknown }) => {
    inFlight--
    // Ingest never fails; a defect (a bug) is counted as a refusal rather than lost.
    if (exit._tag === "Success") record(t, exit.value as OkAnswer)
    else record(t, { id: "", accepted: false, message: "error: the pipeline failed on this event", result: "error" })
    if (waiting !== undefined && inFlight <= waiting.below) {
      const w = waiting
      waiting = undefined
      w.wake()
    }
  }
  const until = (below: number) =>
    inFlight <= below ? Promise.resolve() : new Promise<void>((wake) => (waiting = { below, wake }))

  const start = (raw: object, pubkey: string) => {
    // As a client EVENT from a connection authenticated as the event's author: the operator vouches
    // for the file, so AUTH-gated rules (auth for writes, NIP-70) see the author; every other rule applies.
    const ctx: RequestContext = { connectionId: -1, ip: "", authenticated: new Set([pubkey]), source: src }
    inFlight++
    fork(ingest.handle(raw, ctx)).addObserver(settled)
  }

  /** The events of one batch of lines; blank, malformed and ephemeral lines counted here. */
  const parse = (batch: ReadonlyArray<string>): Array<{ readonly raw: object; readonly e: NostrEvent }> => {
    const out: Array<{ readonly raw: object; readonly e: NostrEvent }> = []
    for (const text of batch) {
      const lineNo = ++t.lines
      if (text.length === 0 || text.trim().length === 0) continue
      let raw: unknown
      try {
        raw = JSON.parse(text)
      } catch {
        malformed(t, lineNo, "not JSON")
        continue
      }
      const shape = parseEventShape(raw)
      if ("error" in shape) {
        malformed(t, lineNo, shape.error)
        continue
      }
      t.events++
      if (isEphemeral(shape.event.kind)) t.ephemeral++
      else out.push({ raw: raw as object, e: shape.event })
    }
    return out
  }

  let batchNo = 0
  let nextCheck = 0
  let checkGap = 1
  /** The events of the batch not stored yet (the others counted as duplicates), when a resume check is due. */
  const unstored = async (events: Array<{ readonly raw: object; readonly e: NostrEvent }>) => {
    if (batchNo++ !== nextCheck || events.length === 0) return events
    const stored = await deps.storedIds(events.map((x) => x.e.id))
    const found = stored === undefined ? 0 : events.reduce((n, x) => n + (stored.has(x.e.id) ? 1 : 0), 0)
    checkGap = found > 0 ? 1 : Math.min(MAX_CHECK_GAP, checkGap * 2)
    nextCheck = batchNo - 1 + checkGap
    if (found === 0) return events
    t.duplicate += found
    return events.filter((x) => !stored!.has(x.e.id))
  }

  const readAll = async () => {
    for await (const batch of source.batches) {
      for (const { raw, e } of await unstored(parse(batch))) {
        if (e.kind === DELETION_KIND || e.kind === VANISH_KIND) {
          await until(0)
          start(raw, e.pubkey)
          await until(0)
          continue
        }
        start(raw, e.pubkey)
        if (inFlight >= maxInFlight) await until(resumeAt)
      }
      if (options.signal?.aborted === true) {
        t.stopped = true
        return
      }
    }
  }

  try {
    await readAll()
  } finally {
    // Also when reading failed: what was started is settled (and counted) before the caller goes on.
    await until(0)
  }
  return t
}

/** Imports the lines of `source` through the relay's write pipeline; the tally when every event is settled. */
export const importLines = (source: LineSource, options: ImportOptions): Effect.Effect<ImportTally, unknown, Ingest | EventStore> =>
  Effect.gen(function* () {
    const ingest = yield* Ingest
    const store = yield* EventStore
    const context = yield* Effect.context<never>()
    const deps: Deps = {
      ingest,
      fork: Effect.runForkWith(context),
      storedIds: (ids) => Effect.runPromiseWith(context)(store.storedIds(ids).pipe(Effect.orElseSucceed(() => undefined)))
    }
    return yield* Effect.tryPromise({ try: () => run(deps, source, options), catch: (e) => e })
  })
