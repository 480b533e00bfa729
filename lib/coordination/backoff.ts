// Reconnect delays: exponential from the initial delay up to the maximum, with
// jitter so that members cut off together do not all come back together.

/**
 * The delay before retry number `attempt` (1-based): the base doubles from
 * `initial` and stops at `max`; the jitter picks a point in the upper half of
 * the base, never below `initial`. So every delay lies in
 * [max(initial, base / 2), base] with base = min(max, initial * 2^(attempt - 1)).
 */
export function backoffDelay (attempt: number, initial: number, max: number, random: () => number = Math.random): number {
  const base = backoffBase(attempt, initial, max)
  return Math.max(Math.min(initial, base), Math.round(base / 2 + random() * base / 2))
}

/** The base (upper bound) of retry `attempt`'s delay. */
export function backoffBase (attempt: number, initial: number, max: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 52)
  return Math.min(max, initial * 2 ** exponent)
}

/** Counts attempts between successes. */
export class Backoff {
  readonly initial: number
  readonly max: number
  #attempt = 0

  constructor (initial: number, max: number) {
    this.initial = initial
    this.max = max
  }

  get attempt (): number { return this.#attempt }

  /** The next attempt's number and delay. */
  next (): { attempt: number, delay: number } {
    this.#attempt++
    return { attempt: this.#attempt, delay: backoffDelay(this.#attempt, this.initial, this.max) }
  }

  reset (): void {
    this.#attempt = 0
  }
}
