/**
 * Keeps one write-policy plugin process running (strfry's plugin model): started once, fed
 * request lines on stdin, answers read from stdout and matched to their request by event id,
 * stderr copied to the relay's log line by line.
 *
 * - A plugin that exits (or cannot be started) is started again after a backoff: 500 ms,
 *   doubling to 30 s while it keeps dying (it died within 30 s of its start). Requests in flight
 *   to it end as "exited"; requests while none runs are refused at once (`send` returns
 *   undefined), so the caller applies its failure setting instead of waiting.
 * - A command without spaces is a path to a script: when the file's modification time changes,
 *   a new process is started for the requests that follow, and the old one finishes the requests
 *   it holds (its stdin is closed; it is ended after `drainMs`). A command with spaces runs
 *   through `/bin/sh -c` and is not watched.
 * - Each process runs in its own process group: stopping it ends what a shell command started too.
 * - A line longer than `maxLineBytes` (on stdout or stderr) ends the process: it is not speaking
 *   the protocol, and an unbounded line would be unbounded memory.
 *
 * Plain callbacks and timers (as storage/postgres/EmbeddedSupervisor.ts): the caller
 * (WritePolicyPlugin.ts) adds bounds, timeouts and the failure setting.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { statSync } from "node:fs"
import { stat } from "node:fs/promises"
import { decodeAnswer, type PluginAnswer } from "./protocol.ts"

/** Delay before the n-th start in a row (n from 0) of a plugin that keeps dying: 500 ms doubling, at most 30 s. */
export const pluginRestartDelayMs = (failuresInARow: number): number => Math.min(30_000, 500 * 2 ** Math.min(failuresInARow, 16))

/** A plugin that ran this long before it died starts its backoff afresh. */
const STABLE_MS = 30_000

/** What became of one request: the plugin's answer, or why there is none. */
export type Outcome = PluginAnswer | { readonly failure: "exited" | "stopped"; readonly reason: string }

export type Lifecycle =
  | { readonly type: "started"; readonly pid: number; readonly generation: number; readonly why: "start" | "restart" | "reload" }
  | { readonly type: "exited"; readonly pid: number | undefined; readonly generation: number; readonly reason: string; readonly restartInMs: number | undefined }
  | { readonly type: "badLine"; readonly line: string; readonly error: string }

export type LogLevel = "info" | "warning" | "error"

export interface PluginSupervisorOptions {
  readonly command: string
  readonly log: (level: LogLevel, message: string) => void
  /** Starts, exits, reloads and unreadable lines: for metrics, logs and tests. */
  readonly onLifecycle?: (event: Lifecycle) => void
  /** Test hook: the backoff (defaults to pluginRestartDelayMs). */
  readonly delayMs?: (failuresInARow: number) => number
  /** How often the script's modification time is checked (0: never); default 1000 ms. */
  readonly reloadCheckMs?: number
  /** How long a replaced process (reload) may take to answer what it holds before it is ended; default 5000 ms. */
  readonly drainMs?: number
  /** Longest line read from the plugin; default 1 MiB. */
  readonly maxLineBytes?: number
}

export interface PluginSupervisor {
  /**
   * Sends one request line (no newline) for event `id`; `done` is called once with its outcome.
   * Returns a function that withdraws the request (a timeout: a later answer is then ignored),
   * or undefined when no plugin process is running (nothing was sent, `done` is not called).
   */
  readonly send: (id: string, line: string, done: (outcome: Outcome) => void) => (() => void) | undefined
  readonly running: () => boolean
  /** Ends the plugin processes and stops restarting them. */
  readonly stop: () => Promise<void>
}

/** A command without whitespace is the path of a script (watched for changes), as in strfry. */
export const isScriptPath = (command: string): boolean => !/\s/.test(command.trim())

const mtimeOf = (path: string): number | undefined => {
  try {
    return statSync(path).mtimeMs
  } catch {
    return undefined
  }
}

/** Splits a stream's text into lines; calls `tooLong` (once) when a line outgrows the bound. */
const lineReader = (maxBytes: number, onLine: (line: string) => void, tooLong: () => void) => {
  let buffer = ""
  let over = false
  return (chunk: string) => {
    if (over) return
    buffer += chunk
    let nl: number
    while ((nl = buffer.indexOf("\n")) !== -1) {
      const line = buffer.slice(0, nl).replace(/\r$/, "")
      buffer = buffer.slice(nl + 1)
      onLine(line)
    }
    if (buffer.length > maxBytes) {
      over = true
      buffer = ""
      tooLong()
    }
  }
}

class PluginProcess {
  /** Requests sent and not answered, by event id; several requests for one id are answered in order. */
  readonly pending = new Map<string, Array<(o: Outcome) => void>>()
  /** False once replaced (reload) or dying: no new requests. */
  open = true
  closed = false
  readonly startedAt = Date.now()
  readonly closedPromise: Promise<void>
  private resolveClosed!: () => void

  readonly child: ChildProcess
  readonly generation: number
  /** The script's modification time when this process was started. */
  readonly mtime: number | undefined

  constructor(child: ChildProcess, generation: number, mtime: number | undefined) {
    this.child = child
    this.generation = generation
    this.mtime = mtime
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve))
  }

  answer(a: PluginAnswer): boolean {
    const waiting = this.pending.get(a.id)
    const done = waiting?.shift()
    if (waiting !== undefined && waiting.length === 0) this.pending.delete(a.id)
    if (done === undefined) return false
    done(a)
    if (!this.open && this.pending.size === 0) this.child.stdin?.end()
    return true
  }

  /** The process is gone: everything it held ends with `reason`. */
  finish(failure: "exited" | "stopped", reason: string) {
    this.open = false
    this.closed = true
    const all = [...this.pending.values()].flat()
    this.pending.clear()
    for (const done of all) done({ failure, reason })
    this.resolveClosed()
  }

  signal(sig: NodeJS.Signals) {
    if (this.closed || this.child.pid === undefined) return
    try {
      // its own process group (detached): what a shell command started ends too
      process.kill(-this.child.pid, sig)
    } catch {
      try {
        this.child.kill(sig)
      } catch {
        // already gone
      }
    }
  }
}

export const startPluginSupervisor = (options: PluginSupervisorOptions): PluginSupervisor => {
  const { command, log } = options
  const delayMs = options.delayMs ?? pluginRestartDelayMs
  const reloadCheckMs = options.reloadCheckMs ?? 1000
  const drainMs = options.drainMs ?? 5000
  const maxLine = options.maxLineBytes ?? 1024 * 1024
  const script = isScriptPath(command) ? command.trim() : undefined
  const lifecycle = options.onLifecycle ?? (() => {})

  let current: PluginProcess | undefined
  const all = new Set<PluginProcess>()
  let generation = 0
  let failuresInARow = 0
  let stopped = false
  let restartTimer: ReturnType<typeof setTimeout> | undefined
  let watchTimer: ReturnType<typeof setInterval> | undefined
  let checking = false

  const launch = (why: "start" | "restart" | "reload") => {
    restartTimer = undefined
    if (stopped) return
    const mtime = script === undefined ? undefined : mtimeOf(script)
    let child: ChildProcess
    try {
      child =
        script !== undefined
          ? spawn(script, [], { stdio: ["pipe", "pipe", "pipe"], detached: true })
          : spawn("/bin/sh", ["-c", command], { stdio: ["pipe", "pipe", "pipe"], detached: true })
    } catch (e) {
      failuresInARow++
      const wait = delayMs(failuresInARow - 1)
      log("error", `write policy plugin could not be run (${e instanceof Error ? e.message : String(e)}); trying again in ${wait} ms`)
      lifecycle({ type: "exited", pid: undefined, generation: ++generation, reason: "could not be run", restartInMs: wait })
      restartTimer = setTimeout(() => launch("restart"), wait)
      return
    }
    const p = new PluginProcess(child, ++generation, mtime)
    all.add(p)
    const previous = current
    current = p
    if (previous !== undefined) retire(previous)

    let ended = false
    const onEnd = (reason: string) => {
      if (ended) return
      ended = true
      all.delete(p)
      const wasCurrent = current === p
      if (wasCurrent) current = undefined
      p.finish(stopped ? "stopped" : "exited", reason)
      if (stopped || !wasCurrent) {
        lifecycle({ type: "exited", pid: child.pid, generation: p.generation, reason, restartInMs: undefined })
        return
      }
      failuresInARow = Date.now() - p.startedAt >= STABLE_MS ? 0 : failuresInARow + 1
      const wait = delayMs(failuresInARow - 1)
      log("warning", `write policy plugin ${child.pid ?? "(not started)"} ${reason}; starting it again in ${wait} ms`)
      lifecycle({ type: "exited", pid: child.pid, generation: p.generation, reason, restartInMs: wait })
      restartTimer = setTimeout(() => launch("restart"), wait)
    }

    child.on("error", (e) => onEnd(`could not be run: ${e.message}`))
    child.on("close", (code, signal) => onEnd(signal !== null ? `was ended by ${signal}` : `exited with code ${code}`))
    child.stdin!.on("error", () => {}) // EPIPE when it died: the close above says so
    child.stdout!.setEncoding("utf8")
    child.stderr!.setEncoding("utf8")
    const tooLong = (stream: string) => () => {
      log("error", `write policy plugin ${child.pid}: a line on ${stream} longer than ${maxLine} bytes; ending it`)
      p.open = false
      p.signal("SIGKILL")
    }
    child.stdout!.on(
      "data",
      lineReader(maxLine, (line) => {
        if (line.trim() === "") return
        const a = decodeAnswer(line)
        if ("error" in a) {
          log("warning", `write policy plugin ${child.pid}: unreadable answer (${a.error}): ${line.slice(0, 200)}`)
          lifecycle({ type: "badLine", line, error: a.error })
        } else if (!p.answer(a)) {
          // a request that timed out meanwhile, or an id it was never asked about
          lifecycle({ type: "badLine", line, error: "no request waits for this id" })
        }
      }, tooLong("stdout"))
    )
    child.stderr!.on("data", lineReader(maxLine, (line) => log("info", `write policy plugin ${child.pid}: ${line}`), tooLong("stderr")))
    if (child.pid !== undefined) {
      log("info", `write policy plugin started (pid ${child.pid}${why === "start" ? "" : `, ${why}`}): ${command}`)
      lifecycle({ type: "started", pid: child.pid, generation: p.generation, why })
    }
  }

  /** A replaced process answers what it holds, then is ended (its stdin closed; killed after drainMs). */
  const retire = (p: PluginProcess) => {
    p.open = false
    if (p.pending.size === 0) p.child.stdin?.end()
    const kill = setTimeout(() => p.signal("SIGTERM"), drainMs)
    kill.unref()
    void p.closedPromise.then(() => clearTimeout(kill))
  }

  const checkForChange = async () => {
    if (checking || stopped || script === undefined) return
    checking = true
    try {
      const now = await stat(script).then((s) => s.mtimeMs, () => undefined)
      const p = current
      if (stopped || now === undefined || p === undefined || now === p.mtime) return
      log("info", `write policy plugin ${script} changed on disk; reloading`)
      launch("reload")
    } finally {
      checking = false
    }
  }

  launch("start")
  if (script !== undefined && reloadCheckMs > 0) {
    watchTimer = setInterval(() => void checkForChange(), reloadCheckMs)
    watchTimer.unref()
  }

  return {
    send: (id, line, done) => {
      const p = current
      if (p === undefined || !p.open || p.closed) return undefined
      let waiting = p.pending.get(id)
      if (waiting === undefined) p.pending.set(id, (waiting = []))
      waiting.push(done)
      p.child.stdin!.write(line + "\n")
      return () => {
        const list = p.pending.get(id)
        if (list === undefined) return
        const i = list.indexOf(done)
        if (i !== -1) list.splice(i, 1)
        if (list.length === 0) p.pending.delete(id)
      }
    },
    running: () => current !== undefined && current.open && !current.closed,
    stop: async () => {
      stopped = true
      if (restartTimer !== undefined) clearTimeout(restartTimer)
      if (watchTimer !== undefined) clearInterval(watchTimer)
      const processes = [...all]
      for (const p of processes) {
        p.open = false
        p.child.stdin?.end()
        p.signal("SIGTERM")
      }
      await Promise.all(
        processes.map((p) =>
          Promise.race([
            p.closedPromise,
            new Promise<void>((resolve) => {
              const t = setTimeout(() => {
                p.signal("SIGKILL")
                resolve()
              }, 2000)
              void p.closedPromise.then(() => clearTimeout(t))
            })
          ])
        )
      )
    }
  }
}
