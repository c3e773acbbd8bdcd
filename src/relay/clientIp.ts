/**
 * The client IP of a request: the socket's peer, unless that peer is one of
 * the `trustedProxies`, in which case the right-most `X-Forwarded-For` entry
 * that is not itself a trusted proxy (else `X-Real-IP`). Headers from
 * untrusted peers are ignored: anyone can write them.
 */
import { isIP } from "node:net"
import { normalizeIp, type IpMatcher } from "../net/ip.ts"

type Headers = Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

const header = (h: Headers, name: string): string | undefined => {
  const v = h[name]
  return typeof v === "string" ? v : Array.isArray(v) ? v.join(",") : undefined
}

/** A header value as an IP, or undefined when it is not one (`[::1]:port` and `1.2.3.4:port` forms are accepted). */
const asIp = (raw: string): string | undefined => {
  let v = raw.trim()
  if (v.startsWith("[")) v = v.slice(1, v.indexOf("]") === -1 ? undefined : v.indexOf("]"))
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(v)) v = v.slice(0, v.lastIndexOf(":"))
  const ip = normalizeIp(v)
  return isIP(ip) === 0 ? undefined : ip
}

export const clientIp = (peer: string | undefined, headers: Headers, trusted: IpMatcher): string => {
  const direct = peer === undefined ? "unknown" : normalizeIp(peer)
  if (trusted.size === 0 || !trusted.matches(direct)) return direct
  const forwarded = header(headers, "x-forwarded-for")
  if (forwarded !== undefined) {
    const hops = forwarded.split(",")
    for (let i = hops.length - 1; i >= 0; i--) {
      const ip = asIp(hops[i]!)
      if (ip === undefined) break
      if (!trusted.matches(ip)) return ip
    }
  }
  const real = header(headers, "x-real-ip")
  const ip = real !== undefined ? asIp(real) : undefined
  return ip ?? direct
}
