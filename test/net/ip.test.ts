import { describe, expect, it } from "vitest"
import { makeIpMatcher, normalizeIp, parseIpRange } from "../../src/net/ip.ts"

describe("IP ranges", () => {
  it("parses addresses and CIDR ranges, refusing malformed ones", () => {
    expect(parseIpRange("10.0.0.1")).toEqual({ address: "10.0.0.1", family: "ipv4", prefix: 32 })
    expect(parseIpRange("10.0.0.0/8")).toEqual({ address: "10.0.0.0", family: "ipv4", prefix: 8 })
    expect(parseIpRange("fd00::/8")).toEqual({ address: "fd00::", family: "ipv6", prefix: 8 })
    expect(parseIpRange("::ffff:1.2.3.4")).toEqual({ address: "1.2.3.4", family: "ipv4", prefix: 32 })
    for (const bad of ["", "10.0.0", "10.0.0.0/33", "fd00::/129", "10.0.0.0/x", "example.com", "1.2.3.4/"]) expect(parseIpRange(bad), bad).toBeUndefined()
  })

  it("matches addresses, ranges and IPv4-mapped IPv6", () => {
    const m = makeIpMatcher(["192.0.2.5", "10.0.0.0/8", "2001:db8::/32"])
    expect(m.matches("192.0.2.5")).toBe(true)
    expect(m.matches("192.0.2.6")).toBe(false)
    expect(m.matches("10.200.1.1")).toBe(true)
    expect(m.matches("::ffff:10.1.1.1")).toBe(true)
    expect(m.matches("2001:db8:1::9")).toBe(true)
    expect(m.matches("2001:db9::1")).toBe(false)
    expect(m.matches("unknown")).toBe(false)
    expect(makeIpMatcher([]).matches("10.0.0.1")).toBe(false)
    expect(normalizeIp(" ::FFFF:1.2.3.4 ")).toBe("1.2.3.4")
  })
})
