/** Starts `node src/main.ts serve` on a free port for the benchmark scripts; resolves once it prints its URL. */
import { spawn, type ChildProcess } from "node:child_process"

export const spawnRelay = (env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> => {
  const child = spawn(process.execPath, ["src/main.ts", "serve", "--port", "0", "--host", "127.0.0.1"], {
    env: { ...process.env, PARRHESIA_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "inherit"]
  })
  return new Promise((resolve, reject) => {
    let buf = ""
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString()
      const m = /ws:\/\/[\d.]+:\d+/.exec(buf)
      if (m) resolve({ url: m[0], child })
    })
    child.once("exit", (code) => reject(new Error(`relay exited early (${code})`)))
  })
}
