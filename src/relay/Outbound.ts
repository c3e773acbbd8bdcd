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
 */
import { Effect } from "effect"
import type { Transport } from "./Transport.ts"

type Item = string | (() => void)

export interface Outbound {
  readonly offerLive: (frame: string) => void
  readonly offer: (item: Item) => Effect.Effect<void>
  /** `offer` for many items: one synchronous pass while there is room. */
  readonly offerAll: (items: ReadonlyArray<Item>) => Effect.Effect<void>
  /** Drops everything queued and wakes waiting writers (their items are dropped too). */
  readonly clear: () => void
  readonly size: () => number
}

export const makeOutbound = (
  transport: Transport,
  options: { readonly capacity: number; readonly highWater: number; readonly onOverflow: () => void }
): Outbound => {
  let queue: Array<Item> = []
  let head = 0
  /** Waiting for the socket to flush the frame sent with a callback. */
  let blocked = false
  let cleared = false
  const roomWaiters: Array<() => void> = []
  const size = () => queue.length - head
  // Answers may fill only 3/4 of the queue: the rest is kept for live frames, so a client that is
  // reading but still behind on a big query result is not cut off as a slow consumer by the next
  // live event. A client that stops reading still overflows the reserve and is disconnected.
  const answerCapacity = options.capacity - Math.floor(options.capacity / 4)

  const write = (item: Item) => {
    if (typeof item === "function") return item()
    if (transport.bufferedAmount() > options.highWater) {
      blocked = true
      transport.send(item, onFlushed)
    } else {
      transport.send(item)
    }
  }

  const pump = () => {
    while (!blocked && head < queue.length) {
      const item = queue[head]!
      queue[head++] = "" // release the frame for GC
      write(item)
    }
    if (head === queue.length) {
      queue = []
      head = 0
    } else if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head)
      head = 0
    }
    while (roomWaiters.length > 0 && size() < answerCapacity) roomWaiters.shift()!()
  }

  function onFlushed() {
    blocked = false
    pump()
  }

  const enqueue = (item: Item) => {
    if (!blocked && size() === 0) write(item)
    else queue.push(item)
  }

  const offer = (item: Item): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (cleared) return Effect.void
      if (size() < answerCapacity) {
        enqueue(item)
        return Effect.void
      }
      return Effect.callback<void>((resume) => {
        const waiter = () => {
          if (!cleared) enqueue(item)
          resume(Effect.void)
        }
        roomWaiters.push(waiter)
        return Effect.sync(() => {
          const i = roomWaiters.indexOf(waiter)
          if (i >= 0) roomWaiters.splice(i, 1)
        })
      })
    })

  /** Enqueues as many as fit at once, then waits for room for the rest, in order. */
  const offerAll = (items: ReadonlyArray<Item>, from = 0): Effect.Effect<void> =>
    Effect.suspend(() => {
      let i = from
      while (i < items.length && !cleared && size() < answerCapacity) enqueue(items[i++]!)
      if (i >= items.length || cleared) return Effect.void
      return Effect.andThen(offer(items[i]!), offerAll(items, i + 1))
    })

  return {
    size,
    offer,
    offerAll,
    offerLive: (frame) => {
      if (cleared) return
      if (size() >= options.capacity) return options.onOverflow()
      enqueue(frame)
    },
    clear: () => {
      cleared = true
      queue = []
      head = 0
      for (const w of roomWaiters.splice(0)) w()
    }
  }
}
