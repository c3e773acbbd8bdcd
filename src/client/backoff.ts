/** Reconnect backoff with jitter, shared by the outgoing clients. */

/** Exponential backoff with "equal jitter": between half and all of min(max, base * 2^attempt). */
export const backoffDelay = (attempt: number, baseMs: number, maxMs: number, random: () => number): number => {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30))
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}

