/**
 * Finds the embedded PostgreSQL of a relay running on a data folder, so an
 * operator tool (`parrhesia import`, `export`) works on that server instead
 * of starting a second one on the same files (which PostgreSQL's lock would
 * refuse, and which would stop the relay's database if it got through).
 *
 * PostgreSQL writes `<dataDir>/pg/postmaster.pid` while it runs: its pid,
 * data folder, start time, port, socket folder, listen address, shared
 * memory key and status ("ready" once it accepts connections). The password
 * is the one EmbeddedPostgres.ts keeps in `<dataDir>/pg-password`.
 *
 * A server whose parent process is gone (its relay was killed) is not a
 * running relay's: the tool then starts the embedded server itself, which
 * stops that leftover first (EmbeddedPostgres.ts).
 */
import { existsSync, readFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { alive, parentPid, readProc, sleep } from "./processes.ts"

export interface RunningEmbedded {
  /** The postmaster's pid. */
  readonly pid: number
  readonly port: number
  /** The relay process that runs it (its parent). */
  readonly ownerPid: number
  readonly url: string
}

/** What postmaster.pid says now, when it names a live server of `pgDir` run by a live parent. */
const inspect = (pgDir: string): { readonly running: RunningEmbedded | undefined; readonly status: string } | undefined => {
  const pidFile = join(pgDir, "postmaster.pid")
  if (!existsSync(pidFile)) return undefined
  let lines: Array<string>
  try {
    lines = readFileSync(pidFile, "utf8").split("\n")
  } catch {
    return undefined
  }
  const pid = Number(lines[0])
  const port = Number(lines[3])
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0 || !alive(pid)) return undefined
  const cmdline = readProc(pid, "cmdline")
  if (cmdline === undefined || !cmdline.includes("postgres") || !cmdline.split("\0").some((a) => a !== "" && resolve(a) === resolve(pgDir))) {
    return undefined
  }
  const ownerPid = parentPid(pid)
  if (ownerPid === undefined || ownerPid <= 1 || !alive(ownerPid)) return undefined
  const dataDir = resolve(pgDir, "..")
  const passwordFile = join(dataDir, "pg-password")
  const password = existsSync(passwordFile) ? readFileSync(passwordFile, "utf8").trim() : "password"
  return {
    running: { pid, port, ownerPid, url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/parrhesia` },
    status: (lines[7] ?? "").trim()
  }
}

/**
 * The embedded server a running relay keeps for `dataDir`, once it accepts connections (waiting up
 * to `waitMs` while it starts); undefined when none runs there.
 */
export const findRunningEmbedded = async (dataDir: string, waitMs = 30_000): Promise<RunningEmbedded | undefined> => {
  const pgDir = join(resolve(dataDir), "pg")
  const deadline = Date.now() + waitMs
  for (;;) {
    const found = inspect(pgDir)
    if (found === undefined) return undefined
    // "ready" is written once it accepts connections; older servers write nothing there: try it.
    if (found.status === "ready" || found.status === "" || Date.now() >= deadline) return found.running
    await sleep(100)
  }
}
