/**
 * Relays and raw clients opened by a test file, closed for it: clients after
 * each test, relays after the file (or after each test with `perTest`).
 */
import { afterAll, afterEach } from "vitest"
import type { Settings } from "../../src/config/settings.ts"
import type { TestRelay } from "./relay.ts"
import { connect, type RawClient } from "./ws.ts"

export const useRelays = (start: (overrides: Partial<Settings>) => Promise<TestRelay>, options: { readonly perTest?: boolean } = {}) => {
  const relays: Array<TestRelay> = []
  const clients: Array<RawClient> = []
  const closeRelays = async () => {
    for (const r of relays.splice(0)) await r.close()
  }
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    if (options.perTest) await closeRelays()
  })
  afterAll(closeRelays)
  return {
    start: async (overrides: Partial<Settings> = {}) => {
      const r = await start(overrides)
      relays.push(r)
      return r
    },
    open: async (relay: TestRelay, headers: Record<string, string> = {}) => {
      const c = await connect(relay.url, { headers })
      clients.push(c)
      return c
    }
  }
}
