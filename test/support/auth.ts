/** NIP-42 for end-to-end tests: answers the relay's connect-time challenge as `key`. */
import { makeEvent, type Key } from "./nostr.ts"
import { isOk, now, type RawClient } from "./ws.ts"

/** Reads the challenge the relay sent on connect, AUTHs as `key` and fails unless the relay says OK true. */
export const authenticate = async (c: RawClient, relayUrl: string, key: Key): Promise<void> => {
  const challenge = (await c.next((f) => f[0] === "AUTH"))[1]
  const e = makeEvent({ kind: 22242, created_at: now(), content: "", tags: [["relay", relayUrl], ["challenge", challenge]] }, key)
  c.send(["AUTH", e])
  const ok = await c.next(isOk(e.id))
  if (ok[2] !== true) throw new Error(`AUTH refused: ${ok[3]}`)
}
