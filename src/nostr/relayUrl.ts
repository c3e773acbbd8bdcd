/**
 * Relay URLs compared the way NIP-42 and NIP-98 need: scheme, host, port and
 * path, after normalising case, default ports and a trailing slash. The
 * http(s) and ws(s) forms of one relay can be declared the same.
 */

export interface NormalizedUrl {
  /** "ws" | "wss" | "http" | "https" */
  readonly scheme: string
  /** Lower-case host with an explicit port, e.g. `relay.example.com:443`. */
  readonly hostPort: string
  /** Path without a trailing slash ("" for the root). */
  readonly path: string
}

const DEFAULT_PORTS: Readonly<Record<string, string>> = { ws: "80", http: "80", wss: "443", https: "443" }

export const normalizeUrl = (text: string): NormalizedUrl | undefined => {
  let u: URL
  try {
    u = new URL(text.trim())
  } catch {
    return undefined
  }
  const scheme = u.protocol.replace(/:$/, "").toLowerCase()
  const port = DEFAULT_PORTS[scheme]
  if (port === undefined) return undefined
  const path = u.pathname.replace(/\/+$/, "")
  return { scheme, hostPort: `${u.hostname.toLowerCase()}:${u.port || port}`, path }
}

/** The WebSocket scheme of an HTTP one (and ws/wss unchanged). */
const wsScheme = (scheme: string) => (scheme === "http" ? "ws" : scheme === "https" ? "wss" : scheme)

/**
 * Whether `given` names the relay at `expected`. With `httpForms`, http:// and
 * ws:// (https:// and wss://) count as the same scheme.
 */
export const sameRelayUrl = (given: string, expected: string, httpForms = false): boolean => {
  const a = normalizeUrl(given)
  const b = normalizeUrl(expected)
  if (a === undefined || b === undefined) return false
  const sa = httpForms ? wsScheme(a.scheme) : a.scheme
  const sb = httpForms ? wsScheme(b.scheme) : b.scheme
  return sa === sb && a.hostPort === b.hostPort && a.path === b.path
}

/**
 * The URLs a client may name for this relay: the configured `relayUrl`, or,
 * when none is configured, the ws:// and wss:// forms of the Host the client
 * connected to (a TLS-terminating proxy may sit in front).
 */
export const expectedRelayUrls = (relayUrl: string, hostHeader: string | undefined): ReadonlyArray<string> => {
  if (relayUrl !== "") return [relayUrl]
  if (hostHeader === undefined || hostHeader === "" || /[\s/@]/.test(hostHeader)) return []
  return [`ws://${hostHeader}/`, `wss://${hostHeader}/`]
}
