/**
 * Policy modules (policyModules): loaded from files at start, their checks run after the
 * built-in ones on EVENTs and on REQ/COUNT filters; a module that cannot be loaded stops
 * start-up with a message naming it; a check that breaks refuses one message with error:.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { Blocked, reasonOf, type Filter, type Rejection } from "../../src/nostr/index.ts"
import { loadPolicyModule, loadPolicyModules, withModules } from "../../src/policy/modules.ts"
import { Policy } from "../../src/policy/Policy.ts"
import type { RequestContext } from "../../src/policy/types.ts"
import { makeEvent } from "../support/nostr.ts"
import { startRelay } from "../support/relay.ts"
import { connect, now, publish, req } from "../support/ws.ts"

const dir = mkdtempSync(join(tmpdir(), "parrhesia-modules-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

const ctx: RequestContext = { connectionId: 1, ip: "203.0.113.9", authenticated: new Set() }
const outcome = (e: Effect.Effect<void, Rejection>) =>
  Effect.runPromise(Effect.match(e, { onFailure: reasonOf, onSuccess: () => "accept" }))
const loadError = (e: Effect.Effect<unknown, { readonly message: string }>) =>
  Effect.runPromise(Effect.match(e, { onFailure: (err) => err.message, onSuccess: () => "loaded" }))

/** Plain JavaScript, no imports: answers with undefined, strings and Promises. */
const PLAIN_JS = `
export default [
  function noDms(ctx, event) { return event.kind === 4 ? "no DMs here" : undefined },
  { write: async (ctx, event, now) => (event.content === "from the future" && event.created_at > now ? "invalid: not yet" : undefined) },
  { name: "noSearch", read: (ctx, filters) => (filters.some((f) => f.search !== undefined) ? "restricted: no search" : undefined) },
  function throws(ctx, event) { if (event.content === "boom") throw new Error("kaboom"); },
  function failsOddly(ctx, event) { return event.content === "odd" ? Promise.reject(42) : undefined }
]
`

/** TypeScript (types stripped) using the built-in shapes: Effects and typed rejections. */
const TYPED_TS = (root: string) => `
import { Effect } from "${root}/node_modules/effect/dist/index.js"
import { Blocked, Pow } from "${root}/src/nostr/index.ts"
import type { WriteCheck } from "${root}/src/policy/types.ts"

const shortNotes: WriteCheck = (_ctx, event) =>
  event.kind === 1 && event.content.length > 20 ? Effect.fail(new Blocked({ message: "notes here are short" })) : Effect.void

// a typed rejection returned, not failed: it is an Effect that fails, so it works as well
const noSevens = (_ctx: unknown, event: { kind: number }) => (event.kind === 7 ? new Pow({ message: "reactions need work" }) : Effect.void)

export default [shortNotes, { write: noSevens }]
`
const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "")

describe("loading policy modules", () => {
  it("a JavaScript module answering plainly: undefined accepts, a string rejects (blocked: added), Promises too; read checks see the filters", async () => {
    const m = await Effect.runPromise(loadPolicyModule(file("plain.js", PLAIN_JS)))
    expect([m.write.length, m.read.length]).toEqual([4, 1])
    const policy = withModules(Policy.make({ limits: [], write: [], read: [] }), m)
    expect(await outcome(policy.checkWrite(ctx, makeEvent({ kind: 1 })))).toBe("accept")
    expect(await outcome(policy.checkWrite(ctx, makeEvent({ kind: 4 })))).toBe("blocked: no DMs here")
    expect(await outcome(policy.checkWrite(ctx, makeEvent({ content: "from the future", created_at: now() + 3600 })))).toBe("invalid: not yet")
    expect(await outcome(policy.checkRead(ctx, [{ kinds: [1] }]))).toBe("accept")
    expect(await outcome(policy.checkRead(ctx, [{ kinds: [1] }, { search: "x" } as Filter]))).toBe("restricted: no search")
  })

  it("a check that throws or fails with something else refuses that event with error: (and nothing else breaks)", async () => {
    const policy = withModules(Policy.make({ limits: [], write: [], read: [] }), await Effect.runPromise(loadPolicyModule(file("plain.js", PLAIN_JS))))
    expect(await outcome(policy.checkWrite(ctx, makeEvent({ content: "boom" })))).toMatch(/^error: a policy module failed \(.*plain\.js, check throws\)$/)
    expect(await outcome(policy.checkWrite(ctx, makeEvent({ content: "odd" })))).toMatch(/^error: a policy module failed \(.*plain\.js, check failsOddly\)$/)
    expect(await outcome(policy.checkWrite(ctx, makeEvent({ content: "fine" })))).toBe("accept")
  })

  it("a TypeScript module with the built-in shapes: Effects and typed rejections, after the built-in rules", async () => {
    const m = await Effect.runPromise(loadPolicyModule(file("typed.ts", TYPED_TS(ROOT))))
    const builtIn = Policy.make({ limits: [], write: [(_c, e) => (e.kind === 9 ? Effect.fail(new Blocked({ message: "built-in first" })) : Effect.void)], read: [] })
    const policy = withModules(builtIn, m)
    expect(await outcome(policy.checkWrite(ctx, makeEvent({ content: "short" })))).toBe("accept")
    expect(await outcome(policy.checkWrite(ctx, makeEvent({ content: "a note that is rather too long" })))).toBe("blocked: notes here are short")
    expect(await outcome(policy.checkWrite(ctx, makeEvent({ kind: 7 })))).toBe("pow: reactions need work")
    expect(await outcome(policy.checkWrite(ctx, makeEvent({ kind: 9 })))).toBe("blocked: built-in first")
  })

  it("refuses at start, naming the file: missing, not loadable, no list, an entry that is not a check", async () => {
    expect(await loadError(loadPolicyModules(["no/such/module.ts"], dir))).toBe(`setting "policyModules": no/such/module.ts: no such file (${join(dir, "no/such/module.ts")})`)
    const broken = file("broken.js", "export default [ (ctx, event) => { return \n")
    expect(await loadError(loadPolicyModule(broken))).toMatch(new RegExp(`^setting "policyModules": ${broken}: cannot be loaded: `))
    expect(await loadError(loadPolicyModule(file("object.js", "export default { write: [] }")))).toMatch(/its default export must be a list of checks, got object$/)
    expect(await loadError(loadPolicyModule(file("none.js", "export const checks = []")))).toMatch(/its default export must be a list of checks, got no default export$/)
    expect(await loadError(loadPolicyModule(file("entry.js", "export default [() => undefined, 42]")))).toMatch(/entry 1 of its default export is not a check/)
  })
})

describe("policy modules in the relay", () => {
  it("EVENTs and REQs get the modules' answers", async () => {
    const relay = await startRelay({ store: "memory", policyModules: [file("plain.js", PLAIN_JS)] })
    try {
      const c = await connect(relay.url)
      expect(await publish(c, makeEvent({ kind: 4, created_at: now() }))).toEqual({ accepted: false, message: "blocked: no DMs here" })
      expect((await publish(c, makeEvent({ content: "boom", created_at: now() }))).message).toMatch(/^error: a policy module failed/)
      expect((await publish(c, makeEvent({ content: "fine", created_at: now() }))).accepted).toBe(true)
      expect((await req(c, "s", { search: "fine" })).end).toEqual({ type: "CLOSED", message: "restricted: no search" })
      expect((await req(c, "k", { kinds: [1] })).events.map((e) => e.content)).toEqual(["fine"])
      await c.close()
    } finally {
      await relay.close()
    }
  })

  it("a module that cannot be loaded stops start-up with a clear message", async () => {
    const broken = file("broken.js", "export default [ (ctx, event) => { return \n")
    await expect(startRelay({ store: "memory", policyModules: [broken] })).rejects.toThrow(`setting "policyModules": ${broken}: cannot be loaded`)
  })
})
