/**
 * The network checks, in the order a client meets them: DNS, TCP, and for
 * wss:// the TLS handshake and certificate (trust, host name, expiry,
 * protocol version). They run first: when DNS or TCP fails the relay is
 * unreachable, and when TLS fails no client can connect.
 */
import { lookup } from "node:dns/promises"
import { connect as netConnect } from "node:net"
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate } from "node:tls"
import { caOption, elapsed, errorText, fmtMs, within, type Ca, type CheckContext, type CheckResult, type Outcome, type Target } from "./shared.ts"

const tcpConnect = (t: Target, ms: number): Promise<{ readonly address: string; readonly ms: number }> =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    const socket = netConnect({ host: t.host, port: t.port })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no TCP connection to ${t.hostPort} within ${ms} ms (a firewall dropping packets?)`))
    }, ms)
    socket.once("connect", () => {
      clearTimeout(timer)
      const address = socket.remoteAddress ?? t.host
      socket.destroy()
      resolve({ address, ms: elapsed(t0) })
    })
    socket.once("error", (e) => {
      clearTimeout(timer)
      socket.destroy()
      reject(new Error(`cannot connect to ${t.hostPort}: ${errorText(e)}`))
    })
  })

interface TlsFacts {
  readonly authorized: boolean
  readonly authorizationError: string | undefined
  readonly protocol: string | null
  readonly cert: PeerCertificate
  readonly identityError: Error | undefined
}

const tlsHandshake = (t: Target, ms: number, ca: Ca): Promise<TlsFacts> =>
  new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: t.host,
      port: t.port,
      ...(t.hostIsIp ? {} : { servername: t.host }),
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
      ...caOption(ca)
    })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no TLS handshake with ${t.hostPort} within ${ms} ms`))
    }, ms)
    socket.once("secureConnect", () => {
      clearTimeout(timer)
      const cert = socket.getPeerCertificate()
      const authError = socket.authorizationError as unknown
      resolve({
        authorized: socket.authorized,
        authorizationError: authError === null || authError === undefined ? undefined : authError instanceof Error ? ((authError as { code?: string }).code ?? authError.message) : String(authError),
        protocol: socket.getProtocol(),
        cert,
        identityError: cert && Object.keys(cert).length > 0 ? checkServerIdentity(t.host, cert) : new Error("the server sent no certificate")
      })
      socket.destroy()
    })
    socket.once("error", (e) => {
      clearTimeout(timer)
      socket.destroy()
      const text = errorText(e)
      reject(new Error(`TLS handshake with ${t.hostPort} failed: ${text}${/wrong version number|packet length too long|http request/i.test(text) ? " (the port seems to speak plain HTTP: use ws://, or put TLS in front)" : ""}`))
    })
  })

/** Why a certificate is not trusted, in an operator's words. */
const TLS_REASONS: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "the certificate is self-signed: clients will not trust it",
  SELF_SIGNED_CERT_IN_CHAIN: "the chain ends in a self-signed certificate no client trusts",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the chain cannot be verified: the server does not send the intermediate certificate(s), or the issuer is not trusted",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the issuer is not trusted: an unknown CA, or the intermediate certificate(s) are missing",
  UNABLE_TO_GET_ISSUER_CERT: "the issuer is not trusted: an unknown CA, or the intermediate certificate(s) are missing",
  CERT_HAS_EXPIRED: "the certificate has expired",
  CERT_NOT_YET_VALID: "the certificate is not valid yet",
  CERT_REVOKED: "the certificate has been revoked",
  CERT_SIGNATURE_FAILURE: "the certificate signature is invalid",
  ERR_TLS_CERT_ALTNAME_INVALID: "the certificate does not name this host"
}

const cn = (x: unknown): string | undefined => {
  if (typeof x !== "object" || x === null) return undefined
  const o = x as Record<string, unknown>
  const pick = (v: unknown) => (Array.isArray(v) ? v.join(", ") : typeof v === "string" ? v : undefined)
  return pick(o["CN"]) ?? pick(o["O"])
}

const tlsOutcome = (t: Target, f: TlsFacts): Outcome => {
  const cert = f.cert
  const notBefore = new Date(cert.valid_from)
  const notAfter = new Date(cert.valid_to)
  const days = Math.floor((notAfter.getTime() - Date.now()) / 86_400_000)
  const sans = cert.subjectaltname ?? ""
  const summary = `${f.protocol ?? "TLS"}, subject ${cn(cert.subject) ?? "?"}, issuer ${cn(cert.issuer) ?? "?"}${sans ? `, SANs ${sans}` : ""}, expires ${Number.isNaN(notAfter.getTime()) ? "?" : notAfter.toISOString().slice(0, 10)}`
  const data = {
    protocol: f.protocol,
    subject: cn(cert.subject),
    issuer: cn(cert.issuer),
    subjectAltNames: sans,
    validFrom: cert.valid_from,
    validTo: cert.valid_to,
    daysLeft: days,
    authorized: f.authorized,
    authorizationError: f.authorizationError,
    fingerprint256: cert.fingerprint256
  }
  const fail = (why: string): Outcome => ({ status: "fail", detail: `${why} (${summary})`, data })
  if (notBefore.getTime() > Date.now()) return fail(`the certificate is not valid before ${notBefore.toISOString()}`)
  if (notAfter.getTime() < Date.now()) return fail(`the certificate expired on ${notAfter.toISOString()}`)
  if (f.identityError) return fail(`the certificate is for ${sans || `CN=${cn(cert.subject) ?? "?"}`}, not ${t.host}`)
  if (!f.authorized) {
    const code = f.authorizationError ?? "unknown"
    return fail(`${TLS_REASONS[code] ?? "the certificate is not trusted"} (${code})`)
  }
  if (f.protocol === "TLSv1" || f.protocol === "TLSv1.1") return { status: "warn", detail: `outdated protocol ${f.protocol}: ${summary}`, data }
  if (days < 14) return { status: "warn", detail: `the certificate expires in ${days} day${days === 1 ? "" : "s"} (${summary}): renew it`, data }
  return { status: "pass", detail: `${summary} (${days} days left)`, data }
}

// ---------------------------------------------------------------- the checks

/** DNS: the host's addresses (skipped for an IP address). */
export const checkDns = async ({ t, ms, run, skip }: CheckContext): Promise<CheckResult> => {
  if (t.hostIsIp) return skip("dns", `${t.host} is an IP address`)
  return run("dns", async () => {
    try {
      const addrs = await within(lookup(t.host, { all: true }), ms, `the DNS lookup of ${t.host}`)
      if (addrs.length === 0) return { status: "fail", detail: `${t.host} resolves to no address` }
      return { status: "pass", detail: `${t.host} -> ${addrs.map((a) => a.address).join(", ")}`, data: { addresses: addrs.map((a) => a.address) } }
    } catch (e) {
      return { status: "fail", detail: `cannot resolve ${t.host}: ${errorText(e)}` }
    }
  })
}

/** TCP: a connection to host:port. */
export const checkTcp = ({ t, ms, run }: CheckContext): Promise<CheckResult> =>
  run("tcp", async () => {
    const c = await tcpConnect(t, ms)
    return { status: "pass", detail: `connected to ${c.address} port ${t.port} in ${fmtMs(c.ms)} ms`, data: { address: c.address, port: t.port, connectMs: c.ms } }
  })

/** TLS: the handshake and certificate (skipped for ws://). */
export const checkTls = async ({ t, ms, ca, run, skip }: CheckContext): Promise<CheckResult> => {
  if (!t.secure) return skip("tls", "ws:// (no TLS)")
  return run("tls", async () => tlsOutcome(t, await tlsHandshake(t, ms, ca)))
}
