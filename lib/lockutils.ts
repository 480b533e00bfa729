// Named locks in the manner of oslo.concurrency's lockutils: a lock is a name.
// The in-process lock of that name comes first (it excludes this thread's
// async tasks, and is all there is unless `external`), then the file lock in
// the lock directory (it excludes other processes and worker threads).
import { existsSync } from 'node:fs'
import { types } from 'node:util'
import {
  AcquireLockFailedError, invalidArgType, invalidArgValue, LockTimeoutError, WouldDeadlockError
} from './errors'
import { Lock, LOCK_OPTION_HINTS, LOCK_OPTION_NAMES, unlogged, type LockOptions } from './lock'
import { lockFilePath, lockFilePathOf, effectiveLockPath, setDefaultLockPath } from './lockpath'
import { debugLog, defaultLogger, failureEvent, type Logger } from './log'
import { ReaderWriterLock, type HeldLock, type ReaderWriterLockOptions } from './rwlock'
import { defaultFairLocks, defaultSemaphores, Semaphores, type InternalLock } from './semaphores'
import { checkFields, decorator, WaitBudget } from './decorate'
import { namesFromCall, validateNameSpec, type LockNameSpec } from './template'
import { lockfPeerBackend, validateBackend } from './backend'
import { refuseUnknownKeys, renamedOption, validateObject, type Backend } from './validate'
import { ACQUIRE_OPTION_HINTS, ACQUIRE_OPTION_NAMES, signalSetting, waitSetting, type AcquireOptions, type Blocking } from './wait-options'

export interface NamedLockOptions extends AcquireOptions {
  /** Also take the file lock, excluding other processes and worker threads (default false). */
  external?: boolean
  /** Prepended to the lock file's name; 'nova' and 'nova-' both give 'nova-<name>'. */
  lockFilePrefix?: string
  /** The lock directory (default: setDefaults(), then $LOCKSMITH_LOCK_PATH, then a private per-user one). */
  lockPath?: string
  /** The container of in-process locks to use (default: the process-wide one). */
  semaphores?: Semaphores
  /** Strict FIFO among this thread's waiters for the in-process lock. */
  fair?: boolean
  /** File lock backend (default 'auto': flock). Beside oslo.concurrency services, use `compat: 'oslo'`. */
  backend?: Backend
  /**
   * 'oslo': share lock files with oslo.concurrency services: oslo's file names
   * and a lock kind that excludes its fcntl.lockf locks (see backendOf()).
   */
  compat?: 'oslo'
  /** Anything with `debug(message)`; default: the NODE_DEBUG/DEBUG/LOG_LEVEL switches. */
  logger?: Logger
}

/** Locks taken by lock()/lockSync()/synchronized: release() or `using` gives them all back. */
export interface NamedLockHandle extends HeldLock {
  /** The names held, sorted. */
  readonly names: readonly string[]
  /** Their lock files (empty unless external). */
  readonly paths: readonly string[]
}

interface Settings {
  external: boolean
  prefix: string | undefined
  lockPath: string | undefined
  container: Semaphores
  blocking: Blocking
  signal: AbortSignal | undefined
  backend: Backend
  compat: 'oslo' | undefined
  logger: Logger | undefined
}

const OPTION_NAMES = ['external', 'lockFilePrefix', 'lockPath', 'semaphores', 'fair', ...ACQUIRE_OPTION_NAMES, 'backend', 'compat', 'logger']
/** oslo.concurrency's keyword arguments, and other libraries' words, as this API spells them. */
const OSLO_NAMES: Record<string, string> = {
  ...ACQUIRE_OPTION_HINTS, lock_file_prefix: 'lockFilePrefix', lock_path: 'lockPath', prefix: 'lockFilePrefix', do_log: 'logger'
}

/**
 * Waits here are driven by events (the in-process queue) and by the kernel (a
 * native thread blocked in the lock call), never by polling: there is no
 * interval to tune, so `delay` is refused rather than silently ignored.
 */
function refuseDelay (value: unknown): never {
  throw invalidArgValue('options.delay', value,
    'is not supported: locksmith never polls. In-process waiters are woken by the release itself and file locks are waited for in the kernel on a native thread, so there is no retry interval to set. Remove it; use `blocking: <ms>` to bound the wait')
}

/**
 * `compat: 'oslo'`: the lock kind that excludes oslo.concurrency's external
 * locks, which are fasteners' fcntl.lockf locks (classic POSIX record locks on
 * the whole file). flock locks do not see those, so 'flock' is refused. OFD
 * locks do conflict with them and keep their per-descriptor semantics, so
 * 'auto' means 'ofd' where the system has OFD locks, else 'posix'.
 */
function compatOf (value: unknown, name: string): 'oslo' | undefined {
  if (value !== undefined && value !== 'oslo') throw invalidArgValue(name, value, "must be 'oslo' or left out")
  return value
}

function backendOf (backend: unknown, compat: 'oslo' | undefined, name: string): Backend {
  const chosen = validateBackend(backend, name)
  if (compat === undefined) return chosen
  if (chosen === 'flock') throw invalidArgValue(name, chosen, "cannot be used with compat: 'oslo' (oslo.concurrency takes fcntl.lockf locks, which flock locks do not exclude; use 'ofd' or 'posix', or leave it out)")
  return chosen === 'auto' ? lockfPeerBackend() : chosen
}

function settingsOf (options: unknown): Settings {
  const opts = validateObject<NamedLockOptions & { delay?: unknown }>(options, 'options')
  if ('delay' in opts) refuseDelay(opts.delay)
  refuseUnknownKeys(opts, OPTION_NAMES, 'options', OSLO_NAMES)
  if (opts.external !== undefined && typeof opts.external !== 'boolean') throw invalidArgType('options.external', 'of type boolean', opts.external)
  if (opts.fair !== undefined && typeof opts.fair !== 'boolean') throw invalidArgType('options.fair', 'of type boolean', opts.fair)
  if (opts.lockFilePrefix !== undefined && typeof opts.lockFilePrefix !== 'string') throw invalidArgType('options.lockFilePrefix', 'of type string', opts.lockFilePrefix)
  if (opts.lockPath !== undefined && (typeof opts.lockPath !== 'string' || opts.lockPath === '')) throw invalidArgType('options.lockPath', 'a non-empty string', opts.lockPath)
  if (opts.semaphores !== undefined && !(opts.semaphores instanceof Semaphores)) throw invalidArgType('options.semaphores', 'an instance of Semaphores or FairLocks', opts.semaphores)
  if (opts.logger !== undefined && typeof opts.logger?.debug !== 'function') throw invalidArgType('options.logger', 'an object with a debug() method', opts.logger)
  if (opts.fair === true && opts.semaphores !== undefined && !opts.semaphores.fair) {
    throw invalidArgValue('options.fair', true, 'cannot be used with a Semaphores container of unfair locks (pass a FairLocks container, or leave one of them out)')
  }
  const compat = compatOf(opts.compat, 'options.compat')
  return {
    external: opts.external ?? false,
    prefix: opts.lockFilePrefix,
    lockPath: opts.lockPath,
    container: opts.semaphores ?? (opts.fair === true ? defaultFairLocks : defaultSemaphores),
    blocking: waitSetting(opts, 'options') ?? true,
    signal: signalSetting(opts, 'options'),
    backend: backendOf(opts.backend, compat, 'options.backend'),
    compat,
    logger: opts.logger ?? defaultLogger
  }
}

function namesOf (name: unknown): string[] {
  const list = typeof name === 'string' ? [name] : name
  if (!Array.isArray(list) || list.length === 0 || list.some((n) => typeof n !== 'string' || n.length === 0)) {
    throw invalidArgType('name', 'a non-empty string or a non-empty array of them', name)
  }
  return [...new Set(list as string[])].sort()
}

class NamedHeld implements NamedLockHandle {
  readonly mode = 'exclusive' as const
  readonly names: readonly string[]
  readonly paths: readonly string[]
  readonly #parts: Array<HeldLock | Lock>
  readonly #logger: Logger | undefined
  readonly #since = performance.now()
  #acquired = true

  constructor (names: string[], paths: string[], parts: Array<HeldLock | Lock>, logger: Logger | undefined) {
    this.names = names
    this.paths = paths
    this.#parts = parts
    this.#logger = logger
  }

  get acquired (): boolean { return this.#acquired }

  release (): boolean {
    if (!this.#acquired) return false
    this.#acquired = false
    for (const part of [...this.#parts].reverse()) part.release()
    const heldMs = Math.round((performance.now() - this.#since) * 10) / 10
    debugLog(this.#logger, { event: 'released', names: this.names, heldMs, pid: process.pid }, `Lock ${describe(this.names)} released :: held ${heldMs.toFixed(1)} ms`)
    return true
  }

  [Symbol.dispose] (): void { this.release() }
  async [Symbol.asyncDispose] (): Promise<void> { this.release() }
}

function describe (names: readonly string[]): string {
  return names.map((name) => `"${name}"`).join(', ')
}

function externalFor (name: string, settings: Settings): Lock {
  return new Lock(lockFilePath(name, { prefix: settings.prefix, lockPath: settings.lockPath, compat: settings.compat }), {
    backend: settings.backend, logger: settings.logger, label: name, noFollow: true, [unlogged]: true
  } as LockOptions)
}

/** Gives back what a failed multi-name acquire took; a timeout names the whole wait. */
function releaseAfterFailure (parts: Array<HeldLock | Lock>, error: unknown, names: string[], settings: Settings): unknown {
  for (const part of parts.reverse()) part.release()
  const event = failureEvent(error)
  debugLog(settings.logger, { event, names, pid: process.pid }, `Lock ${describe(names)} ${event}`)
  if (error instanceof LockTimeoutError && typeof settings.blocking === 'number') {
    return new LockTimeoutError(error.path ?? names.join(', '), settings.blocking)
  }
  return error
}

function held (names: string[], paths: string[], parts: Array<HeldLock | Lock>, settings: Settings, started: number): NamedLockHandle {
  const waitedMs = Math.round((performance.now() - started) * 10) / 10
  debugLog(settings.logger, { event: 'acquired', names, waitedMs, pid: process.pid }, `Lock ${describe(names)} acquired :: waited ${waitedMs.toFixed(1)} ms`)
  return new NamedHeld(names, paths, parts, settings.logger)
}

async function acquireNamed (names: string[], settings: Settings): Promise<NamedLockHandle> {
  const started = performance.now()
  const budget = new WaitBudget(settings.blocking)
  const parts: Array<HeldLock | Lock> = []
  const paths: string[] = []
  try {
    for (const name of names) {
      parts.push(await settings.container.get(name).acquire({ blocking: budget.left(), signal: settings.signal }))
      if (!settings.external) continue
      const file = externalFor(name, settings)
      if (!await file.acquire({ blocking: budget.left(), signal: settings.signal })) {
        throw new AcquireLockFailedError(name, file.path)
      }
      parts.push(file)
      paths.push(file.path)
    }
  } catch (error) {
    throw releaseAfterFailure(parts, error, names, settings)
  }
  return held(names, paths, parts, settings, started)
}

function acquireNamedSync (names: string[], settings: Settings): NamedLockHandle {
  const started = performance.now()
  const budget = new WaitBudget(settings.blocking)
  const parts: Array<HeldLock | Lock> = []
  const paths: string[] = []
  try {
    for (const name of names) {
      const internal = settings.container.get(name).tryAcquire()
      if (internal === null) {
        // The holder is this thread's own async code; it cannot run while we wait.
        throw settings.blocking === false ? new AcquireLockFailedError(name) : new WouldDeadlockError({ lockName: name })
      }
      parts.push(internal)
      if (!settings.external) continue
      const file = externalFor(name, settings)
      let locked: boolean
      try {
        locked = file.acquireSync({ blocking: budget.left() })
      } catch (error) {
        if (error instanceof WouldDeadlockError) throw new WouldDeadlockError({ lockName: name, path: file.path })
        throw error
      }
      if (!locked) throw new AcquireLockFailedError(name, file.path)
      parts.push(file)
      paths.push(file.path)
    }
  } catch (error) {
    throw releaseAfterFailure(parts, error, names, settings)
  }
  return held(names, paths, parts, settings, started)
}

/**
 * Takes the named lock: the in-process lock, then (with `external: true`) the
 * file lock. Several names are taken in sorted order. Resolves to a handle for
 * `await using`; with a callback, runs it holding the lock and resolves to its
 * result. Non-blocking and busy: AcquireLockFailedError.
 */
export function lock (name: string | readonly string[], options?: NamedLockOptions): Promise<NamedLockHandle>
export function lock<T> (name: string | readonly string[], fn: () => T | Promise<T>): Promise<T>
export function lock<T> (name: string | readonly string[], options: NamedLockOptions | undefined, fn: () => T | Promise<T>): Promise<T>
export async function lock<T> (
  name: string | readonly string[], optionsOrFn?: NamedLockOptions | (() => T | Promise<T>), fn?: () => T | Promise<T>
): Promise<NamedLockHandle | T> {
  if (typeof optionsOrFn === 'function') {
    fn = optionsOrFn
    optionsOrFn = undefined
  }
  if (fn !== undefined && typeof fn !== 'function') throw invalidArgType('fn', 'a function', fn)
  const names = namesOf(name)
  const held = await acquireNamed(names, settingsOf(optionsOrFn))
  if (fn === undefined) return held
  try {
    return await fn()
  } finally {
    held.release()
  }
}

/**
 * lock() for synchronous code. It takes the in-process lock only if it is free
 * (this thread's own holder could never release it while we wait: that throws
 * WouldDeadlockError, or AcquireLockFailedError with `blocking: false`), then
 * waits for other processes' file locks by blocking this thread.
 */
export function lockSync (name: string | readonly string[], options?: Omit<NamedLockOptions, 'signal'>): NamedLockHandle {
  const settings = settingsOf(options)
  if (settings.signal !== undefined) throw invalidArgValue('options.signal', settings.signal, 'cannot stop a synchronous wait (use lock())')
  return acquireNamedSync(namesOf(name), settings)
}

/** The in-process lock of a name (from `semaphores`, default the process-wide container). */
export function internalLock (name: string, options?: { semaphores?: Semaphores }): InternalLock {
  const opts = validateObject<{ semaphores?: Semaphores }>(options, 'options')
  refuseUnknownKeys(opts, ['semaphores'], 'options')
  const container = opts.semaphores ?? defaultSemaphores
  if (!(container instanceof Semaphores)) throw invalidArgType('options.semaphores', 'an instance of Semaphores or FairLocks', container)
  return container.get(name)
}

/** The fair (strict FIFO) in-process lock of a name; the same lock as internalLock(name), taken fairly. */
export function internalFairLock (name: string): InternalLock {
  return defaultFairLocks.get(name)
}

export type ExternalLockOptions = Omit<LockOptions, 'mode' | 'range'> & {
  /** Lock file prefix; 'nova' and 'nova-' are the same. */
  lockFilePrefix?: string
  lockPath?: string
  /** 'oslo': oslo.concurrency's file name and a lock kind that excludes its locks. */
  compat?: 'oslo'
}

/** The lock file prefix of an options object: `lockFilePrefix`, or its old name `prefix`. */
function lockFilePrefixOf (opts: { lockFilePrefix?: string, prefix?: string }): string | undefined {
  const prefix = renamedOption(opts, 'lockFilePrefix', 'prefix', 'options')
  if (prefix !== undefined && typeof prefix !== 'string') throw invalidArgType('options.lockFilePrefix', 'of type string', prefix)
  return prefix
}

/**
 * The file lock of a name as a Lock (not yet acquired), in the lock directory.
 * It excludes other processes, worker threads and other Lock objects of this
 * file, but not internalLock(name): use lock(name, { external: true }) for both.
 */
export function externalLock (name: string, options?: ExternalLockOptions): Lock {
  const opts = validateObject<ExternalLockOptions & { delay?: unknown }>(options, 'options')
  if ('delay' in opts) refuseDelay(opts.delay)
  refuseUnknownKeys(opts, EXTERNAL_OPTION_NAMES, 'options', FILE_OPTION_HINTS)
  const { prefix: _old, lockFilePrefix: _new, lockPath, compat: _compat, ...rest } = opts as ExternalLockOptions & { prefix?: string }
  const prefix = lockFilePrefixOf(opts)
  const compat = compatOf(opts.compat, 'options.compat')
  namesOf(name)
  const backend = compat === undefined ? rest.backend : backendOf(rest.backend, compat, 'options.backend')
  return new Lock(lockFilePath(name, { prefix, lockPath, compat }), { noFollow: true, label: name, ...rest, ...(backend === undefined ? {} : { backend }) })
}

// Here `prefix` is the old name of lockFilePrefix, not Lock's old name of `label`.
const EXTERNAL_OPTION_NAMES = [...LOCK_OPTION_NAMES.filter((key) => key !== 'mode' && key !== 'range'), 'lockFilePrefix', 'lockPath', 'compat']
const FILE_OPTION_HINTS: Record<string, string> = { ...LOCK_OPTION_HINTS, lock_file_prefix: 'lockFilePrefix', lock_path: 'lockPath' }

export interface RemoveLockFileOptions extends AcquireOptions {
  /** Lock file prefix; 'nova' and 'nova-' are the same. */
  lockFilePrefix?: string
  /** @deprecated The old name of `lockFilePrefix`. */
  prefix?: string
  lockPath?: string
  /** The lock kind the name's holders use (default 'auto': flock); removal must take the same one. */
  backend?: Backend
  /** 'oslo': the file and lock kind of `lock(name, { compat: 'oslo' })`. */
  compat?: 'oslo'
}

const REMOVE_OPTION_NAMES = ['lockFilePrefix', 'prefix', 'lockPath', 'backend', 'compat', ...ACQUIRE_OPTION_NAMES]

/**
 * The exclusive lock that removal takes: the same kind of lock as the name's
 * holders take (a flock lock does not exclude a holder of an fcntl lock), or
 * undefined when there is no file to remove.
 */
function removalLock (name: string, opts: Partial<RemoveLockFileOptions>): Lock | undefined {
  namesOf(name)
  const { lockPath } = opts
  const prefix = lockFilePrefixOf(opts)
  const compat = compatOf(opts.compat, 'options.compat')
  const backend = backendOf(opts.backend, compat, 'options.backend')
  if (!existsSync(lockFilePathOf(name, { prefix, lockPath, compat }))) return undefined
  const path = lockFilePath(name, { prefix, lockPath, compat }) // checks the directory as locking does
  return new Lock(path, { backend, removeOnRelease: true, noFollow: true, label: name })
}

/**
 * Deletes a name's lock file safely: it takes the lock, unlinks the file while
 * holding it, and releases. A process waiting on the old file notices (the
 * inode check) and retries on a new one, so there are never two holders.
 * Waits for a current holder first (bounded by `timeout`/`blocking`/`signal`).
 * Pass the `backend` the holders use.
 */
export async function removeExternalLockFile (name: string, options?: RemoveLockFileOptions): Promise<void> {
  const opts = validateObject<RemoveLockFileOptions>(options, 'options')
  refuseUnknownKeys(opts, REMOVE_OPTION_NAMES, 'options', FILE_OPTION_HINTS)
  const { blocking, timeout, signal } = opts
  const file = removalLock(name, opts)
  if (file === undefined) return
  if (!await file.acquire({ blocking, timeout, signal })) throw new AcquireLockFailedError(name, file.path)
  file.release()
}

/** removeExternalLockFile() for synchronous code (exit handlers): blocks this thread while the lock is held. */
export function removeExternalLockFileSync (name: string, options?: Omit<RemoveLockFileOptions, 'signal'>): void {
  const opts = validateObject<RemoveLockFileOptions>(options, 'options')
  refuseUnknownKeys(opts, REMOVE_OPTION_NAMES.filter((key) => key !== 'signal'), 'options', FILE_OPTION_HINTS)
  const { blocking, timeout } = opts
  const file = removalLock(name, opts)
  if (file === undefined) return
  if (!file.acquireSync({ blocking, timeout })) throw new AcquireLockFailedError(name, file.path)
  file.release()
}

/** A ReaderWriterLock named like the other named locks (its own file, beside theirs). */
export function rwLock (name: string, options?: ReaderWriterLockOptions & { prefix?: never, lockFilePrefix?: string, lockPath?: string }): ReaderWriterLock {
  const opts = validateObject<ReaderWriterLockOptions & { lockFilePrefix?: string, lockPath?: string }>(options, 'options')
  // `prefix` would be ambiguous here (file prefix or log label): only lockFilePrefix is taken.
  if ('prefix' in opts) throw invalidArgValue('options.prefix', opts.prefix, "is not an option (did you mean 'lockFilePrefix'?)")
  const { lockFilePrefix, lockPath, ...rest } = opts
  namesOf(name)
  return new ReaderWriterLock(lockFilePath(name, { prefix: lockFilePrefix, lockPath, suffix: '%rw' }), { noFollow: true, ...rest, label: name })
}

/** Sets process-wide defaults; `lockPath: undefined` clears the setting. */
export function setDefaults (defaults: { lockPath?: string | undefined }): void {
  const opts = validateObject<{ lockPath?: string }>(defaults, 'defaults')
  refuseUnknownKeys(opts, ['lockPath'], 'defaults', { lock_path: 'lockPath' })
  setDefaultLockPath(opts.lockPath)
}

/** The lock directory external locks use (given a lockPath option, or not). Creates nothing. */
export function getLockPath (options?: { lockPath?: string }): string {
  const opts = validateObject<{ lockPath?: string }>(options, 'options')
  refuseUnknownKeys(opts, ['lockPath'], 'options', { lock_path: 'lockPath' })
  return effectiveLockPath(opts.lockPath)
}

/** A method decorator (standard or legacy) and a function wrapper in one. */
export interface Synchronizer<A extends unknown[] = any[]> {
  /** Standard (TC39) method decorator. */
  <This, Args extends [...A, ...unknown[]], R> (method: (this: This, ...args: Args) => R, context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => R>): (this: This, ...args: Args) => R
  /** Legacy (`experimentalDecorators`) method decorator. */
  <F extends (...args: [...A, ...any[]]) => unknown> (target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<F>): TypedPropertyDescriptor<F>
  /** Wraps a plain function. */
  <F extends (...args: [...A, ...any[]]) => unknown> (fn: F): F
}

/**
 * Runs the decorated method or wrapped function holding the named lock (see
 * lock()). The name may be a template ('{f_name}-{vol.id}', '{0.id}',
 * '{this.host}'), several templates, or a key function of the arguments.
 *
 * `async` functions wait for the lock. Other functions run synchronously, so
 * they can only take an in-process lock that is free (else WouldDeadlockError;
 * with `blocking: false`, AcquireLockFailedError), then wait for other
 * processes by blocking the thread (lockSync). If such a function returns a
 * promise, the lock is kept until it settles.
 */
export function synchronized<A extends unknown[] = any[]> (name: LockNameSpec<A>, options?: NamedLockOptions): Synchronizer<A> {
  const spec = validateNameSpec(name)
  const settings = settingsOf(options)
  return decorator('synchronized', (fn, label) => {
    checkFields(spec, fn)
    const nameOf = (thisArg: unknown, args: unknown[]): string[] => namesFromCall(spec, fn, thisArg, args, label)
    if (types.isAsyncFunction(fn)) {
      return async function (this: unknown, ...args: unknown[]): Promise<unknown> {
        const held = await acquireNamed(nameOf(this, args), settings)
        try {
          return await fn.apply(this, args)
        } finally {
          held.release()
        }
      }
    }
    return function (this: unknown, ...args: unknown[]): unknown {
      const held = acquireNamedSync(nameOf(this, args), settings)
      let result: unknown
      try {
        result = fn.apply(this, args)
      } catch (error) {
        held.release()
        throw error
      }
      if (!isThenable(result)) {
        held.release()
        return result
      }
      return result.then((value) => { held.release(); return value }, (error: unknown) => { held.release(); throw error })
    }
  }) as Synchronizer<A>
}

function isThenable (value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as PromiseLike<unknown>).then === 'function'
}

type LockFn = typeof lock

/** lock() with a lock file prefix built in (oslo's lock_with_prefix). */
export function lockWithPrefix (prefix: string): LockFn {
  if (typeof prefix !== 'string') throw invalidArgType('prefix', 'of type string', prefix)
  return function prefixedLock (name: string | readonly string[], optionsOrFn?: unknown, fn?: unknown): Promise<any> {
    const options = typeof optionsOrFn === 'function' || optionsOrFn === undefined ? undefined : optionsOrFn
    const callback = typeof optionsOrFn === 'function' ? optionsOrFn : fn
    const merged = { ...validateObject<NamedLockOptions>(options, 'options'), lockFilePrefix: prefix }
    return lock(name, merged, callback as () => unknown)
  } as LockFn
}

/** synchronized() with a lock file prefix built in (oslo's synchronized_with_prefix). */
export function synchronizedWithPrefix (prefix: string): typeof synchronized {
  if (typeof prefix !== 'string') throw invalidArgType('prefix', 'of type string', prefix)
  return (name, options) => synchronized(name, { ...validateObject<NamedLockOptions>(options, 'options'), lockFilePrefix: prefix })
}

/** removeExternalLockFile() with a prefix built in (oslo's remove_external_lock_file_with_prefix). */
export function removeExternalLockFileWithPrefix (prefix: string): (name: string, options?: Omit<RemoveLockFileOptions, 'prefix' | 'lockFilePrefix'>) => Promise<void> {
  if (typeof prefix !== 'string') throw invalidArgType('prefix', 'of type string', prefix)
  return async (name, options) => {
    const opts = validateObject<RemoveLockFileOptions>(options, 'options')
    for (const key of ['prefix', 'lockFilePrefix'] as const) {
      if (key in opts) throw invalidArgValue(`options.${key}`, opts[key], 'is set by removeExternalLockFileWithPrefix()')
    }
    await removeExternalLockFile(name, { ...opts, lockFilePrefix: prefix })
  }
}
