// How long an acquire may wait: the one rule every acquire of the API follows.
// `timeout` (milliseconds, Infinity for no bound) is the word for the bound,
// as in LockFile; a number given as `blocking` (tooz's and cli2's spelling) is
// its alias. `blocking: false` tries once and never waits.
import { invalidArgType, invalidArgValue } from './errors'
import { validateSignal, validateTimeout } from './validate'

/** `true` waits as long as it takes, `false` tries once, a number waits at most that many ms. */
export type Blocking = boolean | number

export interface AcquireOptions {
  /** false: one try, no wait. A number is the same as `timeout`. Default true. */
  blocking?: Blocking
  /** Give up after this many milliseconds (LockTimeoutError, code ETIMEDOUT). */
  timeout?: number
  /** Give up when this signal aborts (rejects with its reason). */
  signal?: AbortSignal
}

/** The keys of AcquireOptions, for refuseUnknownKeys(). */
export const ACQUIRE_OPTION_NAMES: readonly string[] = ['blocking', 'timeout', 'signal']

/** Misplaced words that callers of other lock libraries use for the same thing. */
export const ACQUIRE_OPTION_HINTS: Readonly<Record<string, string>> = {
  wait: 'blocking', block: 'blocking', nonblocking: 'blocking', timeoutMs: 'timeout', waitTimeout: 'timeout', abortSignal: 'signal'
}

/** `undefined` stays undefined (use the default); `Infinity` means wait as long as it takes. */
export function validateBlocking (blocking: unknown, name: string): Blocking | undefined {
  if (blocking === undefined || typeof blocking === 'boolean') return blocking
  if (typeof blocking === 'number') return validateTimeout(blocking, name) ?? true
  throw invalidArgType(name, 'a boolean or a number of milliseconds', blocking)
}

/**
 * `blocking` and `timeout` of an options object as one Blocking value
 * (undefined when neither is given). Both bounds at once, or a bound with
 * `blocking: false`, contradict each other and are refused.
 */
export function waitSetting (opts: { blocking?: unknown, timeout?: unknown }, name: string): Blocking | undefined {
  const blocking = validateBlocking(opts.blocking, `${name}.blocking`)
  if (opts.timeout === undefined) return blocking
  const timeout = validateTimeout(opts.timeout, `${name}.timeout`) ?? true
  if (blocking === false) throw invalidArgValue(`${name}.timeout`, opts.timeout, 'cannot be used with blocking: false (which never waits)')
  if (typeof opts.blocking === 'number') throw invalidArgValue(`${name}.timeout`, opts.timeout, `cannot be used with a numeric blocking (${String(opts.blocking)}), which is the same bound: give one of them`)
  return timeout
}

/** The signal of an options object, checked. */
export function signalSetting (opts: { signal?: unknown }, name: string): AbortSignal | undefined {
  return validateSignal(opts.signal, `${name}.signal`)
}
