// What named locks' synchronized() and the Coordinator's have in common: one
// wait bound for all the locks a call takes, and one decorator that works as
// a standard method decorator, a legacy (experimentalDecorators) one, or a
// plain function wrapper.
import { types } from 'node:util'
import { invalidArgType, invalidArgValue, TemplateFieldError } from './errors'
import { compileTemplate, type LockNameSpec } from './template'
import { parameterNames } from './parameters'
import type { Blocking } from './wait-options'

/**
 * A call's wait bound, shared by every lock it takes in turn: the whole call
 * waits at most that long, not each lock (a numeric bound is counted from
 * when the budget is made).
 */
export class WaitBudget {
  readonly wait: Blocking
  readonly #deadline: number

  constructor (wait: Blocking) {
    this.wait = wait
    this.#deadline = typeof wait === 'number' ? performance.now() + wait : Infinity
  }

  /** The bound for the next lock: `true`/`false` as given, or the milliseconds left (0: one try). */
  left (): Blocking {
    return typeof this.wait === 'number' ? Math.max(0, this.#deadline - performance.now()) : this.wait
  }
}

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown

/**
 * A decorator from `wrap`, which turns a function into the locked one
 * (`label` is the method's or function's name, for `{f_name}`). Generator
 * functions are refused: their lock would have to span the iteration.
 */
export function decorator (what: string, wrap: (fn: AnyFunction, label: string) => AnyFunction) {
  const apply = (fn: unknown, label?: string): AnyFunction => {
    if (typeof fn !== 'function') throw invalidArgType('fn', 'a function', fn)
    if (types.isGeneratorFunction(fn)) {
      throw invalidArgValue('fn', fn, 'is a generator function: its lock would have to span the iteration, which a wrapper cannot see')
    }
    const wrapped = wrap(fn as AnyFunction, label ?? fn.name)
    Object.defineProperty(wrapped, 'name', { value: fn.name, configurable: true })
    return wrapped
  }
  return function decorate (target: unknown, context?: unknown, descriptor?: unknown): unknown {
    if (descriptor !== undefined && typeof descriptor === 'object' && descriptor !== null && 'value' in descriptor) {
      const legacy = descriptor as PropertyDescriptor
      return { ...legacy, value: apply(legacy.value, String(context)) }
    }
    if (context !== undefined && typeof context === 'object' && context !== null && 'kind' in context) {
      const { kind, name: member } = context as ClassMethodDecoratorContext
      if (kind !== 'method') throw invalidArgValue('decorator target', kind, `must be a method (${what} decorates methods)`)
      return apply(target, typeof member === 'symbol' ? member.description ?? '' : member)
    }
    return apply(target)
  }
}

/** Template fields that name parameters must name parameters of `fn`: fail at declaration, not at first call. */
export function checkFields (spec: LockNameSpec, fn: AnyFunction): void {
  if (typeof spec === 'function') return
  for (const template of typeof spec === 'string' ? [spec] : spec) {
    for (const field of compileTemplate(template).fields) {
      if (field.root === 'f_name' || field.root === 'this' || /^\d+$/.test(field.root)) continue
      const params = parameterNames(fn)
      if (params?.some((p) => p.name === field.root) === true) continue
      const known = params === null ? 'its parameter names cannot be read' : `its parameters are ${params.map((p) => p.name ?? '<destructured>').join(', ') || 'none'}`
      throw new TemplateFieldError(template, field.text, `names no parameter of ${fn.name === '' ? 'the function' : fn.name} (${known}); use a position like {0} or a key function`)
    }
  }
}
