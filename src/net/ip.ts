/**
 * IP addresses and CIDR ranges: parsing, normalising (IPv4-mapped IPv6 is
 * treated as the IPv4 address) and matching, on Node's own `net.BlockList`.
 */
import { BlockList, isIP } from "node:net"

export interface IpRange {
  readonly address: string
  readonly family: "ipv4" | "ipv6"
  /** Prefix length; a single address has the full length (32 or 128). */
  readonly prefix: number
}

/** `::ffff:1.2.3.4` -> `1.2.3.4`; other addresses unchanged (lower case). */
export const normalizeIp = (ip: string): string => {
  const lower = ip.trim().toLowerCase()
  if (lower.startsWith("::ffff:") && isIP(lower.slice(7)) === 4) return lower.slice(7)
  return lower
}

/** An address (`10.0.0.1`, `::1`) or a CIDR range (`10.0.0.0/8`, `fd00::/8`); undefined when malformed. */
export const parseIpRange = (text: string): IpRange | undefined => {
  const slash = text.indexOf("/")
  const address = normalizeIp(slash === -1 ? text : text.slice(0, slash))
  const version = isIP(address)
  if (version === 0) return undefined
  const max = version === 4 ? 32 : 128
  let prefix = max
  if (slash !== -1) {
    const p = text.slice(slash + 1)
    if (!/^\d{1,3}$/.test(p)) return undefined
    prefix = Number(p)
    if (prefix > max) return undefined
  }
  return { address, family: version === 4 ? "ipv4" : "ipv6", prefix }
}

export interface IpMatcher {
  readonly matches: (ip: string) => boolean
  readonly size: number
}

/** A matcher over addresses and ranges (malformed entries are skipped: validate them first with parseIpRange). */
export const makeIpMatcher = (ranges: Iterable<string>): IpMatcher => {
  const list = new BlockList()
  let size = 0
  for (const text of ranges) {
    const r = parseIpRange(text)
    if (r === undefined) continue
    if (r.prefix === (r.family === "ipv4" ? 32 : 128)) list.addAddress(r.address, r.family)
    else list.addSubnet(r.address, r.prefix, r.family)
    size++
  }
  return {
    size,
    matches: (ip) => {
      if (size === 0) return false
      const a = normalizeIp(ip)
      const v = isIP(a)
      return v !== 0 && list.check(a, v === 4 ? "ipv4" : "ipv6")
    }
  }
}
