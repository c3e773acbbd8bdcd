/**
 * Relays and CLI commands as child processes (`node src/main.ts ...`), for
 * end-to-end tests across processes: relays with their own stores, sync and
 * mirroring between them.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { join } from "node:path"

const MAIN = join(import.meta.dirname, "../../src/main.ts")

/** The parent's environment without PARRHESIA_* settings, so a test sets exactly what it means. */
// PARRHESIA_WARM_UP_MESSAGES stays (vitest.config.ts sets it to 0): a test does not measure a warm relay.
const baseEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => (!k.startsWith("PARRHESIA_") || k === "PARRHESIA_WARM_UP_MESSAGES") && k !== "DATABASE_URL"))

export interface RelayProcess {
  readonly url: string
  readonly port: number
  readonly child: ChildProcess
  /** SIGTERM, resolved once the process has exited. */
  readonly stop: () => Promise<void>
  readonly output: () => string
}

/** Starts `parrhesia serve` (memory store unless `env` says otherwise); resolves once it listens. */
export const startRelayProcess = (env: Record<string, string> = {}, port = 0): Promise<RelayProcess> => {
  const child = spawn(process.execPath, [MAIN, "serve"], {
    env: { ...baseEnv(), PARRHESIA_STORE: "memory", PARRHESIA_HOST: "127.0.0.1", PARRHESIA_PORT: String(port), PARRHESIA_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let out = ""
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString()
      const m = /listening on (wss?:\/\/[\d.]+:(\d+))/.exec(out)
      if (m) {
        child.stdout!.off("data", onData)
        child.stdout!.on("data", (x: Buffer) => (out += x.toString()))
        resolve({
          url: m[1]!,
          port: Number(m[2]),
          child,
          output: () => out,
          stop: () => {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
            return exited
          }
        })
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()))
    child.once("exit", (code) => reject(new Error(`relay exited (${code}) before listening: ${out}`)))
  })
}

export interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `parrhesia <args>` to its end. */
export const runCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<CliRun> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: { ...baseEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (d) => (stdout += d))
    child.stderr!.on("data", (d) => (stderr += d))
    child.once("exit", (code) => resolve({ code, stdout, stderr }))
  })
