/** Local processes as /proc and signal 0 show them: what the embedded PostgreSQL's lifecycle checks look at. */
import { readFileSync } from "node:fs"

/** /proc/<pid>/<file>, or undefined when it cannot be read (no such process, not Linux). */
export const readProc = (pid: number, file: string): string | undefined => {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8")
  } catch {
    return undefined
  }
}

/** Whether a process exists (one of another user answers signal 0 with EPERM). */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** The parent's pid, from /proc/<pid>/stat. */
export const parentPid = (pid: number): number | undefined => {
  const stat = readProc(pid, "stat")
  if (stat === undefined) return undefined
  // pid (comm) state ppid ...; comm may contain spaces and parentheses
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  const ppid = Number(fields[1])
  return Number.isInteger(ppid) ? ppid : undefined
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
