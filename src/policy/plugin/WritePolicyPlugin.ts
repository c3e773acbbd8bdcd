/**
 * The write-policy plugin (`writePolicyPlugin`): strfry's plugin protocol over a supervised
 * child process (supervisor.ts; the lines in protocol.ts). Ingest asks it about every event
 * after the relay's own checks (limits, id, signature, Policy's write rules) and before storage,
 * whatever the event's source: a client EVENT (IP4/IP6), a mirrored one (Stream), a catch-up
 * (Sync) or an import (Import).
 *
 * - accept: the event goes on to storage (the relay's later checks still apply);
 * - reject: OK false with the plugin's message (`blocked:` added when it has no NIP-01 prefix);
 * - shadowReject: OK true, and the event is neither stored nor sent to subscribers.
 *
 * In flight at most `maxInFlight` events; each waits at most `timeoutMs` (for a slot and the
 * answer). Without an answer (timeout, the plugin not running or exiting while holding the
 * event) `failure` decides: reject (`error:`, the default) or accept.
 *
 * A Reference: without a layer, no plugin (every event accepted here), so the pipelines and
 * their tests need not know about it.
 */
import { accessSync, constants } from "node:fs"
import { delimiter, join } from "node:path"
import { Context, Effect, Layer, Metric, Option, Semaphore } from "effect"
import { ConfigError, RelayConfig } from "../../config/RelayConfig.ts"
import { nowSeconds, ServerError, type NostrEvent, type Rejection } from "../../nostr/index.ts"
import * as M from "../../observability/metrics.ts"
import { sourceOf } from "../source.ts"
import type { RequestContext } from "../types.ts"
import { encodeRequest, rejectionOf } from "./protocol.ts"
import { isScriptPath, startPluginSupervisor, type Lifecycle, type LogLevel, type Outcome } from "./supervisor.ts"

/** What may happen to an event the plugin did not refuse. */
export type PluginVerdict = "accept" | "shadowReject"

export interface WritePolicyPluginShape {
  readonly enabled: boolean
  /** The plugin's verdict on one event; a `reject` (or a failure under `failure: reject`) fails with the rejection. */
  readonly check: (ctx: RequestContext, event: NostrEvent) => Effect.Effect<PluginVerdict, Rejection>
}

const accepted: Effect.Effect<PluginVerdict> = Effect.succeed("accept")

const none: WritePolicyPluginShape = { enabled: false, check: () => accepted }

export const WritePolicyPlugin = Context.Reference<WritePolicyPluginShape>("parrhesia/policy/WritePolicyPlugin", {
  defaultValue: () => none
})

export interface WritePolicyPluginOptions {
  readonly command: string
  readonly timeoutMs: number
  readonly maxInFlight: number
  readonly failure: "reject" | "accept"
  /** Test hooks and tuning (supervisor.ts). */
  readonly onLifecycle?: (event: Lifecycle) => void
  readonly delayMs?: (failuresInARow: number) => number
  readonly reloadCheckMs?: number
  readonly drainMs?: number
}

/** Why the command cannot be run (a script path must name an executable file), or undefined. */
export const commandProblem = (command: string, env: Readonly<Record<string, string | undefined>> = process.env): string | undefined => {
  if (command.trim() === "") return "the command is empty"
  if (!isScriptPath(command)) return undefined // a shell command: the shell says what is wrong, in the log
  const path = command.trim()
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK)
      return true
    } catch {
      return false
    }
  }
  if (path.includes("/")) {
    try {
      accessSync(path, constants.F_OK)
    } catch {
      return `${path} does not exist`
    }
    return executable(path) ? undefined : `${path} is not executable (chmod a+x ${path})`
  }
  const dirs = (env["PATH"] ?? "").split(delimiter).filter((d) => d !== "")
  return dirs.some((d) => executable(join(d, path))) ? undefined : `${path} is not an executable in PATH (a script in this folder is ./${path})`
}

const logAt = (level: LogLevel, message: string): Effect.Effect<void> =>
  level === "error" ? Effect.logError(message) : level === "warning" ? Effect.logWarning(message) : Effect.logInfo(message)

/** Starts the plugin (scoped: stopped with the scope) and answers for it. */
export const make = (options: WritePolicyPluginOptions) =>
  Effect.gen(function* () {
    const problem = commandProblem(options.command)
    if (problem !== undefined) return yield* new ConfigError({ message: `setting "writePolicyPlugin": ${problem}` })
    const services = yield* Effect.context<never>()
    const run = Effect.runForkWith(services)
    const supervisor = yield* Effect.acquireRelease(
      Effect.sync(() =>
        startPluginSupervisor({
          command: options.command,
          log: (level, message) => void run(logAt(level, message)),
          onLifecycle: (event) => {
            if (event.type === "started") {
              run(Effect.andThen(Metric.update(M.pluginUp, 1), event.why === "start" ? Effect.void : Metric.update(M.pluginRestarts(event.why === "reload" ? "reloaded" : "exited"), 1)))
            } else if (event.type === "exited") run(Metric.update(M.pluginUp, 0))
            options.onLifecycle?.(event)
          },
          ...(options.delayMs !== undefined ? { delayMs: options.delayMs } : {}),
          ...(options.reloadCheckMs !== undefined ? { reloadCheckMs: options.reloadCheckMs } : {}),
          ...(options.drainMs !== undefined ? { drainMs: options.drainMs } : {})
        })
      ),
      (s) => Effect.promise(() => s.stop())
    )
    const slots = yield* Semaphore.make(options.maxInFlight)

    /** One request to the plugin; resolves with the answer or why there is none. */
    const ask = (event: NostrEvent, receivedAt: number, ctx: RequestContext) =>
      Effect.callback<Outcome | "unavailable">((resume) => {
        const withdraw = supervisor.send(event.id, encodeRequest(event, receivedAt, sourceOf(ctx)), (o) => resume(Effect.succeed(o)))
        if (withdraw === undefined) return resume(Effect.succeed("unavailable"))
        return Effect.sync(withdraw)
      })

    /** No answer: the failure setting decides. */
    const failed = (outcome: "timeout" | "unavailable", why: string): Effect.Effect<PluginVerdict, Rejection> =>
      Effect.andThen(
        Metric.update(M.pluginCalls(outcome), 1),
        options.failure === "accept" ? accepted : Effect.fail(new ServerError({ message: `the write policy plugin ${why}` }))
      )

    const check = (ctx: RequestContext, event: NostrEvent): Effect.Effect<PluginVerdict, Rejection> =>
      Effect.gen(function* () {
        const receivedAt = yield* nowSeconds
        const started = Date.now()
        const answer = yield* slots.withPermit(ask(event, receivedAt, ctx)).pipe(Effect.timeoutOption(options.timeoutMs))
        if (Option.isNone(answer)) {
          yield* Metric.update(M.pluginTimeouts, 1)
          return yield* failed("timeout", `did not answer within ${options.timeoutMs} ms`)
        }
        const o = answer.value
        if (o === "unavailable") return yield* failed("unavailable", "is not running (it is being restarted)")
        if ("failure" in o) return yield* failed("unavailable", `${o.reason} before answering`)
        yield* Metric.update(M.pluginSeconds, (Date.now() - started) / 1000)
        yield* Metric.update(M.pluginCalls(o.action), 1)
        if (o.action === "accept") return "accept" as const
        yield* Metric.update(M.pluginRejections(o.action), 1)
        if (o.action === "shadowReject") return "shadowReject" as const
        return yield* Effect.fail(rejectionOf(o.msg))
      })

    return WritePolicyPlugin.of({ enabled: true, check })
  })

export const layer = (options: WritePolicyPluginOptions) => Layer.effect(WritePolicyPlugin, make(options))

/** The plugin `writePolicyPlugin` names, or none. */
export const layerFromConfig = Layer.unwrap(
  Effect.map(RelayConfig, (s) =>
    s.writePolicyPlugin === ""
      ? Layer.empty
      : layer({
          command: s.writePolicyPlugin,
          timeoutMs: s.writePolicyPluginTimeoutMs,
          maxInFlight: s.writePolicyPluginMaxInFlight,
          failure: s.writePolicyPluginFailure as "reject" | "accept"
        })
  )
)
