/**
 * Throwaway certificates for TLS tests, made with the openssl CLI: a test
 * certificate authority and server certificates it signs for 127.0.0.1.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface TestCa {
  readonly dir: string
  /** PEM of the CA certificate (what clients trust). */
  readonly cert: string
  /** Issues a certificate for 127.0.0.1 / localhost; returns the file paths and its serial (hex, upper case). */
  readonly issue: (name: string, days?: number) => { readonly certFile: string; readonly keyFile: string; readonly serial: string }
}

const openssl = (args: ReadonlyArray<string>, cwd: string) => execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"] }).toString()

export const makeTestCa = (): TestCa => {
  const dir = mkdtempSync(join(tmpdir(), "parrhesia-tls-"))
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
  openssl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Parrhesia Test CA"], dir)
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
  return {
    dir,
    cert: readFileSync(join(dir, "ca.crt"), "utf8"),
    issue: (name, days = 1) => {
      openssl(["req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", "/CN=127.0.0.1"], dir)
      openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.crt`, "-days", String(days), "-extfile", "san.ext"], dir)
      const serial = openssl(["x509", "-in", `${name}.crt`, "-noout", "-serial"], dir).trim().replace(/^serial=/, "").toUpperCase()
      return { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`), serial }
    }
  }
}
