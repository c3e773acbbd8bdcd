/**
 * Several relay processes behind one port (`workers`), the way the design
 * seed runs several BEAM nodes: Node's cluster module forks the workers and
 * hands each accepted connection to one of them in turn (round-robin in the
 * primary, so a few long-lived WebSocket connections still spread evenly).
 * Every worker is a whole relay over the shared PostgreSQL store; live events
 * cross between them on the ClusterBus (LISTEN/NOTIFY).
 *
 * The primary relays no traffic. It starts the embedded PostgreSQL when that
 * is the store, forks the workers, restarts one that dies (capped exponential
 * backoff, logged), and on SIGTERM/SIGINT asks every worker to drain and waits
 * for them before stopping PostgreSQL.
 */
import cluster, { type Worker } from "node:cluster"
import { Data, Effect } from "effect"

export class WorkersError extends Data.TaggedError("WorkersError")<{ readonly message: string }> {}

/** Environment variable telling a worker its slot (0..n-1); it keeps its slot across restarts. */
export const SLOT_ENV = "PARRHESIA_WORKER_SLOT"

interface ListeningMessage {
  readonly parrhesia: "listening"
  readonly url: string
}

const isListening = (m: unknown): m is ListeningMessage =>
  typeof m === "object" && m !== null && (m as ListeningMessage).parrhesia === "listening" && typeof (m as ListeningMessage).url === "string"

/** True in a process forked by the primary. */
export const isWorker = (): boolean => cluster.isWorker

/** This worker's slot; 0 when not a worker. Jobs that must run once per relay (mirroring) run in slot 0. */
export const workerSlot = (): number => (cluster.isWorker ? Number(process.env[SLOT_ENV] ?? 0) : 0)

/** In a worker: tells the primary this process accepts connections. */
export const reportListening = (url: string): void => {
  process.send?.({ parrhesia: "listening", url } satisfies ListeningMessage)
}

/**
 * What the primary tells its workers about the embedded PostgreSQL it supervises (storage's
 * ServerReport), so they refuse at once while it is down and count its restarts.
 */
export interface StoreMessage {
  readonly parrhesia: "store"
  readonly state: "up" | "down" | "restarting"
  readonly reason: string
  readonly restarts: number
}

const isStoreMessage = (m: unknown): m is StoreMessage =>
  typeof m === "object" && m !== null && (m as StoreMessage).parrhesia === "store" && typeof (m as StoreMessage).state === "string"

/** In the primary: sends `report` to every running worker. */
export const tellWorkers = (report: Omit<StoreMessage, "parrhesia">): void => {
  for (const w of Object.values(cluster.workers ?? {})) {
    if (w !== undefined && w.isConnected()) w.send({ parrhesia: "store", ...report } satisfies StoreMessage)
  }
}

/** In a worker: calls `f` with each store report of the primary. */
export const onPrimaryStoreReport = (f: (report: StoreMessage) => void): void => {
  process.on("message", (m: unknown) => {
    if (isStoreMessage(m)) f(m)
  })
}

/** Delay before the n-th restart in a row of one slot: 100 ms doubling, at most 30 s. */
export const restartDelayMs = (restartsInARow: number): number => Math.min(30_000, 100 * 2 ** Math.min(restartsInARow, 20))

/** A worker up this long before it died starts its backoff afresh. */
const STABLE_MS = 30_000

export interface SupervisorOptions {
  readonly count: number
  /** Added to every worker's environment (e.g. the embedded PostgreSQL's URL). */
  readonly env: Readonly<Record<string, string>>
  /** How long a draining worker may take after SIGTERM before it is killed. */
  readonly stopTimeoutMs: number
  readonly log: (message: string) => void
  /** Sent to each worker once it listens (a restarted worker learns what it missed, e.g. the store's state). */
  readonly greeting?: () => unknown
}

interface Slot {
  worker: Worker | undefined
  startedAt: number
  restarts: number
  listening: boolean
  timer: ReturnType<typeof setTimeout> | undefined
}

const howItEnded = (code: number | null, signal: string | null) => (signal !== null ? `signal ${signal}` : `exit code ${code}`)

/**
 * Forks `count` workers and supervises them for the scope. Succeeds with the
 * relay's URL once every worker listens; fails if a worker dies before that
 * (a bad setting or an unreachable store fails every worker alike, so
 * restarting would only loop). Closing the scope drains and stops them all.
 */
export const superviseWorkers = (options: SupervisorOptions) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const slots: Array<Slot> = []
      let stopping = false
      let started = false
      let url = ""
      let settle: { ok: (url: string) => void; fail: (e: Error) => void } | undefined
      const ready = new Promise<string>((ok, fail) => (settle = { ok, fail }))
      ready.catch(() => undefined)

      const fork = (i: number) => {
        const slot = slots[i]!
        const worker = cluster.fork({ ...options.env, [SLOT_ENV]: String(i) })
        slot.worker = worker
        slot.startedAt = Date.now()
        slot.listening = false
        slot.timer = undefined
        worker.on("message", (m: unknown) => {
          if (!isListening(m) || slot.listening) return
          slot.listening = true
          url = m.url
          const hello = options.greeting?.()
          if (hello !== undefined && worker.isConnected()) worker.send(hello as object)
          if (started) options.log(`worker ${i} (pid ${worker.process.pid}) is back and listening`)
          else if (slots.every((s) => s.listening)) {
            started = true
            settle!.ok(url)
          }
        })
        worker.on("exit", (code, signal) => {
          if (slot.worker === worker) slot.worker = undefined
          if (stopping) return
          const how = howItEnded(code, signal)
          if (!started) {
            settle!.fail(new Error(`worker ${i} ended during start-up (${how}); its output above says why`))
            return
          }
          if (Date.now() - slot.startedAt >= STABLE_MS) slot.restarts = 0
          const delay = restartDelayMs(slot.restarts++)
          options.log(`worker ${i} (pid ${worker.process.pid}) ended (${how}); restarting it in ${delay} ms`)
          slot.timer = setTimeout(() => fork(i), delay)
        })
      }

      for (let i = 0; i < options.count; i++) {
        slots.push({ worker: undefined, startedAt: 0, restarts: 0, listening: false, timer: undefined })
        fork(i)
      }

      const stop = async () => {
        stopping = true
        const running: Array<Promise<void>> = []
        for (const slot of slots) {
          if (slot.timer !== undefined) clearTimeout(slot.timer)
          const w = slot.worker
          if (w === undefined || w.process.exitCode !== null || w.process.signalCode !== null) continue
          running.push(
            new Promise<void>((done) => {
              w.once("exit", () => done())
              const kill = setTimeout(() => {
                options.log(`worker (pid ${w.process.pid}) did not stop within ${options.stopTimeoutMs} ms; killing it`)
                w.process.kill("SIGKILL")
              }, options.stopTimeoutMs)
              w.once("exit", () => clearTimeout(kill))
              w.process.kill("SIGTERM")
            })
          )
        }
        await Promise.all(running)
      }
      return { ready, stop, pids: () => slots.map((s) => s.worker?.process.pid) }
    }),
    (s) => Effect.promise(s.stop)
  ).pipe(
    Effect.flatMap((s) =>
      Effect.tryPromise({
        try: () => s.ready.then((url) => ({ url, pids: s.pids })),
        catch: (e) => new WorkersError({ message: e instanceof Error ? e.message : String(e) })
      })
    )
  )
