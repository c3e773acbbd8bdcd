/**
 * A connection's outbound path: frames go straight to the socket while it
 * keeps up; once the socket holds more than `highWater` unsent bytes, frames
 * wait in a bounded queue until the socket has flushed. No fiber per
 * connection: writing a live event to a subscriber is one function call.
 *
 * - `offerLive` never waits (fanout cannot wait for one slow client): when the
 *   queue is full it calls `onOverflow` (the connection closes it) and drops.
 * - `offer` (answers: OK, EVENT of a query, EOSE, ...) waits for room; a
 *   quarter of the queue is kept free of answers for live frames.
 * - A function in the queue runs in order with the frames (close after the last answer).
 *
 * A class rather than a record of closures: one of these lives per connection,
 * and prototype methods cost nothing per idle connection.
 */
import { Effect } from "effect"
import type { Transport } from "./Transport.ts"

type Item = string | (() => void)

export interface OutboundOptions {
  readonly capacity: number
  readonly highWater: number
  readonly onOverflow: () => void
}

/** Shared by every idle connection; frozen, so a push into it would throw rather than leak between connections. */
const EMPTY = Object.freeze([]) as unknown as Array<Item>

export class Outbound {
  private queue: Array<Item> = EMPTY
  private head = 0
  /** Waiting for the socket to flush the frame sent with a callback. */
  private blocked = false
  private cleared = false
  private roomWaiters: Array<() => void> | undefined
  /**
   * Answers may fill only 3/4 of the queue: the rest is kept for live frames, so a client that is
   * reading but still behind on a big query result is not cut off as a slow consumer by the next
   * live event. A client that stops reading still overflows the reserve and is disconnected.
   */
  private readonly answerCapacity: number
  private readonly transport: Transport
  private readonly options: OutboundOptions
  private readonly onFlushed = () => {
    this.blocked = false
    this.pump()
  }

  constructor(transport: Transport, options: OutboundOptions) {
    this.transport = transport
    this.options = options
    this.answerCapacity = options.capacity - Math.floor(options.capacity / 4)
  }

  size(): number {
    return this.queue.length - this.head
  }

  private write(item: Item): void {
    if (typeof item === "function") return item()
    if (this.transport.bufferedAmount() > this.options.highWater) {
      this.blocked = true
      this.transport.send(item, this.onFlushed)
    } else {
      this.transport.send(item)
    }
  }

  private pump(): void {
    const queue = this.queue
    while (!this.blocked && this.head < queue.length) {
      const item = queue[this.head]!
      queue[this.head++] = "" // release the frame for GC
      this.write(item)
    }
    if (this.head === this.queue.length) {
      this.queue = EMPTY
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
    const waiters = this.roomWaiters
    while (waiters !== undefined && waiters.length > 0 && this.size() < this.answerCapacity) waiters.shift()!()
  }

  private enqueue(item: Item): void {
    if (!this.blocked && this.size() === 0) this.write(item)
    else if (this.queue === EMPTY) this.queue = [item]
    else this.queue.push(item)
  }

  offerLive(frame: string): void {
    if (this.cleared) return
    if (this.size() >= this.options.capacity) return this.options.onOverflow()
    this.enqueue(frame)
  }

  offer(item: Item): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.cleared) return Effect.void
      if (this.size() < this.answerCapacity) {
        this.enqueue(item)
        return Effect.void
      }
      return Effect.callback<void>((resume) => {
        const waiter = () => {
          if (!this.cleared) this.enqueue(item)
          resume(Effect.void)
        }
        const waiters = (this.roomWaiters ??= [])
        waiters.push(waiter)
        return Effect.sync(() => {
          const i = waiters.indexOf(waiter)
          if (i >= 0) waiters.splice(i, 1)
        })
      })
    })
  }

  /**
   * `offer` for many items: one synchronous pass while there is room, then waits for the rest, in order.
   * It takes the array: each entry is released ("") once handed on, so the frames already written
   * (flattened copies, by then) are not kept alive by the array while a client that stopped reading
   * holds up the rest of a large result.
   */
  offerAll(items: Array<Item>, from = 0): Effect.Effect<void> {
    return Effect.suspend(() => {
      let i = from
      while (i < items.length && !this.cleared && this.size() < this.answerCapacity) {
        const item = items[i]!
        items[i++] = ""
        this.enqueue(item)
      }
      if (i >= items.length || this.cleared) return Effect.void
      const item = items[i]!
      items[i] = ""
      return Effect.andThen(this.offer(item), this.offerAll(items, i + 1))
    })
  }

  /** Drops everything queued and wakes waiting writers (their items are dropped too). */
  clear(): void {
    this.cleared = true
    this.queue = EMPTY
    this.head = 0
    for (const w of this.roomWaiters?.splice(0) ?? []) w()
  }
}

export const makeOutbound = (transport: Transport, options: OutboundOptions): Outbound => new Outbound(transport, options)
