/**
 * Rejections are data: one tagged error per NIP-01 machine-readable prefix.
 * `reasonOf` renders any of them as the `prefix: message` string that goes
 * into OK and CLOSED frames (the frames themselves are built in messages.ts).
 */
import { Data } from "effect"

export type Prefix =
  | "invalid"
  | "duplicate"
  | "blocked"
  | "rate-limited"
  | "pow"
  | "restricted"
  | "auth-required"
  | "mute"
  | "unsupported"
  | "error"

interface Fields {
  readonly message: string
}

export class Invalid extends Data.TaggedError("Invalid")<Fields> {
  readonly prefix = "invalid" as const
}
export class Duplicate extends Data.TaggedError("Duplicate")<Fields> {
  readonly prefix = "duplicate" as const
}
export class Blocked extends Data.TaggedError("Blocked")<Fields> {
  readonly prefix = "blocked" as const
}
export class RateLimited extends Data.TaggedError("RateLimited")<Fields> {
  readonly prefix = "rate-limited" as const
}
export class Pow extends Data.TaggedError("Pow")<Fields> {
  readonly prefix = "pow" as const
}
export class Restricted extends Data.TaggedError("Restricted")<Fields> {
  readonly prefix = "restricted" as const
}
export class AuthRequired extends Data.TaggedError("AuthRequired")<Fields> {
  readonly prefix = "auth-required" as const
}
export class Mute extends Data.TaggedError("Mute")<Fields> {
  readonly prefix = "mute" as const
}
export class Unsupported extends Data.TaggedError("Unsupported")<Fields> {
  readonly prefix = "unsupported" as const
}
/** Something on our side failed (storage, timeout, shutdown): never the client's fault. */
export class ServerError extends Data.TaggedError("ServerError")<Fields> {
  readonly prefix = "error" as const
}

/** A failure on our side (the store, the relay's key) as the client is told it: `could not <what> (<its message>)`. */
export const couldNot =
  (what: string) =>
  (e: { readonly message: string }): ServerError =>
    new ServerError({ message: `could not ${what} (${e.message})` })

export type Rejection =
  | Invalid
  | Duplicate
  | Blocked
  | RateLimited
  | Pow
  | Restricted
  | AuthRequired
  | Mute
  | Unsupported
  | ServerError

/** `prefix: message`, the machine-readable reason NIP-01 puts in OK and CLOSED. */
export const reasonOf = (r: Rejection): string => `${r.prefix}: ${r.message}`
