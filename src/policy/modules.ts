/**
 * Policy modules (`policyModules`): the operator's own checks in TypeScript or JavaScript,
 * in-process, beside the built-in ones. A module is a file whose default export is a list of
 * checks of the built-in shapes (types.ts):
 *
 *   - a function `(ctx, event, now) => ...`, or `{ write: (ctx, event, now) => ... }`: a write
 *     check, run on every EVENT after the built-in write rules (so after the signature check)
 *     and before the write-policy plugin;
 *   - `{ read: (ctx, filters) => ... }`: a read check, run on the filters of every REQ, COUNT
 *     and NEG-OPEN after the built-in ones.
 *
 * A check answers as the built-in ones do, with an Effect that succeeds (accept) or fails with
 * a Rejection (nostr/rejections.ts). Modules without dependencies may answer plainly instead:
 * `undefined` accepts, a string rejects (`"blocked: no"`; `blocked:` is added when the string
 * has no NIP-01 prefix), and a Promise of either works too.
 *
 * Loaded once at start, in the listed order; a module that cannot be loaded, or whose default
 * export is not such a list, stops start-up with a ConfigError naming the file. A check that
 * throws, or fails with something that is not a Rejection, refuses that one message with
 * `error:` and is logged: it never ends the connection.
 */
import { existsSync } from "node:fs"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { Effect, Layer } from "effect"
import { ConfigError, RelayConfig } from "../config/RelayConfig.ts"
import { nowSeconds, ServerError, type Filter, type NostrEvent, type Rejection } from "../nostr/index.ts"
import { rejectionOf } from "./plugin/protocol.ts"
import { Policy, runAll, type PolicyShape } from "./Policy.ts"
import type { ReadCheck, RequestContext, WriteCheck } from "./types.ts"

const pass = Effect.void

/** What a module's check may return: an Effect (the built-in shape), or plainly undefined / a string / a Promise of those. */
export type CheckResult = Effect.Effect<unknown, unknown> | undefined | void | string | PromiseLike<undefined | void | string>

export type ModuleWriteCheck = (ctx: RequestContext, event: NostrEvent, now: number) => CheckResult
export type ModuleReadCheck = (ctx: RequestContext, filters: ReadonlyArray<Filter>) => CheckResult

/** One entry of a module's default export. */
export type ModuleEntry = ModuleWriteCheck | { readonly write: ModuleWriteCheck } | { readonly read: ModuleReadCheck }

export interface PolicyModules {
  readonly write: ReadonlyArray<WriteCheck>
  readonly read: ReadonlyArray<ReadCheck>
}

const PREFIXES = new Set(["invalid", "duplicate", "blocked", "rate-limited", "pow", "restricted", "auth-required", "mute", "unsupported", "error"])

const isRejection = (u: unknown): u is Rejection =>
  typeof u === "object" && u !== null && PREFIXES.has((u as { prefix?: unknown }).prefix as string) && typeof (u as { message?: unknown }).message === "string"

const describe = (u: unknown): string => (u instanceof Error ? u.message : typeof u === "string" ? u : JSON.stringify(u) ?? String(u))

/** Turns whatever one check gave into the built-in shape; `where` names the check in messages. */
const normalize = (where: string) => {
  const broken = (what: string, cause: unknown): Effect.Effect<never, Rejection> =>
    Effect.andThen(
      Effect.logError(`policy module ${where}: ${what}: ${describe(cause)}`),
      Effect.fail(new ServerError({ message: `a policy module failed (${where})` }))
    )
  const fromValue = (v: unknown): Effect.Effect<void, Rejection> => {
    if (v === undefined || v === null || v === pass) return pass
    if (typeof v === "string") return Effect.fail(rejectionOf(v))
    if (Effect.isEffect(v)) return fromEffect(v as Effect.Effect<unknown, unknown>)
    if (typeof (v as PromiseLike<unknown>).then === "function") {
      return Effect.tryPromise({ try: () => Promise.resolve(v as PromiseLike<unknown>), catch: (e) => e }).pipe(
        Effect.matchEffect({ onFailure: fromFailure, onSuccess: fromValue })
      )
    }
    return broken("returned something that is not a check result", v)
  }
  const fromFailure = (e: unknown): Effect.Effect<never, Rejection> =>
    isRejection(e) ? Effect.fail(e) : typeof e === "string" ? Effect.fail(rejectionOf(e)) : broken("failed", e)
  const fromEffect = (e: Effect.Effect<unknown, unknown>): Effect.Effect<void, Rejection> =>
    e.pipe(
      Effect.matchEffect({ onFailure: fromFailure, onSuccess: fromValue }),
      Effect.catchDefect((d) => broken("threw", d))
    )
  /** Runs one call of the check, catching what it throws synchronously. */
  return (call: () => unknown): Effect.Effect<void, Rejection> => {
    let v: unknown
    try {
      v = call()
    } catch (e) {
      return broken("threw", e)
    }
    return fromValue(v)
  }
}

const loadError = (path: string, why: string) => new ConfigError({ message: `setting "policyModules": ${path}: ${why}` })

/** Imports one module and checks its default export; the checks come back in the built-in shapes. */
export const loadPolicyModule = (path: string, cwd: string = process.cwd()): Effect.Effect<PolicyModules, ConfigError> =>
  Effect.gen(function* () {
    const file = resolve(cwd, path)
    if (!existsSync(file)) return yield* loadError(path, `no such file (${file})`)
    const loaded = yield* Effect.tryPromise({
      try: () => import(pathToFileURL(file).href) as Promise<{ readonly default?: unknown }>,
      catch: (e) => loadError(path, `cannot be loaded: ${describe(e)}`)
    })
    const list = loaded.default
    if (!Array.isArray(list)) {
      return yield* loadError(path, `its default export must be a list of checks, got ${list === undefined ? "no default export" : typeof list}`)
    }
    const write: Array<WriteCheck> = []
    const read: Array<ReadCheck> = []
    for (const [i, entry] of list.entries()) {
      const name = typeof entry === "function" && entry.name !== "" ? entry.name : typeof entry === "object" && entry !== null && typeof entry.name === "string" ? entry.name : `#${i}`
      const guard = normalize(`${path}, check ${name}`)
      if (typeof entry === "function") {
        const f = entry as ModuleWriteCheck
        write.push((ctx, e, now) => guard(() => f(ctx, e, now)))
      } else if (typeof entry === "object" && entry !== null && typeof entry.write === "function") {
        const f = entry.write as ModuleWriteCheck
        write.push((ctx, e, now) => guard(() => f(ctx, e, now)))
      } else if (typeof entry === "object" && entry !== null && typeof entry.read === "function") {
        const f = entry.read as ModuleReadCheck
        read.push((ctx, filters) => guard(() => f(ctx, filters)))
      } else {
        return yield* loadError(path, `entry ${i} of its default export is not a check (a function (ctx, event, now), { write: (ctx, event, now) => ... } or { read: (ctx, filters) => ... })`)
      }
    }
    return { write, read }
  })

/** Every module, in order. */
export const loadPolicyModules = (paths: ReadonlyArray<string>, cwd?: string): Effect.Effect<PolicyModules, ConfigError> =>
  Effect.map(Effect.forEach(paths, (p) => loadPolicyModule(p, cwd)), (all) => ({
    write: all.flatMap((m) => m.write),
    read: all.flatMap((m) => m.read)
  }))

/** A Policy whose write and read rules end with the modules' checks. */
export const withModules = (base: PolicyShape, modules: PolicyModules): PolicyShape => {
  if (modules.write.length === 0 && modules.read.length === 0) return base
  const write = runAll(modules.write)
  const read = runAll(modules.read)
  const moduleWrites = (ctx: RequestContext, e: NostrEvent) => Effect.flatMap(nowSeconds, (now) => write(ctx, e, now))
  return {
    ...base,
    checkWrite:
      modules.write.length === 0
        ? base.checkWrite
        : (ctx, e) => {
            const first = base.checkWrite(ctx, e)
            return first === pass ? moduleWrites(ctx, e) : Effect.andThen(first, moduleWrites(ctx, e))
          },
    checkRead:
      modules.read.length === 0
        ? base.checkRead
        : (ctx, filters) => {
            const first = base.checkRead(ctx, filters)
            return first === pass ? read(ctx, filters) : Effect.andThen(first, read(ctx, filters))
          }
  }
}

/** The Policy below it (Policy.layer) with the modules `policyModules` names added. */
export const layerPolicyModules = Layer.effect(
  Policy,
  Effect.gen(function* () {
    const base = yield* Policy
    const config = yield* RelayConfig
    if (config.policyModules.length === 0) return base
    const modules = yield* loadPolicyModules(config.policyModules)
    yield* Effect.logInfo(`policy modules loaded: ${config.policyModules.join(", ")} (${modules.write.length} write, ${modules.read.length} read checks)`)
    return Policy.of(withModules(base, modules))
  })
)
