/**
 * A signature-verifier worker thread. Loaded by `pool.ts` with
 * `new Worker(new URL("./worker.ts", import.meta.url))`; runs under Node's
 * type stripping, so erasable syntax only.
 *
 * In:  { t: "v", id, n, buf }   buf: ArrayBuffer of n packed events (transferred)
 *      { t: "crash" }           test hook: the thread exits at once
 * workerData: { backend, crashOnBatch? }  crashOnBatch (test hook): exit on every batch
 * Out: { t: "ready", backend } | { t: "fatal", message } | { t: "r", id, res }
 *      res: Uint8Array of n bytes, 1 = valid (its buffer is transferred)
 */
import { parentPort, workerData } from "node:worker_threads"
import { type BackendName, loadNative, type VerifyFn, verifyPacked } from "./backends.ts"

const port = parentPort
if (port === null) throw new Error("verifier worker must run in a worker thread")

const data = workerData as { readonly backend: BackendName; readonly crashOnBatch?: boolean }
const backend = data.backend
const loaded: { readonly ok: true; readonly verify: VerifyFn } | { readonly ok: false; readonly reason: string } =
  backend === "native" ? loadNative() : { ok: true, verify: (await import("./noble.ts")).verifyWithNoble }
if (!loaded.ok) {
  port.postMessage({ t: "fatal", message: loaded.reason })
} else {
  const verify = loaded.verify
  port.on("message", (m: { readonly t: string; readonly id?: number; readonly n?: number; readonly buf?: ArrayBuffer }) => {
    if (m.t === "v" && data.crashOnBatch === true) process.exit(71)
    if (m.t === "v" && m.buf !== undefined && m.n !== undefined) {
      const res = new Uint8Array(m.n)
      verifyPacked(verify, Buffer.from(m.buf), m.n, res)
      port.postMessage({ t: "r", id: m.id, res }, [res.buffer])
    } else if (m.t === "crash") {
      process.exit(70)
    }
  })
  port.postMessage({ t: "ready", backend })
}
