/** NIP-13 proof of work: difficulty of an id and the target a `nonce` tag commits to. */
import type { NostrEvent } from "./event.ts"

/** Leading zero bits of a hex id. */
export const powDifficulty = (idHex: string): number => {
  let count = 0
  for (let i = 0; i < idHex.length; i++) {
    const nibble = parseInt(idHex[i]!, 16)
    if (nibble === 0) count += 4
    else {
      count += Math.clz32(nibble) - 28
      break
    }
  }
  return count
}

/** The target difficulty committed in the third entry of the `nonce` tag, if any (undefined when absent or not a number). */
export const committedTarget = (e: NostrEvent): number | undefined => {
  for (const t of e.tags) {
    if (t[0] === "nonce" && t.length > 2) {
      const v = t[2]!
      return /^\d{1,3}$/.test(v) ? Number(v) : undefined
    }
  }
  return undefined
}
