/** Starts `node src/main.ts serve` on a free port for the benchmark scripts; resolves once it prints its URL. */
import { spawn, type ChildProcess } from "node:child_process"
import { join } from "node:path"

export interface SpawnRelayOptions {
  /** The checkout whose `src/main.ts` runs, also its working directory (default: the current directory). */
  readonly root?: string
  /** Stop the relay and reject when it has not printed its URL within this many milliseconds. */
  readonly timeoutMs?: number
  /** Flags for node itself, before the script (e.g. `--cpu-prof`). */
  readonly nodeArgs?: ReadonlyArray<string>
}

export const spawnRelay = (env: Record<string, string>, options: SpawnRelayOptions = {}): Promise<{ url: string; child: ChildProcess }> => {
  const main = options.root === undefined ? "src/main.ts" : join(options.root, "src/main.ts")
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), main, "serve", "--port", "0", "--host", "127.0.0.1"], {
    ...(options.root === undefined ? {} : { cwd: options.root }),
    env: { ...process.env, PARRHESIA_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "inherit"]
  })
  return new Promise((resolve, reject) => {
    let buf = ""
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            child.kill("SIGTERM")
            reject(new Error(`relay did not start within ${Math.round(options.timeoutMs! / 1000)} s`))
          }, options.timeoutMs)
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString()
      const m = /ws:\/\/[\d.]+:\d+/.exec(buf)
      if (m) {
        clearTimeout(timer)
        resolve({ url: m[0], child })
      }
    })
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`relay exited early (${code ?? signal})`))
    })
  })
}
