/**
 * Subscription budgets (issue 16): the cost model, the ledger, and the
 * index's accounting — charged on add, released on remove, on replacement
 * of the same id and when the connection ends; per IP across connections;
 * a refused subscription is not indexed.
 */
import { describe, expect, it } from "vitest"
import type { Filter, NostrEvent } from "../../src/nostr/index.ts"
import { BudgetLedger, FILTER_BYTES, overBudgetMessage, SUBSCRIPTION_BYTES, subscriptionCost, VALUE_BYTES } from "../../src/subscriptions/budget.ts"
import { makeSubscriptionIndex } from "../../src/subscriptions/SubscriptionIndex.ts"

const hex = (n: number) => n.toString(16).padStart(64, "0")
const authors = (n: number, from = 0): Filter => ({ authors: Array.from({ length: n }, (_, i) => hex(from + i)) })
const event = (pubkey: string): NostrEvent => ({ id: hex(999_999), pubkey, created_at: 1, kind: 1, tags: [], content: "", sig: "0".repeat(128) })

describe("subscriptionCost", () => {
  it("charges a subscription, each filter, and each value by its length", () => {
    expect(subscriptionCost([])).toBe(SUBSCRIPTION_BYTES)
    expect(subscriptionCost([{}])).toBe(SUBSCRIPTION_BYTES + FILTER_BYTES)
    expect(subscriptionCost([authors(3)])).toBe(SUBSCRIPTION_BYTES + FILTER_BYTES + 3 * (VALUE_BYTES + 64))
    expect(subscriptionCost([{ kinds: [1, 7], tags: { t: ["nostr"], p: [hex(1)] }, since: 5 }])).toBe(
      SUBSCRIPTION_BYTES + FILTER_BYTES + 2 * (VALUE_BYTES + 8) + (VALUE_BYTES + 5) + (VALUE_BYTES + 64)
    )
    // Text outside Latin-1 is stored two bytes a character.
    expect(subscriptionCost([{ tags: { t: ["café", "日本"] } }])).toBe(SUBSCRIPTION_BYTES + FILTER_BYTES + 2 * VALUE_BYTES + 4 + 4)
    // The policy's additions are held too.
    expect(subscriptionCost([{ kinds: [4], excludeKinds: [1059], alsoTagged: { name: "p", value: hex(2) } }])).toBe(
      SUBSCRIPTION_BYTES + FILTER_BYTES + 2 * (VALUE_BYTES + 8) + (VALUE_BYTES + 64)
    )
  })

  it("is deterministic: the same filters cost the same whatever is indexed", () => {
    const filters = [authors(100), { kinds: [1] }]
    const index = makeSubscriptionIndex()
    const before = subscriptionCost(filters)
    index.add({ connectionId: 1, ip: "a", subId: "x", filters, deliver: () => {} })
    expect(subscriptionCost(filters)).toBe(before)
    expect(index.bytes()).toBe(before)
  })
})

describe("BudgetLedger", () => {
  it("charges a connection and its IP, refuses past either limit without charging, removes entries at zero", () => {
    const ledger = new BudgetLedger({ perConnection: 100, perIp: 150 })
    expect(ledger.tryCharge(1, "ip1", 60)).toBeUndefined()
    expect(ledger.tryCharge(1, "ip1", 41)).toEqual({ budget: "connection", limit: 100, held: 60, cost: 41 })
    expect(ledger.tryCharge(2, "ip1", 80)).toBeUndefined()
    expect(ledger.tryCharge(3, "ip1", 11)).toEqual({ budget: "ip", limit: 150, held: 140, cost: 11 })
    expect(ledger.tryCharge(3, "ip2", 100)).toBeUndefined()
    expect([ledger.ofConnection(1), ledger.ofConnection(2), ledger.ofConnection(3), ledger.ofIp("ip1"), ledger.ofIp("ip2"), ledger.total]).toEqual([60, 80, 100, 140, 100, 240])
    ledger.release(1, "ip1", 60)
    ledger.release(2, "ip1", 80)
    expect([ledger.ofConnection(1), ledger.ofIp("ip1"), ledger.ipCount, ledger.total]).toEqual([0, 0, 1, 100])
    ledger.release(3, "ip2", 100)
    expect([ledger.ipCount, ledger.total]).toEqual([0, 0])
  })

  it("0 means no limit", () => {
    const ledger = new BudgetLedger({ perConnection: 0, perIp: 0 })
    expect(ledger.tryCharge(1, "ip", Number.MAX_SAFE_INTEGER / 2)).toBeUndefined()
  })

  it("says which budget in the refusal", () => {
    expect(overBudgetMessage({ budget: "connection", limit: 8 * 1024 * 1024, held: 10, cost: 20 })).toContain("more than 8 MiB")
    expect(overBudgetMessage({ budget: "connection", limit: 1, held: 0, cost: 2 })).toContain("maxSubscriptionBytesPerConnection")
    expect(overBudgetMessage({ budget: "ip", limit: 1, held: 0, cost: 2 })).toContain("maxSubscriptionBytesPerIp")
  })
})

describe("SubscriptionIndex budgets", () => {
  const big = [authors(50)]
  const cost = subscriptionCost(big)

  it("charges on add and releases on remove (CLOSE)", () => {
    const index = makeSubscriptionIndex({ perConnection: 10 * cost, perIp: 100 * cost })
    expect(index.add({ connectionId: 1, ip: "1.1.1.1", subId: "a", filters: big, deliver: () => {} })).toBeUndefined()
    expect([index.bytes(), index.bytesFor(1), index.bytesForIp("1.1.1.1")]).toEqual([cost, cost, cost])
    expect(index.remove(1, "a")).toBe(true)
    expect([index.bytes(), index.bytesFor(1), index.bytesForIp("1.1.1.1")]).toEqual([0, 0, 0])
    expect(index.remove(1, "a")).toBe(false)
    expect(index.bytes()).toBe(0)
  })

  it("a replacement (same subscription id) releases the old charge before the new one is made", () => {
    const index = makeSubscriptionIndex({ perConnection: cost + 10, perIp: 100 * cost })
    expect(index.add({ connectionId: 1, ip: "ip", subId: "a", filters: big, deliver: () => {} })).toBeUndefined()
    // Fits only because the old one is released first.
    expect(index.add({ connectionId: 1, ip: "ip", subId: "a", filters: [authors(50, 1000)], deliver: () => {} })).toBeUndefined()
    expect(index.bytesFor(1)).toBe(cost)
    const small = [{ kinds: [1] }]
    expect(index.add({ connectionId: 1, ip: "ip", subId: "a", filters: small, deliver: () => {} })).toBeUndefined()
    expect(index.bytesFor(1)).toBe(subscriptionCost(small))
    expect(index.size()).toBe(1)
  })

  it("releases everything when the connection ends", () => {
    const index = makeSubscriptionIndex({ perConnection: 10 * cost, perIp: 100 * cost })
    for (const id of ["a", "b", "c"]) index.add({ connectionId: 7, ip: "ip", subId: id, filters: big, deliver: () => {} })
    index.add({ connectionId: 8, ip: "ip", subId: "a", filters: big, deliver: () => {} })
    expect([index.bytesFor(7), index.bytesForIp("ip")]).toEqual([3 * cost, 4 * cost])
    expect(index.removeConnection(7)).toBe(3)
    expect([index.bytesFor(7), index.bytesForIp("ip"), index.bytes()]).toEqual([0, cost, cost])
  })

  it("refuses past the connection's budget, before indexing: nothing is charged or delivered", () => {
    const index = makeSubscriptionIndex({ perConnection: 2 * cost, perIp: 100 * cost })
    const got: Array<string> = []
    expect(index.add({ connectionId: 1, ip: "ip", subId: "a", filters: big, deliver: () => void got.push("a") })).toBeUndefined()
    expect(index.add({ connectionId: 1, ip: "ip", subId: "b", filters: big, deliver: () => void got.push("b") })).toBeUndefined()
    const over = index.add({ connectionId: 1, ip: "ip", subId: "c", filters: [authors(50, 5000)], deliver: () => void got.push("c") })
    expect(over).toEqual({ budget: "connection", limit: 2 * cost, held: 2 * cost, cost })
    expect([index.size(), index.countFor(1), index.bytesFor(1)]).toEqual([2, 2, 2 * cost])
    expect(index.publish(event(hex(5000)))).toBe(0)
    expect(index.publish(event(hex(0)))).toBe(2)
    expect(got.sort()).toEqual(["a", "b"])
    // Another connection from another IP is not affected.
    expect(index.add({ connectionId: 2, ip: "other", subId: "c", filters: big, deliver: () => {} })).toBeUndefined()
  })

  it("a refused replacement leaves the id closed (the old subscription was released)", () => {
    const index = makeSubscriptionIndex({ perConnection: cost + 10, perIp: 100 * cost })
    index.add({ connectionId: 1, ip: "ip", subId: "a", filters: big, deliver: () => {} })
    expect(index.add({ connectionId: 1, ip: "ip", subId: "a", filters: [authors(60)], deliver: () => {} })?.budget).toBe("connection")
    expect([index.size(), index.bytes()]).toEqual([0, 0])
    expect(index.publish(event(hex(0)))).toBe(0)
  })

  it("adds up the connections of one IP, and frees the IP's room when one closes", () => {
    const index = makeSubscriptionIndex({ perConnection: 2 * cost, perIp: 3 * cost })
    const add = (conn: number, ip: string, sub: string) => index.add({ connectionId: conn, ip, subId: sub, filters: big, deliver: () => {} })
    expect(add(1, "9.9.9.9", "a")).toBeUndefined()
    expect(add(1, "9.9.9.9", "b")).toBeUndefined()
    expect(add(2, "9.9.9.9", "a")).toBeUndefined()
    expect(add(2, "9.9.9.9", "b")).toEqual({ budget: "ip", limit: 3 * cost, held: 3 * cost, cost })
    expect(add(3, "8.8.8.8", "a")).toBeUndefined()
    expect([index.bytesForIp("9.9.9.9"), index.bytesForIp("8.8.8.8")]).toEqual([3 * cost, cost])
    index.removeConnection(1)
    expect(index.bytesForIp("9.9.9.9")).toBe(cost)
    expect(add(2, "9.9.9.9", "b")).toBeUndefined()
    index.removeConnection(2)
    index.removeConnection(3)
    expect([index.bytes(), index.bytesForIp("9.9.9.9"), index.bytesForIp("8.8.8.8")]).toEqual([0, 0, 0])
  })
})
