// coordinator.synchronized('{f_name}-{vol.id}'): runs a function while
// holding the coordinated lock(s) its call names, on lib/decorate.ts like
// named locks' synchronized() (the same call forms and the same wait budget).
import { AsyncLocalStorage } from 'node:async_hooks'
import { checkFields, decorator, WaitBudget } from '../decorate'
import { AcquireLockFailedError, LockLostError } from '../errors'
import { namesFromCall, validateNameSpec, type LockNameSpec } from '../template'
import { refuseUnknownKeys, validateObject } from '../validate'
import { ACQUIRE_OPTION_HINTS, waitSetting, type Blocking } from '../wait-options'
import type { DistributedLock } from './types'

export interface SynchronizedOptions {
  /**
   * `true` (default) waits; `false` fails at once with AcquireLockFailedError.
   * A number is the same as `timeout`.
   */
  blocking?: Blocking
  /**
   * Give up after this many milliseconds (LockTimeoutError, code ETIMEDOUT),
   * counted from the call: one bound for all the locks the call names.
   * Infinity (default): no bound.
   */
  timeout?: number
}

/**
 * No `signal`: one given when decorating would end every later call's wait
 * too. A caller that needs to abort a call takes the lock itself.
 */
const SYNCHRONIZED_OPTION_NAMES: readonly string[] = ['blocking', 'timeout']
const SYNCHRONIZED_OPTION_HINTS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(ACQUIRE_OPTION_HINTS).filter(([, word]) => SYNCHRONIZED_OPTION_NAMES.includes(word)))

function synchronizedWait (options: SynchronizedOptions | undefined): Blocking {
  const opts = validateObject<SynchronizedOptions>(options, 'options')
  refuseUnknownKeys(opts, SYNCHRONIZED_OPTION_NAMES, 'options', SYNCHRONIZED_OPTION_HINTS)
  return waitSetting(opts, 'options') ?? true
}

type AnyFunction = (this: any, ...args: any[]) => any
type Wrapped<F extends AnyFunction> = (this: ThisParameterType<F>, ...args: Parameters<F>) => Promise<Awaited<ReturnType<F>>>

export interface SynchronizedDecorator {
  /** Wraps a function (or decorates a method): the result always returns a promise. */
  <F extends AnyFunction>(fn: F, context?: ClassMethodDecoratorContext): Wrapped<F>
  /** experimentalDecorators form. */
  (target: object, key: string | symbol, descriptor: PropertyDescriptor): PropertyDescriptor
}

/**
 * The locks held by the synchronized calls the current code runs inside, by
 * coordinator (a call of one coordinator inside another's sees both).
 */
const heldByCall = new AsyncLocalStorage<ReadonlyMap<object, readonly DistributedLock[]>>()

/**
 * The lock held for the synchronized call the current code runs in, for
 * `owner` (a coordinator): the one named `name` (its name or full name), or
 * the first one; undefined outside such a call.
 */
export function currentLock (owner: object, name?: string): DistributedLock | undefined {
  const locks = heldByCall.getStore()?.get(owner)
  if (locks === undefined) return undefined
  if (name === undefined) return locks[0]
  return locks.find((lock) => lock.name === name || lock.fullName === name)
}

/** The reason the first of `locks` whose holding ended early (lost, or the coordinator stopped). */
function lossOf (locks: readonly DistributedLock[], signals: readonly AbortSignal[]): Error | undefined {
  for (let i = 0; i < locks.length; i++) {
    const signal = signals[i] as AbortSignal
    if (signal.aborted) {
      const reason = signal.reason as unknown
      return reason instanceof Error ? reason : new LockLostError((locks[i] as DistributedLock).fullName, String(reason))
    }
  }
  return undefined
}

export function makeSynchronized (
  getLock: (name: string) => DistributedLock, spec: LockNameSpec, options?: SynchronizedOptions, owner: object = makeSynchronized
): SynchronizedDecorator {
  validateNameSpec(spec, 'name')
  const wait = synchronizedWait(options)
  return decorator('synchronized', (fn, label) => {
    checkFields(spec, fn)
    return async function (this: unknown, ...args: unknown[]): Promise<unknown> {
      // Sorted names: callers that need the same set always take it in the same order.
      const names = namesFromCall(spec, fn, this, args, label)
      const budget = new WaitBudget(wait)
      const held: DistributedLock[] = []
      let succeeded = false
      try {
        for (const name of names) {
          const lock = getLock(name)
          if (!await lock.acquire({ blocking: budget.left() })) throw new AcquireLockFailedError(lock.fullName)
          held.push(lock)
        }
        // The signals of these holdings: a lock reacquired later gets a new one.
        const signals = held.map((lock) => lock.signal)
        const outer = heldByCall.getStore()
        const scope = new Map(outer)
        scope.set(owner, [...(outer?.get(owner) ?? []), ...held])
        let result: unknown
        try {
          result = await heldByCall.run(scope, async () => await fn.apply(this, args))
        } catch (error) {
          const loss = lossOf(held, signals)
          if (loss === undefined) throw error
          if (!('cause' in loss)) Object.defineProperty(loss, 'cause', { value: error, configurable: true, writable: true })
          throw loss
        }
        // A function that finished after its lock was lost did its work unprotected: say so.
        const loss = lossOf(held, signals)
        if (loss !== undefined) throw loss
        succeeded = true
        return result
      } finally {
        // Every lock is given back; a release the server did not confirm fails
        // a call that otherwise succeeded (never hides the call's own error).
        let unconfirmed: unknown
        for (const lock of held.reverse()) {
          try {
            await lock.release()
          } catch (error) {
            unconfirmed ??= error
          }
        }
        // eslint-disable-next-line no-unsafe-finally
        if (succeeded && unconfirmed !== undefined) throw unconfirmed
      }
    }
  }) as SynchronizedDecorator
}
