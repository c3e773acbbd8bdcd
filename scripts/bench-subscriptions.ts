/**
 * What one indexed filter value costs: heap bytes per value of N live
 * subscriptions (parsed from REQ-like JSON, as the relay gets them), next to
 * what the subscription budget charges for them (src/subscriptions/budget.ts
 * is calibrated against this). Run with --expose-gc:
 *
 *   sh scripts/with-node.sh node --expose-gc scripts/bench-subscriptions.ts [subs] [values per filter]
 */
import { randomBytes } from "node:crypto"
import { parseFilter, type Filter } from "../src/nostr/index.ts"
import { subscriptionCost } from "../src/subscriptions/budget.ts"
import { makeSubscriptionIndex } from "../src/subscriptions/SubscriptionIndex.ts"

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with node --expose-gc")
const heap = () => {
  for (let i = 0; i < 3; i++) gc()
  return process.memoryUsage().heapUsed
}

const SUBS = Number(process.argv[2] ?? 200)
const FILTERS = 20
const VALUES = Number(process.argv[3] ?? 190)
const hex = () => randomBytes(32).toString("hex")

type Shape = "authors" | "#p"
const run = (label: string, shape: Shape, shared: boolean) => {
  const pool = Array.from({ length: FILTERS * VALUES }, hex)
  // One JSON text per REQ: JSON.parse makes fresh strings for every REQ, even for values other REQs hold.
  // The texts stay alive to the end so that the heap difference is only what the index holds.
  const texts = Array.from({ length: SUBS }, () =>
    JSON.stringify(
      Array.from({ length: FILTERS }, (_, f) => {
        const values = shared ? pool.slice(f * VALUES, (f + 1) * VALUES) : Array.from({ length: VALUES }, hex)
        return shape === "authors" ? { authors: values, kinds: [1] } : { "#p": values, kinds: [1, 7] }
      })
    )
  )
  const index = makeSubscriptionIndex()
  let charged = 0
  const before = heap()
  for (let s = 0; s < SUBS; s++) {
    const filters = (JSON.parse(texts[s]!) as Array<unknown>).map((raw): Filter => {
      const p = parseFilter(raw, { maxFilterValues: 100_000, allowSearch: false })
      if (!("filter" in p)) throw new Error(p.error)
      return p.filter
    })
    charged += subscriptionCost(filters)
    index.add({ connectionId: 1 + (s % 20), ip: "127.0.0.1", subId: `s${s}`, filters, deliver: () => {} })
  }
  const indexed = heap() - before
  // Publishing compiles the matchers of the candidates found (the rest of each filter).
  const started = performance.now()
  let delivered = 0
  const events = 4000
  for (let i = 0; i < events; i++) {
    const who = shared ? pool[i % pool.length]! : hex()
    const event = shape === "authors"
      ? { id: hex(), pubkey: who, created_at: 1, kind: 1, tags: [], content: "", sig: "" }
      : { id: hex(), pubkey: hex(), created_at: 1, kind: 7, tags: [["p", who]], content: "", sig: "" }
    delivered += index.publish(event)
  }
  const perEventUs = ((performance.now() - started) / events) * 1000
  const compiled = heap() - before
  const values = SUBS * FILTERS * VALUES
  const per = (n: number) => (n / values).toFixed(1)
  console.log(
    `${label}: ${SUBS} subs x ${FILTERS} filters x ${VALUES} values = ${values}: ${per(indexed)} heap bytes/value indexed, ` +
      `${per(compiled)} after publishing (${(compiled / 1048576).toFixed(1)} MB); charged ${per(charged)}/value; ` +
      `publish ${perEventUs.toFixed(1)} us/event (${delivered} deliveries)`
  )
  texts.length = 0
  return index
}

run("authors, distinct", "authors", false)
run("authors, shared  ", "authors", true)
run("#p, distinct     ", "#p", false)
run("#p, shared       ", "#p", true)
