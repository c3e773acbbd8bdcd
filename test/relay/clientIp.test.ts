import { describe, expect, it } from "vitest"
import { makeIpMatcher } from "../../src/net/ip.ts"
import { clientIp } from "../../src/relay/clientIp.ts"

const none = makeIpMatcher([])
const proxies = makeIpMatcher(["127.0.0.1", "10.0.0.0/8"])

describe("clientIp", () => {
  it("is the peer when it is not a trusted proxy, whatever the headers say", () => {
    expect(clientIp("203.0.113.7", { "x-forwarded-for": "1.1.1.1" }, none)).toBe("203.0.113.7")
    expect(clientIp("203.0.113.7", { "x-forwarded-for": "1.1.1.1", "x-real-ip": "2.2.2.2" }, proxies)).toBe("203.0.113.7")
    expect(clientIp("::ffff:203.0.113.7", {}, none)).toBe("203.0.113.7")
    expect(clientIp(undefined, {}, none)).toBe("unknown")
  })

  it("behind trusted proxies, is the right-most forwarded address that is not a proxy", () => {
    expect(clientIp("127.0.0.1", { "x-forwarded-for": "198.51.100.1" }, proxies)).toBe("198.51.100.1")
    expect(clientIp("127.0.0.1", { "x-forwarded-for": "6.6.6.6, 198.51.100.1, 10.1.2.3" }, proxies)).toBe("198.51.100.1")
    expect(clientIp("::ffff:10.0.0.5", { "x-forwarded-for": "2001:db8::1" }, proxies)).toBe("2001:db8::1")
    expect(clientIp("127.0.0.1", { "x-forwarded-for": "198.51.100.1:5555" }, proxies)).toBe("198.51.100.1")
    expect(clientIp("127.0.0.1", { "x-real-ip": "198.51.100.2" }, proxies)).toBe("198.51.100.2")
  })

  it("falls back to the peer when the headers are malformed or name only proxies", () => {
    expect(clientIp("127.0.0.1", { "x-forwarded-for": "not-an-ip" }, proxies)).toBe("127.0.0.1")
    expect(clientIp("127.0.0.1", { "x-forwarded-for": "10.0.0.9" }, proxies)).toBe("127.0.0.1")
    expect(clientIp("127.0.0.1", { "x-real-ip": "garbage" }, proxies)).toBe("127.0.0.1")
  })
})
