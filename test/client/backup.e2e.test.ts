/**
 * `parrhesia backup` against relay processes: a user's relay list (kind
 * 10002) on a bootstrap relay names three write relays, one with NIP-77, one
 * without (REQ windows), one where nothing listens; the destination ends up
 * holding exactly the user's events (and their newest relay list), the table
 * says which relay was reached and what it brought, and the exit code is
 * sync's for an unreachable relay. With --mentions, events tagging the user
 * come from their read relays only. Defaults from the settings, and the
 * failures that stop a backup before it starts.
 */
import { createServer } from "node:net"
import { nip19 } from "nostr-tools"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { makeEvent, newKey, T0 } from "../support/nostr.ts"
import { runCli, startRelayProcess, type RelayProcess } from "../support/processes.ts"
import { publishAll, storedIds } from "../support/ws.ts"

const sorted = (events: ReadonlyArray<NostrEvent>) => events.map((e) => e.id).sort()
/** A port nothing listens on: taken from the system, then let go. */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })

interface Row {
  relay: string
  for: string
  reachable: boolean
  method?: string
  found?: number
  new: number
  refused: number
  error?: string
}
const rowsOf = (stdout: string) => (JSON.parse(stdout) as { rows: Array<Row> }).rows

describe("parrhesia backup", () => {
  const relays: Array<RelayProcess> = []
  const start = async (env: Record<string, string> = {}) => {
    const r = await startRelayProcess(env)
    relays.push(r)
    return r
  }
  let withNeg: RelayProcess // write relay and read relay (no marker), NIP-77
  let plain: RelayProcess // write relay, no NIP-77, small max_limit: REQ windows split
  let bootstrap: RelayProcess // holds the newest relay list; a read relay
  let dest: RelayProcess
  let down: string // a write relay where nothing listens

  const user = newKey()
  const other = newKey()
  const ev = (i: number, t: { kind?: number; tags?: Array<Array<string>> } = {}, key = user) =>
    makeEvent({ created_at: T0 + i * 60, content: `note ${i}`, ...t }, key)
  const onlyNeg = Array.from({ length: 5 }, (_, i) => ev(i))
  const shared = Array.from({ length: 3 }, (_, i) => ev(10 + i))
  const onlyPlain = Array.from({ length: 4 }, (_, i) => ev(20 + i, { kind: 7 }))
  const strangers = [ev(30, {}, other), ev(31, {}, other), ev(32, {}, other)]
  const mention = (i: number) => ev(40 + i, { tags: [["p", user.pk]] }, other)
  const [mentionAtNeg, mentionAtPlain, mentionAtBootstrap] = [mention(0), mention(1), mention(2)]
  const atBootstrapOnly = ev(50) // the user wrote it to a relay that is not among their write relays
  let newList: NostrEvent
  let oldList: NostrEvent

  beforeAll(async () => {
    ;[withNeg, plain, bootstrap, dest] = await Promise.all([
      start(),
      start({ PARRHESIA_NEGENTROPY: "false", PARRHESIA_MAX_LIMIT: "3", PARRHESIA_DEFAULT_LIMIT: "3" }),
      start(),
      start()
    ])
    down = `ws://127.0.0.1:${await closedPort()}`
    newList = makeEvent(
      {
        kind: 10002,
        created_at: T0 + 5000,
        content: "",
        tags: [["r", withNeg.url], ["r", plain.url, "write"], ["r", down, "write"], ["r", bootstrap.url, "read"]]
      },
      user
    )
    oldList = makeEvent({ kind: 10002, created_at: T0 + 100, content: "", tags: [["r", down]] }, user)
    await Promise.all([
      publishAll(withNeg.url, [...onlyNeg, ...shared, strangers[0]!, mentionAtNeg]),
      publishAll(plain.url, [...onlyPlain, ...shared, strangers[1]!, mentionAtPlain]),
      publishAll(bootstrap.url, [newList, atBootstrapOnly, strangers[2]!, mentionAtBootstrap]),
      // The destination has one of the user's events already, and an older relay list.
      publishAll(dest.url, [shared[0]!, oldList])
    ])
  })
  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()))
  })

  it("copies the user's events from each write relay, NIP-77 or REQ windows, and reports the unreachable one (exit 3)", async () => {
    const run = await runCli(["backup", nip19.npubEncode(user.pk), "--bootstrap", `${dest.url},${bootstrap.url}`, "--to", dest.url])
    expect(run.code, run.stderr).toBe(3)
    // Exactly the user's events from their write relays, with the newest relay list (which replaced the old one).
    expect(await storedIds(dest.url)).toEqual(sorted([...onlyNeg, ...shared, ...onlyPlain, newList]))
    const table = run.stdout.split("\n")
    expect(run.stdout).toContain(`backup of ${user.pk} into ${dest.url}`)
    expect(run.stdout).toMatch(new RegExp(`relay list: kind 10002 of 2023-11-14 23:36:40 UTC \\(${newList.id.slice(0, 12)}…\\) from ${bootstrap.url}; 3 write relays, 2 read relays`))
    expect(run.stdout).toContain("relay list copied to the destination: new")
    expect(table).toContain("relay" + " ".repeat(withNeg.url.length - 5) + "  reachable  via         found  new  refused")
    expect(table.find((l) => l.startsWith(withNeg.url))).toMatch(/^\S+\s+yes\s+negentropy\s+8\s+7\s+0$/)
    expect(table.find((l) => l.startsWith(plain.url))).toMatch(/^\S+\s+yes\s+req\s+7\s+4\s+0$/)
    expect(table.find((l) => l.startsWith(down))).toMatch(/^\S+\s+no\s+-\s+-\s+-\s+-$/)
    expect(table.find((l) => l.startsWith("total"))).toMatch(/^total\s+15\s+11\s+0$/)
    expect(run.stdout).toContain(`${down}: cannot connect to ${down}`)
    expect(run.stdout).toMatch(/NOT complete: 1 of 3 relays could not be copied from/)
    // Progress on stderr: one line per relay as it ends.
    expect(run.stderr).toMatch(new RegExp(`^backup: ${withNeg.url} \\(writes\\): negentropy, 8 found, 7 new, 0 refused`, "m"))
    expect(run.stderr).toMatch(new RegExp(`^backup: ${down} \\(writes\\): unreachable: `, "m"))
  })

  it("with --mentions also copies events tagging the user, from their read relays only", async () => {
    const run = await runCli(["backup", user.pk, "--bootstrap", bootstrap.url, "--to", dest.url, "--mentions", "--json"])
    expect(run.code, run.stderr).toBe(3)
    const rows = rowsOf(run.stdout)
    expect(rows.map((r) => [r.relay, r.for, r.reachable, r.method, r.found, r.new])).toEqual([
      [withNeg.url, "writes", true, "negentropy", 8, 0],
      [plain.url, "writes", true, "req-windows", 7, 0],
      [down, "writes", false, undefined, undefined, 0],
      [withNeg.url, "mentions", true, "negentropy", 1, 1],
      [bootstrap.url, "mentions", true, "negentropy", 1, 1]
    ])
    expect(await storedIds(dest.url)).toEqual(sorted([...onlyNeg, ...shared, ...onlyPlain, newList, mentionAtNeg, mentionAtBootstrap]))
  })

  it("defaults to this relay (the settings' host and port) as destination and bootstrap, with mirrorUpstreams; exit 0 when complete", async () => {
    const someone = newKey()
    const notes = [makeEvent({ created_at: T0 + 1 }, someone), makeEvent({ created_at: T0 + 2 }, someone)]
    const list = makeEvent({ kind: 10002, created_at: T0 + 3, content: "", tags: [["r", withNeg.url, "write"]] }, someone)
    await publishAll(withNeg.url, notes)
    await publishAll(bootstrap.url, [list])
    const settings = { PARRHESIA_HOST: "0.0.0.0", PARRHESIA_PORT: String(dest.port), PARRHESIA_MIRROR_UPSTREAMS: bootstrap.url }
    const run = await runCli(["backup", nip19.npubEncode(someone.pk)], settings)
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain(`backup of ${someone.pk} into ws://127.0.0.1:${dest.port}`)
    expect(run.stdout).toMatch(/\ncomplete\n$/)
    expect(await storedIds(dest.url, { authors: [someone.pk] })).toEqual(sorted([...notes, list]))
  })

  it("stops with a clear message: bad usage (2), no relay list (1), destination or every bootstrap relay unreachable (3)", async () => {
    const npub = nip19.npubEncode(user.pk)
    const badKey = await runCli(["backup", npub.slice(0, -1) + (npub.endsWith("q") ? "p" : "q"), "--to", dest.url, "--bootstrap", dest.url])
    expect(badKey.code).toBe(2)
    expect(badKey.stderr).toMatch(/the user: the npub checksum is wrong/)
    expect((await runCli(["backup", "--to", dest.url])).stderr).toMatch(/usage: parrhesia backup <npub \| hex>/)
    expect((await runCli(["backup", user.pk, "--to", "http://x", "--bootstrap", dest.url])).stderr).toMatch(/not a ws:\/\/ or wss:\/\/ URL/)
    expect((await runCli(["backup", user.pk, "--bootstrap", dest.url], { PARRHESIA_PORT: "0" })).stderr).toMatch(/give --to/)

    const nobody = newKey()
    const none = await runCli(["backup", nobody.pk, "--bootstrap", `${bootstrap.url},${down}`, "--to", dest.url])
    expect(none.code).toBe(1)
    expect(none.stderr).toMatch(new RegExp(`no relay list \\(kind 10002\\) of ${nobody.pk} on ${bootstrap.url}:`))

    const noBootstrap = await runCli(["backup", user.pk, "--bootstrap", down, "--to", dest.url])
    expect(noBootstrap.code).toBe(3)
    expect(noBootstrap.stderr).toMatch(/no bootstrap relay could be asked/)
    const noDest = await runCli(["backup", user.pk, "--bootstrap", bootstrap.url, "--to", down])
    expect(noDest.code).toBe(3)
    expect(noDest.stderr).toMatch(new RegExp(`the destination ${down} cannot be reached`))
  })
})
