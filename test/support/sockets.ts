/**
 * Which process holds a TCP connection, read from /proc (Linux): tests of
 * several workers behind one port use it to know where each client landed,
 * without any hook in the relay.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs"
import type { RawClient } from "./ws.ts"

/** The child processes of `pid` whose command line contains `marker`. */
export const childPids = (pid: number, marker: string): Array<number> => {
  let text = ""
  try {
    text = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
  } catch {
    return []
  }
  return text
    .trim()
    .split(/\s+/)
    .filter((x) => x !== "")
    .map(Number)
    .filter((child) => {
      try {
        return readFileSync(`/proc/${child}/cmdline`, "utf8").includes(marker)
      } catch {
        return false
      }
    })
}

/** The socket inode of the server end (local port `serverPort`) of the connection from client port `clientPort`. */
const serverInode = (serverPort: number, clientPort: number): string | undefined => {
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = ""
    try {
      text = readFileSync(table, "utf8")
    } catch {
      continue
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10) continue
      const local = parseInt(f[1]!.split(":")[1]!, 16)
      const remote = parseInt(f[2]!.split(":")[1]!, 16)
      if (local === serverPort && remote === clientPort && f[3] === "01") return f[9]
    }
  }
  return undefined
}

const holds = (pid: number, inode: string): boolean => {
  let fds: Array<string> = []
  try {
    fds = readdirSync(`/proc/${pid}/fd`)
  } catch {
    return false
  }
  const want = `socket:[${inode}]`
  return fds.some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === want
    } catch {
      return false
    }
  })
}

/** The process among `pids` that serves this client's connection (undefined if none does). */
export const serverPidOf = (client: RawClient, serverPort: number, pids: ReadonlyArray<number>): number | undefined => {
  const socket = (client.ws as unknown as { _socket: { localPort: number } })._socket
  const inode = serverInode(serverPort, socket.localPort)
  if (inode === undefined) return undefined
  return pids.find((p) => holds(p, inode))
}
