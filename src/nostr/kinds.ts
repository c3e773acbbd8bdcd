/** NIP-01 kind classes. */
import { firstTagValue, type NostrEvent } from "./event.ts"

export type KindClass = "regular" | "replaceable" | "ephemeral" | "addressable"

export const kindClass = (kind: number): KindClass => {
  if (kind === 0 || kind === 3 || (kind >= 10000 && kind < 20000)) return "replaceable"
  if (kind >= 20000 && kind < 30000) return "ephemeral"
  if (kind >= 30000 && kind < 40000) return "addressable"
  return "regular"
}

export const isReplaceable = (kind: number) => kindClass(kind) === "replaceable"
export const isEphemeral = (kind: number) => kindClass(kind) === "ephemeral"
export const isAddressable = (kind: number) => kindClass(kind) === "addressable"

/** The `d` tag value of an addressable event; missing, empty and valueless `d` are all "". */
export const dTagOf = (e: NostrEvent): string => firstTagValue(e, "d") ?? ""

/**
 * The address that replaceable and addressable events are deduplicated by:
 * `kind:pubkey:` for replaceable, `kind:pubkey:d` for addressable, undefined otherwise.
 */
export const replacementKey = (e: NostrEvent): string | undefined => {
  switch (kindClass(e.kind)) {
    case "replaceable":
      return `${e.kind}:${e.pubkey}:`
    case "addressable":
      return `${e.kind}:${e.pubkey}:${dTagOf(e)}`
    default:
      return undefined
  }
}

/** True when `candidate` should replace `current` at the same address: newer, or same second and lower id. */
export const supersedes = (candidate: NostrEvent, current: NostrEvent): boolean =>
  candidate.created_at > current.created_at ||
  (candidate.created_at === current.created_at && candidate.id < current.id)

/** NIP-40: the `expiration` tag as unix seconds, or undefined when absent or malformed. */
export const expirationOf = (e: NostrEvent): number | undefined => {
  const v = firstTagValue(e, "expiration")
  if (v === undefined || !/^\d{1,15}$/.test(v)) return undefined
  return Number(v)
}
