// coordinator.synchronized('{f_name}-{vol.id}'): runs a function while
// holding the coordinated lock(s) its call names. Works as a standard method
// decorator, a legacy (experimentalDecorators) one, or a plain wrapper.
import { performance } from 'node:perf_hooks'
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
  const wrap = <F extends AnyFunction>(fn: F, label: string): Wrapped<F> => {
    const wrapper = async function (this: ThisParameterType<F>, ...args: Parameters<F>): Promise<Awaited<ReturnType<F>>> {
      // Sorted names: callers that need the same set always take it in the same order.
      const names = namesFromCall(spec, fn, this, args, label)
      const held: DistributedLock[] = []
      const deadline = typeof wait === 'number' ? performance.now() + wait : undefined
      try {
        for (const name of names) {
          const lock = getLock(name)
          // What is left of the call's bound (0: one try, then LockTimeoutError).
          const bound = deadline === undefined ? { blocking: wait } : { timeout: Math.max(0, Math.ceil(deadline - performance.now())) }
          if (!await lock.acquire(bound)) throw new AcquireLockFailedError(lock.fullName)
          held.push(lock)
        }
        return await fn.apply(this, args)
      } finally {
        for (const lock of held.reverse()) await lock.release()
      }
    }
    Object.defineProperty(wrapper, 'name', { value: fn.name, configurable: true })
    return wrapper
  }
  function decorator (target: any, context?: any, descriptor?: PropertyDescriptor): any {
    if (descriptor !== undefined && typeof descriptor.value === 'function') {
      return { ...descriptor, value: wrap(descriptor.value, String(context)) }
    }
    const label = typeof context?.name === 'string' ? context.name : (target as AnyFunction).name
    return wrap(target as AnyFunction, label)
  }
  return decorator as SynchronizedDecorator
}
