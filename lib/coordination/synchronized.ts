// coordinator.synchronized('{f_name}-{vol.id}'): runs a function while
// holding the coordinated lock(s) its call names. Works as a standard method
// decorator, a legacy (experimentalDecorators) one, or a plain wrapper.
import { AcquireLockFailedError } from '../errors'
import type { Blocking } from '../lock'
import { namesFromCall, validateNameSpec, type LockNameSpec } from '../template'
import { acquireSettings } from './options'
import type { DistributedLock } from './types'

export interface SynchronizedOptions {
  /** `true` (default) waits; `false` fails at once with AcquireLockFailedError; a number waits that many ms. */
  blocking?: Blocking
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
  const { blocking } = acquireSettings(options)
  const wrap = <F extends AnyFunction>(fn: F, label: string): Wrapped<F> => {
    const wrapper = async function (this: ThisParameterType<F>, ...args: Parameters<F>): Promise<Awaited<ReturnType<F>>> {
      // Sorted names: callers that need the same set always take it in the same order.
      const names = namesFromCall(spec, fn, this, args, label)
      const held: DistributedLock[] = []
      try {
        for (const name of names) {
          const lock = getLock(name)
          if (!await lock.acquire({ blocking })) throw new AcquireLockFailedError(lock.fullName)
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
