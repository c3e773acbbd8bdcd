/** Protocol time: unix seconds, as in created_at, read from Effect's Clock (so TestClock drives it). */
import { Clock, Effect } from "effect"

export const nowSeconds: Effect.Effect<number> = Effect.map(Clock.currentTimeMillis, (ms) => Math.floor(ms / 1000))
