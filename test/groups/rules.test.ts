/** The NIP-29 rules as pure functions: tags read, roles and permissions, subgroup rules, the relay's state events. */
import { describe, expect, it } from "vitest"
import * as R from "../../src/groups/rules.ts"
import { makeEvent, newKey } from "../support/nostr.ts"

const k = newKey()
const ev = (tags: ReadonlyArray<ReadonlyArray<string>>, kind = 9) => makeEvent({ kind, tags }, k)

describe("reading group events", () => {
  it("the h tag names one group", () => {
    expect(R.groupIdOf(ev([]))).toBeUndefined()
    expect(R.groupIdOf(ev([["h", "g"], ["h", "g"]]))).toBe("g")
    expect(R.groupIdOf(ev([["h", "g"], ["h", "other"]]))).toEqual({ error: expect.stringMatching(/different groups/) })
    expect(R.groupIdOf(ev([["h", ""]]))).toEqual({ error: expect.any(String) })
    expect(R.isGroupId("a-Z_09")).toBe(true)
    expect(R.isGroupId("with space")).toBe(false)
    expect(R.isGroupId("")).toBe(false)
  })

  it("previous references are 8 hex characters, from every previous tag", () => {
    expect(R.previousOf(ev([["previous", "0123abcd", "ffffffff"], ["previous", "00000000"]]))).toEqual(["0123abcd", "ffffffff", "00000000"])
    expect(R.failed(R.previousOf(ev([["previous", "0123ABCD"]])))).toBe(true)
    expect(R.failed(R.previousOf(ev([["previous", "0123abc"]])))).toBe(true)
  })

  it("edit-metadata is the whole metadata: fields and flags left out are off", () => {
    const g = { ...R.newGroup("g", 1), name: "old", private: true, children: ["c"] }
    const m = R.metadataOf(ev([["name", "New"], ["closed"], ["supported_kinds", "9", "11", "9"], ["child", "c"], ["livekit"]], 9002), g)
    if (R.failed(m)) throw new Error(m.error)
    expect(m.group).toMatchObject({ name: "New", about: "", private: false, closed: true, restricted: false, hidden: false, supportedKinds: ["9", "11"], parent: null })
    expect(m.children).toEqual(["c"])
    const none = R.metadataOf(ev([["supported_kinds"]], 9002), g)
    expect(!R.failed(none) && none.group.supportedKinds).toEqual([])
    expect(R.failed(R.metadataOf(ev([["parent", "a"], ["parent", "b"]], 9002), g))).toBe(true)
    expect(R.failed(R.metadataOf(ev([["supported_kinds", "x"]], 9002), g))).toBe(true)
    expect(R.failed(R.metadataOf(ev([["child", "c"], ["child", "c"]], 9002), g))).toBe(true)
  })

  it("pins and users", () => {
    const id = "a".repeat(64)
    expect(R.pinsOf(ev([["e", id], ["a", `30023:${k.pk}:x`], ["p", id]], 9010))).toEqual([["e", id], ["a", `30023:${k.pk}:x`]])
    expect(R.failed(R.pinsOf(ev([["e", "short"]], 9010)))).toBe(true)
    expect(R.usersOf(ev([["p", id, "moderator", "", "moderator"]], 9000))).toEqual([{ pubkey: id, roles: ["moderator"] }])
    expect(R.failed(R.usersOf(ev([], 9000)))).toBe(true)
  })
})

describe("roles", () => {
  it("admin holds every permission, moderator some, other names none", () => {
    expect([...R.permissionsOf(["admin"])].sort()).toEqual([...R.ALL_PERMISSIONS].sort())
    expect(R.permissionsOf(["moderator"]).has("edit-metadata")).toBe(false)
    expect(R.permissionsOf(["moderator"]).has("delete-event")).toBe(true)
    expect(R.permissionsOf(["gardener"]).size).toBe(0)
    expect(R.isAdmin(["gardener", "moderator"])).toBe(true)
    expect(R.isAdmin([])).toBe(false)
    expect(R.outranks(R.permissionsOf(["admin"]), R.permissionsOf(["moderator"]))).toBe(true)
    expect(R.outranks(R.permissionsOf(["moderator"]), R.permissionsOf(["admin"]))).toBe(false)
    expect(R.outranks(R.permissionsOf(["moderator"]), R.permissionsOf(["gardener"]))).toBe(true)
  })
})

describe("subgroups", () => {
  const groups = new Map([
    ["a", { ...R.newGroup("a", 1), children: ["b"] }],
    ["b", { ...R.newGroup("b", 1), parent: "a", children: ["c"] }],
    ["c", { ...R.newGroup("c", 1), parent: "b" }],
    ["d", R.newGroup("d", 1)]
  ])
  const get = (id: string) => groups.get(id)
  it("the parent exists and makes no cycle", () => {
    expect(R.hierarchyError(get, "d", null)).toBeUndefined()
    expect(R.hierarchyError(get, "d", "c")).toBeUndefined()
    expect(R.hierarchyError(get, "a", "a")).toMatch(/own parent/)
    expect(R.hierarchyError(get, "a", "c")).toMatch(/subgroup/)
    expect(R.hierarchyError(get, "a", "zzz")).toMatch(/no group/)
  })
  it("an edit lists every child, in the order it wants", () => {
    expect(R.childOrder([], undefined)).toEqual([])
    expect(R.childOrder(["x", "y"], ["y", "x"])).toEqual(["y", "x"])
    expect(R.failed(R.childOrder(["x", "y"], ["y"]))).toBe(true)
    expect(R.failed(R.childOrder(["x"], undefined))).toBe(true)
    expect(R.failed(R.childOrder(["x"], ["x", "z"]))).toBe(true)
  })
})

describe("the relay's state events", () => {
  it("39000-39003 and 39005 from a group's state", () => {
    const g = { ...R.newGroup("g", 1), name: "G", private: true, hidden: true, supportedKinds: ["9"], parent: "p", children: ["c1", "c2"], pins: [["e", "f".repeat(64)] as const] }
    const members = [
      { scope: "g", pubkey: "1".repeat(64), roles: ["admin"] },
      { scope: "g", pubkey: "2".repeat(64), roles: [] },
      { scope: "g", pubkey: "3".repeat(64), roles: ["gardener"] }
    ]
    const [meta, admins, mems, roles, pins] = R.relayEventsOf(g, members)
    expect(meta!.tags).toEqual([["d", "g"], ["name", "G"], ["private"], ["hidden"], ["supported_kinds", "9"], ["parent", "p"], ["child", "c1"], ["child", "c2"]])
    expect(admins!.tags).toEqual([["d", "g"], ["p", "1".repeat(64), "admin"]])
    expect(mems!.tags.length).toBe(4)
    expect(roles!.tags.map((t) => t[1])).toEqual(["g", "admin", "moderator"])
    expect(pins!.tags).toEqual([["d", "g"], ["e", "f".repeat(64)]])
    expect([meta, admins, mems, roles, pins].map((t) => t!.kind)).toEqual([39000, 39001, 39002, 39003, 39005])
  })
})
