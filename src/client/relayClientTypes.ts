/**
 * The vocabulary of RelayClient (RelayClient.ts): its tagged error, the
 * connection states, the options, what operations answer, and the counters
 * `stats()` reports. Kept apart so the pool, sync and mirroring can name them
 * without the connection machinery.
 */
import { Data } from "effect"
import type { Filter, NostrEvent } from "../nostr/index.ts"
import type { BoundedSet } from "../lib/BoundedSet.ts"

export type ClientErrorReason = "unreachable" | "disconnected" | "timeout" | "protocol" | "refused" | "unsupported" | "queue-full" | "closed"

export class RelayClientError extends Data.TaggedError("RelayClientError")<{
  readonly url: string
  readonly reason: ClientErrorReason
  readonly message: string
}> {}

export type ConnectionState = "connecting" | "open" | "backoff" | "closed"

export interface RelayStats {
  readonly url: string
  readonly state: ConnectionState
  readonly connects: number
  readonly disconnects: number
  readonly framesSent: number
  readonly framesReceived: number
  readonly eventsReceived: number
  readonly duplicatesDropped: number
  readonly published: number
  readonly accepted: number
  readonly refused: number
  readonly notices: number
  readonly protocolErrors: number
  readonly queued: number
  readonly authenticated: boolean
  readonly lastError: string | undefined
  readonly lastNotice: string | undefined
}

export interface ClientOptions {
  /** Secret key for NIP-42 AUTH when the relay asks (none: requests needing AUTH are refused). */
  readonly authKey?: Uint8Array
  /** Signs the AUTH event instead of `authKey` (e.g. as the relay's own identity). */
  readonly authSigner?: (template: { readonly kind: number; readonly created_at: number; readonly tags: ReadonlyArray<ReadonlyArray<string>>; readonly content: string }) => NostrEvent
  /** Reconnect after a drop (default true). */
  readonly reconnect?: boolean
  readonly backoffBaseMs?: number
  readonly backoffMaxMs?: number
  /** Publishes waiting for an OK (sent or not): beyond this a publish fails with `queue-full`. */
  readonly maxQueued?: number
  readonly connectTimeoutMs?: number
  /** How long a publish, query or NIP-77 message waits for its answer. */
  readonly requestTimeoutMs?: number
  /** Largest frame accepted from the relay. */
  readonly maxFrameBytes?: number
  readonly random?: () => number
  /** Called on every state change (and with the error that caused a drop). */
  readonly onState?: (state: ConnectionState, error?: string) => void
}

export interface PublishResult {
  readonly id: string
  readonly accepted: boolean
  readonly message: string
}

export interface SubscriptionHandlers {
  readonly onEvent: (event: NostrEvent) => void
  readonly onEose?: () => void
  /** The relay ended the subscription (CLOSED); it is not asked again. */
  readonly onClosed?: (message: string) => void
}

export interface Subscription {
  readonly id: string
  readonly close: () => void
}

// What the client holds while it waits for answers (internal to RelayClient.ts).
export interface Waiter<A> {
  readonly resolve: (a: A) => void
  readonly reject: (e: RelayClientError) => void
  timer?: ReturnType<typeof setTimeout>
}
export interface PendingPublish extends Waiter<PublishResult> {
  readonly frame: string
  authRetried: boolean
}
export interface PendingQuery extends Waiter<ReadonlyArray<NostrEvent>> {
  readonly frame: string
  readonly events: Array<NostrEvent>
  readonly seen: Set<string>
  authRetried: boolean
}
export interface LiveSub {
  readonly filters: () => ReadonlyArray<Filter>
  readonly handlers: SubscriptionHandlers
  readonly seen: BoundedSet
  authRetried: boolean
}
