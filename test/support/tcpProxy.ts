/**
 * A TCP proxy for network faults between the relay and its PostgreSQL:
 * `cut()` stalls the network (nothing is forwarded any more, in either
 * direction, on open or new connections, and nothing is closed: what a pulled
 * cable or a dropping firewall looks like from both ends), `restore()` lets
 * traffic flow again. With `restore({ dropStalled: true })` the connections
 * that were open during the cut are reset, as when NAT or firewall state was
 * lost meanwhile; otherwise they resume where they stopped (TCP retransmits).
 */
import { createServer, connect, type Server, type Socket } from "node:net"
import type { AddressInfo } from "node:net"

export interface TcpProxy {
  readonly port: number
  readonly cut: () => void
  readonly restore: (options?: { readonly dropStalled?: boolean }) => void
  readonly close: () => Promise<void>
  /** Connections accepted so far. */
  readonly accepted: () => number
}

interface Pair {
  readonly client: Socket
  readonly upstream: Socket
  /** Bytes held back while cut, per direction. */
  readonly held: { toUpstream: Array<Buffer>; toClient: Array<Buffer> }
}

export const startTcpProxy = async (targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> => {
  let isCut = false
  let count = 0
  const pairs = new Set<Pair>()
  const server: Server = createServer((client) => {
    count++
    const upstream = connect(targetPort, targetHost)
    const pair: Pair = { client, upstream, held: { toUpstream: [], toClient: [] } }
    pairs.add(pair)
    client.on("data", (d) => (isCut ? pair.held.toUpstream.push(d) : upstream.write(d)))
    upstream.on("data", (d) => (isCut ? pair.held.toClient.push(d) : client.write(d)))
    const end = () => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on("error", end)
    upstream.on("error", end)
    client.on("close", end)
    upstream.on("close", end)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => count,
    cut: () => {
      isCut = true
    },
    restore: (options = {}) => {
      isCut = false
      for (const p of [...pairs]) {
        if (options.dropStalled) {
          p.client.resetAndDestroy()
          p.upstream.destroy()
          pairs.delete(p)
          continue
        }
        for (const d of p.held.toUpstream.splice(0)) p.upstream.write(d)
        for (const d of p.held.toClient.splice(0)) p.client.write(d)
      }
    },
    close: () =>
      new Promise((resolve) => {
        for (const p of pairs) {
          p.client.destroy()
          p.upstream.destroy()
        }
        server.close(() => resolve())
      })
  }
}
