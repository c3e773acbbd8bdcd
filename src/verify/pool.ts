/**
 * A pool of worker threads that check BIP-340 signatures off the I/O thread.
 *
 * Hand-off: every request (a batch, or one event) is queued, and the queue is
 * flushed once per event-loop turn (setImmediate), so concurrent callers share
 * messages. A flush is cut into chunks (at most MAX_CHUNK events, at least
 * MIN_SPLIT per chunk when spread over several workers), each packed into one
 * ArrayBuffer of 128 bytes per event (id | pubkey | sig) that is transferred,
 * not copied; the answer is a transferred Uint8Array, one byte per event.
 *
 * Failures: a worker that exits is replaced at once and its in-flight chunks
 * are sent again (re-packed from the events); a chunk that has been on
 * MAX_ATTEMPTS dead workers, or any work while no worker can be started or
 * after close, is checked on the calling thread (native backend when it
 * loads, else @noble/curves), so a caller always gets an answer. Idle workers are unref'd: a pool nobody closed does not keep the
 * process alive, but one with work in flight does.
 */
import { Worker } from "node:worker_threads"
import type { NostrEvent } from "../nostr/index.ts"
import { type BackendName, loadNative, PACKED_SIZE, packInto, type VerifyFn } from "./backends.ts"
import { verifyWithNoble } from "./noble.ts"

/** ~12 ms of native work: big flushes are pipelined, so the first answers come back early. */
export const MAX_CHUNK = 256
export const MIN_SPLIT = 32
const MAX_ATTEMPTS = 3
const MAX_FAILED_STARTS = 3

export interface PoolOptions {
  readonly threads: number
  readonly backend: BackendName
  /** How long start-up waits for every worker to load its backend. */
  readonly startTimeoutMs?: number
  /** Called for operational events worth a log line (worker died, fallbacks). */
  readonly onWarning?: (message: string) => void
  /** Test hook: every worker exits when it receives a batch. */
  readonly crashOnBatch?: boolean
}

export interface PoolStats {
  /** Workers currently running. */
  readonly live: number
  /** Workers started in total (replacements included). */
  readonly started: number
  /** Workers whose thread has ended (closed or crashed). */
  readonly exited: number
  /** Workers that exited without being asked to. */
  readonly crashed: number
  /** Messages sent to workers. */
  readonly messages: number
  /** Events checked on the calling thread because no worker could. */
  readonly fallbackEvents: number
}

export interface VerifierPool {
  readonly backend: BackendName
  readonly threads: number
  /** `done` is called exactly once, with one result per event, in order. */
  readonly submit: (events: ReadonlyArray<NostrEvent>, done: (results: Array<boolean>) => void) => void
  readonly stats: () => PoolStats
  /** Test hook: makes worker `index` exit as if it had crashed. */
  readonly crashWorker: (index: number) => void
  /** Terminates every worker; requests still pending are answered on the calling thread. */
  readonly close: () => Promise<void>
}

interface Req {
  readonly results: Array<boolean>
  remaining: number
  readonly done: (results: Array<boolean>) => void
}
interface Item {
  readonly ev: NostrEvent
  readonly req: Req
  readonly idx: number
}
interface Chunk {
  readonly id: number
  readonly items: ReadonlyArray<Item>
  attempts: number
}
interface Slot {
  readonly index: number
  worker: Worker | undefined
  ready: boolean
  readonly inflight: Map<number, Chunk>
  load: number
  failedStarts: number
  referenced: boolean
}

const WORKER_URL = new URL("./worker.ts", import.meta.url)

const complete = (item: Item, valid: boolean): void => {
  const req = item.req
  req.results[item.idx] = valid
  req.remaining -= 1
  if (req.remaining === 0) req.done(req.results)
}

export const createPool = (options: PoolOptions): Promise<VerifierPool> => {
  const threads = Math.max(1, Math.floor(options.threads))
  const warn = options.onWarning ?? (() => {})
  // The calling-thread fallback: the backend the workers use when it loads here, else noble.
  let fallback: VerifyFn | undefined
  const fallbackVerify = (): VerifyFn => {
    if (fallback === undefined) {
      const b = options.backend === "native" ? loadNative() : undefined
      fallback = b?.ok === true ? b.verify : verifyWithNoble
    }
    return fallback
  }

  const slots: Array<Slot> = []
  let pending: Array<Item> = []
  let flushScheduled = false
  let closed = false
  let nextChunkId = 1
  let started = 0
  let crashed = 0
  let exited = 0
  let messages = 0
  let fallbackEvents = 0
  let startup: { resolve: () => void; reject: (e: Error) => void; waiting: number } | undefined

  const verifyHere = (items: ReadonlyArray<Item>): void => {
    if (items.length === 0) return
    fallbackEvents += items.length
    const verify = fallbackVerify()
    const buf = Buffer.allocUnsafe(PACKED_SIZE)
    for (const item of items) {
      const e = item.ev
      complete(item, packInto(buf, 0, e.id, e.pubkey, e.sig) && verify(buf.subarray(0, 32), buf.subarray(64, 128), buf.subarray(32, 64)))
    }
  }

  const setRef = (slot: Slot): void => {
    const w = slot.worker
    if (w === undefined) return
    const want = slot.inflight.size > 0
    if (want !== slot.referenced) {
      slot.referenced = want
      if (want) w.ref()
      else w.unref()
    }
  }

  const send = (slot: Slot, chunk: Chunk): void => {
    const w = slot.worker
    if (w === undefined) {
      verifyHere(chunk.items)
      return
    }
    const buf = Buffer.from(new ArrayBuffer(chunk.items.length * PACKED_SIZE))
    const good: Array<Item> = []
    for (const item of chunk.items) {
      const e = item.ev
      if (packInto(buf, good.length * PACKED_SIZE, e.id, e.pubkey, e.sig)) good.push(item)
      else complete(item, false)
    }
    if (good.length === 0) return
    const sent: Chunk = good.length === chunk.items.length ? chunk : { id: chunk.id, items: good, attempts: chunk.attempts }
    slot.inflight.set(sent.id, sent)
    slot.load += good.length
    setRef(slot)
    messages += 1
    w.postMessage({ t: "v", id: sent.id, n: good.length, buf: buf.buffer }, [buf.buffer])
  }

  const leastLoaded = (): Slot | undefined => {
    let best: Slot | undefined
    for (const s of slots) {
      if (s.worker === undefined) continue
      if (best === undefined || s.load < best.load) best = s
    }
    return best
  }

  const dispatch = (chunk: Chunk): void => {
    const slot = leastLoaded()
    if (slot === undefined) verifyHere(chunk.items)
    else send(slot, chunk)
  }

  const flush = (): void => {
    flushScheduled = false
    const items = pending
    pending = []
    const n = items.length
    if (n === 0) return
    const live = slots.filter((s) => s.worker !== undefined).length
    const chunks = Math.max(Math.ceil(n / MAX_CHUNK), Math.min(Math.max(live, 1), Math.ceil(n / MIN_SPLIT)))
    const size = Math.ceil(n / chunks)
    for (let i = 0; i < n; i += size) {
      dispatch({ id: nextChunkId++, items: items.slice(i, i + size), attempts: 0 })
    }
  }

  const spawn = (slot: Slot): void => {
    const w = new Worker(WORKER_URL, { workerData: { backend: options.backend, crashOnBatch: options.crashOnBatch === true } })
    started += 1
    slot.worker = w
    slot.ready = false
    slot.referenced = true
    w.on("message", (m: { readonly t: string; readonly id?: number; readonly res?: Uint8Array; readonly message?: string }) => {
      if (slot.worker !== w) return
      if (m.t === "r" && m.id !== undefined && m.res !== undefined) {
        const chunk = slot.inflight.get(m.id)
        if (chunk === undefined) return
        slot.inflight.delete(m.id)
        slot.load -= chunk.items.length
        const res = m.res
        for (let i = 0; i < chunk.items.length; i++) complete(chunk.items[i] as Item, res[i] === 1)
        setRef(slot)
      } else if (m.t === "ready") {
        slot.ready = true
        slot.failedStarts = 0
        setRef(slot)
        if (startup !== undefined) {
          startup.waiting -= 1
          if (startup.waiting === 0) {
            const s = startup
            startup = undefined
            s.resolve()
          }
        }
      } else if (m.t === "fatal") {
        const reason = m.message ?? "unknown error"
        if (startup !== undefined) {
          const s = startup
          startup = undefined
          s.reject(new Error(`signature verifier worker could not start: ${reason}`))
        } else {
          warn(`signature verifier worker could not start: ${reason}`)
        }
        void w.terminate()
      }
    })
    w.on("error", (e) => {
      if (slot.worker === w) warn(`signature verifier worker ${slot.index} failed: ${e instanceof Error ? e.message : String(e)}`)
    })
    w.on("exit", (code) => {
      exited += 1
      if (slot.worker !== w) return
      slot.worker = undefined
      const orphans = [...slot.inflight.values()]
      slot.inflight.clear()
      slot.load = 0
      if (closed) {
        for (const c of orphans) verifyHere(c.items)
        return
      }
      crashed += 1
      if (!slot.ready) slot.failedStarts += 1
      if (startup !== undefined) {
        const s = startup
        startup = undefined
        s.reject(new Error(`signature verifier worker exited during start-up (code ${code})`))
        return
      }
      if (slot.failedStarts < MAX_FAILED_STARTS) {
        warn(`signature verifier worker ${slot.index} exited (code ${code}); replacing it, ${orphans.length} batch(es) resent`)
        spawn(slot)
      } else {
        warn(`signature verifier worker ${slot.index} keeps failing to start; running without it`)
      }
      for (const c of orphans) {
        c.attempts += 1
        if (c.attempts >= MAX_ATTEMPTS) {
          warn(`a batch of ${c.items.length} events was on ${c.attempts} workers that died; checking it on the main thread`)
          verifyHere(c.items)
        } else {
          dispatch(c)
        }
      }
    })
  }

  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    if (flushScheduled) flush()
    const ws = slots.map((s) => s.worker).filter((w): w is Worker => w !== undefined)
    // terminate() of an unref'd worker does not keep the process alive (nor
    // does ref() just before it, seen on Node 24): hold the loop open with a
    // timer until every thread has ended, or a caller awaiting close() can see
    // the process exit under it.
    const keepAlive = setInterval(() => {}, 1000)
    try {
      for (const w of ws) w.ref()
      await Promise.all(ws.map((w) => w.terminate()))
    } finally {
      clearInterval(keepAlive)
    }
  }

  const pool: VerifierPool = {
    backend: options.backend,
    threads,
    submit: (events, done) => {
      const n = events.length
      if (n === 0) {
        done([])
        return
      }
      const req: Req = { results: new Array<boolean>(n).fill(false), remaining: n, done }
      if (closed) {
        verifyHere(events.map((ev, idx) => ({ ev, req, idx })))
        return
      }
      for (let idx = 0; idx < n; idx++) pending.push({ ev: events[idx] as NostrEvent, req, idx })
      if (!flushScheduled) {
        flushScheduled = true
        setImmediate(flush)
      }
    },
    stats: () => ({
      live: slots.filter((s) => s.worker !== undefined).length,
      started,
      exited,
      crashed,
      messages,
      fallbackEvents
    }),
    crashWorker: (index) => {
      slots[index]?.worker?.postMessage({ t: "crash" })
    },
    close
  }

  return new Promise<VerifierPool>((resolve, reject) => {
    const timeoutMs = options.startTimeoutMs ?? 30_000
    const timer = setTimeout(() => {
      if (startup !== undefined) {
        const s = startup
        startup = undefined
        s.reject(new Error(`signature verifier workers did not start within ${timeoutMs} ms`))
      }
    }, timeoutMs)
    startup = {
      waiting: threads,
      resolve: () => {
        clearTimeout(timer)
        resolve(pool)
      },
      reject: (e) => {
        clearTimeout(timer)
        void close().then(() => reject(e), () => reject(e))
      }
    }
    for (let i = 0; i < threads; i++) {
      const slot: Slot = { index: i, worker: undefined, ready: false, inflight: new Map(), load: 0, failedStarts: 0, referenced: true }
      slots.push(slot)
      spawn(slot)
    }
  })
}
