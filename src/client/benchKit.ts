/** What the benchmarks (bench.ts, scripts/bench-import.ts) and the soak run (scripts/soak.ts) share. */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import type { SchnorrSign } from "../nostr/index.ts"

/**
 * BIP-340 signing for generated events: bcrypto's native addon when it loads (~10,000 signatures/s
 * per core); undefined: signEvent signs with noble's (~1,000/s).
 */
export const nativeSigner = (): SchnorrSign | undefined => {
  try {
    const native = createRequire(import.meta.url)("bcrypto/lib/native/schnorr") as {
      readonly native: number
      readonly sign: (msg: Buffer, key: Buffer) => Buffer
    }
    if (native.native === 2) return (sk, id) => native.sign(Buffer.from(id, "hex"), Buffer.from(sk)).toString("hex")
  } catch {
    /* not loadable: noble */
  }
  return undefined
}

/** CPU seconds (all threads) and RSS of a local process, from /proc; undefined when it cannot be read. */
export const sampleProcess = (pid: number): { cpuSeconds: number; rssKb: number } | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const ticks = Number(fields[11]) + Number(fields[12]) // utime + stime
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return { cpuSeconds: ticks / 100, rssKb: rss ? Number(rss[1]) : NaN }
  } catch {
    return undefined
  }
}
