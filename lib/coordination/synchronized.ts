// coordinator.synchronized('{f_name}-{vol.id}'): runs a function while
// holding the coordinated lock(s) its call names, on lib/decorate.ts like
// named locks' synchronized() (the same call forms and the same wait budget).
import { checkFields, decorator, WaitBudget } from '../decorate'
import { AcquireLockFailedError } from '../errors'
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

export function makeSynchronized (
  getLock: (name: string) => DistributedLock, spec: LockNameSpec, options?: SynchronizedOptions
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
      try {
        for (const name of names) {
          const lock = getLock(name)
          if (!await lock.acquire({ blocking: budget.left() })) throw new AcquireLockFailedError(lock.fullName)
          held.push(lock)
        }
        return await fn.apply(this, args)
      } finally {
        for (const lock of held.reverse()) await lock.release()
      }
    }
  }) as SynchronizedDecorator
}
