// Lock: the lock most programs want. Excludes other processes (kernel lock) and
// other Lock objects of this thread (in-process queue), waits without polling,
// and can be bounded by a timeout or an AbortSignal.
import { resolveBackend, validateBackend } from './backend'
import { invalidArgType, LockBusyError, LockError, LockTimeoutError, UnsafeOptionsError } from './errors'
import { describeHolders, withHolders } from './holders'
import { debugLog, defaultLogger, type LogFields, type Logger } from './log'

/** An option key for locks that are parts of a bigger one (ReaderWriterLock's bytes): they log nothing. */
export const unlogged = Symbol('locksmith.unlogged')
import { getSlot, slotKey, type Slot, type SlotOptions } from './slot'
import {
  refuseUnknownKeys, renamedOption, validateBoolean, validateMode, validateObject, validatePath, validatePermissions,
  validateRange,
  type Backend, type ByteRange, type LockMode
} from './validate'
import {
  ACQUIRE_OPTION_HINTS, ACQUIRE_OPTION_NAMES, signalSetting, waitSetting, type AcquireOptions, type Blocking
} from './wait-options'

export { validateBlocking, type AcquireOptions, type Blocking } from './wait-options'

export interface LockOptions extends AcquireOptions {
  mode?: LockMode
  backend?: Backend
  range?: ByteRange
  /** A label at the start of this lock's log lines. */
  label?: string
  /** @deprecated The old name of `label` (cli2's word), accepted for now. */
  prefix?: string
  /** Anything with a `debug(message)` method: console, pino, winston... Default: the env switches. */
  logger?: Logger
  /** Delete the lock file on release, safely (only while holding it; acquirers check the inode). */
  removeOnRelease?: boolean
  /** Refuse to open the lock file through a symbolic link. */
  noFollow?: boolean
  /** Permission bits for a newly created lock file (default 0o644). */
  permissions?: number
  /** Create missing parent directories of the lock file (0o755 before umask). Default false: ENOENT. */
  mkdirs?: boolean
}

interface Settings {
  blocking: Blocking
  signal: AbortSignal | undefined
}

/** Every key LockOptions has: anything else is refused. */
export const LOCK_OPTION_NAMES: readonly string[] = [
  ...ACQUIRE_OPTION_NAMES, 'mode', 'backend', 'range', 'label', 'prefix', 'logger', 'removeOnRelease', 'noFollow', 'permissions', 'mkdirs'
]

/** Words other lock libraries use for Lock's options. */
export const LOCK_OPTION_HINTS: Readonly<Record<string, string>> = {
  ...ACQUIRE_OPTION_HINTS,
  shared: 'mode', exclusive: 'mode', type: 'mode', start: 'range', length: 'range', offset: 'range',
  remove: 'removeOnRelease', unlinkOnRelease: 'removeOnRelease', deleteOnRelease: 'removeOnRelease',
  perm: 'permissions', fileMode: 'permissions', followSymlinks: 'noFollow', log: 'logger'
}

/**
 * Unlinking is only safe under an exclusive lock on the whole file: with a
 * shared lock, or one on some bytes, others may hold the same file meanwhile,
 * and a newcomer would lock a fresh file beside them.
 */
export function refuseUnsafeRemoval (removeOnRelease: boolean, mode: LockMode, range: ByteRange | undefined, path: string): void {
  if (!removeOnRelease) return
  if (mode === 'shared') throw new UnsafeOptionsError(`removeOnRelease cannot be used with mode 'shared': other readers may still hold ${path} when one of them unlinks it`)
  if (range !== undefined) throw new UnsafeOptionsError(`removeOnRelease cannot be used with a byte range: other ranges of ${path} may be held when it is unlinked`)
}

/** What a Lock made without options uses (validating an absent options object gives these). */
const DEFAULT_SLOT_OPTIONS: SlotOptions = Object.freeze({ backend: 'auto', range: undefined, noFollow: false, permissions: 0o644, mkdirs: false })
const DEFAULT_SETTINGS: Settings = Object.freeze({ blocking: true, signal: undefined })

export class Lock implements Disposable, AsyncDisposable {
  readonly path: string
  readonly mode: LockMode
  readonly backend: Backend
  readonly range: ByteRange | undefined
  readonly label: string | undefined
  readonly removeOnRelease: boolean
  readonly #defaults: Settings
  readonly #logger: Logger | undefined
  readonly #noFollow: boolean
  readonly #permissions: number
  #slot: Slot | undefined
  /** Fixed at construction: the path is resolved against the working directory of that moment. */
  readonly #slotOptions: SlotOptions
  readonly #slotKey: { key: string, absolute: string }
  #held = false
  #pending = false
  /** When it was acquired, kept only while logging. */
  #heldSince: number | undefined

  /** Opens nothing until asked. */
  constructor (path: string | URL, options?: LockOptions) {
    this.path = validatePath(path)
    if (options === undefined) { // the common case, without the checks of absent options
      this.mode = 'exclusive'
      this.backend = 'auto'
      this.range = undefined
      this.label = undefined
      this.#logger = defaultLogger
      this.removeOnRelease = false
      this.#noFollow = false
      this.#permissions = 0o644
      this.#slotOptions = DEFAULT_SLOT_OPTIONS
      this.#slotKey = slotKey(this.path, DEFAULT_SLOT_OPTIONS)
      this.#defaults = DEFAULT_SETTINGS
      return
    }
    const opts = validateObject<LockOptions>(options, 'options')
    refuseUnknownKeys(opts, LOCK_OPTION_NAMES, 'options', LOCK_OPTION_HINTS)
    this.mode = validateMode(opts.mode, 'options.mode')
    this.backend = validateBackend(opts.backend, 'options.backend')
    this.range = validateRange(opts.range, 'options.range')
    resolveBackend(this.backend, this.range) // refuse flock + range now, not at first acquire
    const label = renamedOption(opts, 'label', 'prefix', 'options')
    if (label !== undefined && typeof label !== 'string') throw invalidArgType('options.label', 'of type string', label)
    this.label = label
    if (opts.logger !== undefined && typeof opts.logger?.debug !== 'function') {
      throw invalidArgType('options.logger', 'an object with a debug() method', opts.logger)
    }
    // A part of a bigger lock (ReaderWriterLock's bytes) logs nothing: the whole logs once.
    this.#logger = (opts as { [unlogged]?: boolean })[unlogged] === true ? undefined : opts.logger ?? defaultLogger
    this.removeOnRelease = validateBoolean(opts.removeOnRelease, 'options.removeOnRelease', false)
    refuseUnsafeRemoval(this.removeOnRelease, this.mode, this.range, this.path)
    this.#noFollow = validateBoolean(opts.noFollow, 'options.noFollow', false)
    this.#permissions = validatePermissions(opts.permissions, 'options.permissions')
    const mkdirs = validateBoolean(opts.mkdirs, 'options.mkdirs', false)
    this.#slotOptions = { backend: this.backend, range: this.range, noFollow: this.#noFollow, permissions: this.#permissions, mkdirs }
    this.#slotKey = slotKey(this.path, this.#slotOptions)
    this.#defaults = {
      blocking: waitSetting(opts, 'options') ?? true,
      signal: signalSetting(opts, 'options')
    }
  }

  /** Acquires a lock and resolves to it held; busy and non-blocking rejects with LockBusyError. */
  static async acquire (path: string | URL, options?: LockOptions): Promise<Lock> {
    const lock = new Lock(path, options)
    if (!await lock.acquire()) throw withHolders(new LockBusyError(lock.path), lock)
    return lock
  }

  get acquired (): boolean { return this.#held }

  /** @deprecated The old name of `label`. */
  get prefix (): string | undefined { return this.label }

  /**
   * Blocking: resolves true once held, rejects with LockTimeoutError or the
   * signal's reason. Non-blocking: resolves true or false.
   */
  acquire (options?: AcquireOptions): Promise<boolean> {
    return this.#takeOrWait(options, (blocking) => blocking === false ? 'no wait' : blocking === true ? undefined : blocking)
  }

  /** After a failed non-blocking try: waits until held (same timeout and abort rules). */
  block (options?: AcquireOptions): Promise<true> {
    return this.#takeOrWait(options, (blocking) => typeof blocking === 'number' ? blocking : undefined) as Promise<true>
  }

  /** One synchronous attempt. */
  tryAcquire (): boolean {
    this.#checkIdle()
    if (this.#take()) return true
    this.#log('busy')
    return false
  }

  /**
   * Synchronous acquire that blocks this thread (scripts, exit handlers). With
   * `blocking: false` it is tryAcquire(); with a number it throws LockTimeoutError.
   */
  acquireSync (options?: Omit<AcquireOptions, 'signal'>): boolean {
    const opts = validateObject<AcquireOptions>(options, 'options')
    refuseUnknownKeys(opts, ['blocking', 'timeout'], 'options', ACQUIRE_OPTION_HINTS)
    const blocking = waitSetting(opts, 'options') ?? this.#defaults.blocking
    if (blocking === false) return this.tryAcquire()
    this.#checkIdle()
    const started = performance.now()
    const timeout = blocking === true ? undefined : blocking
    try {
      this.#getSlot().takeSync(this.mode, timeout)
    } catch (error) {
      if (error instanceof LockTimeoutError) {
        this.#log('timed out', started)
        throw withHolders(new LockTimeoutError(this.path, timeout ?? 0), this)
      }
      throw error
    }
    this.#held = true
    this.#log('acquired', started)
    return true
  }

  /** true if it was held and is now released; false if it was not held. */
  release (): boolean {
    if (!this.#held) return false
    this.#held = false
    ;(this.#slot as Slot).release(this.removeOnRelease)
    this.#log('released', undefined, this.#heldSince)
    return true
  }

  [Symbol.dispose] (): void {
    this.release()
  }

  async [Symbol.asyncDispose] (): Promise<void> {
    this.release()
  }

  #settings (options: AcquireOptions | undefined): Settings {
    if (options === undefined) return this.#defaults
    const opts = validateObject<AcquireOptions>(options, 'options')
    refuseUnknownKeys(opts, ACQUIRE_OPTION_NAMES, 'options', ACQUIRE_OPTION_HINTS)
    return {
      blocking: waitSetting(opts, 'options') ?? this.#defaults.blocking,
      signal: signalSetting(opts, 'options') ?? this.#defaults.signal
    }
  }

  #checkIdle (): void {
    if (this.#held) {
      throw new LockError('ERR_LOCK_ALREADY_HELD', `This Lock already holds ${this.path}; locks are not reentrant`, this.path)
    }
    if (this.#pending) {
      throw new LockError('ERR_LOCK_PENDING', `This Lock is already waiting for ${this.path}`, this.path)
    }
  }

  #getSlot (): Slot {
    this.#slot = getSlot(this.#slotKey, this.#slotOptions, this.#slot)
    return this.#slot
  }

  /** `beforeWait`: a wait follows if this fails (see Slot.tryTake). */
  #take (beforeWait = false): boolean {
    if (!this.#getSlot().tryTake(this.mode, beforeWait)) return false
    this.#held = true
    this.#log('acquired')
    return true
  }

  /** One try, then a wait of `timeoutFor(blocking)` ms (undefined: for ever; 'no wait': resolve false). */
  #takeOrWait (options: AcquireOptions | undefined, timeoutFor: (blocking: Blocking) => number | undefined | 'no wait'): Promise<boolean> {
    try {
      const { blocking, signal } = this.#settings(options)
      this.#checkIdle()
      if (signal?.aborted) throw signal.reason
      const timeout = timeoutFor(blocking)
      if (this.#take(timeout !== 'no wait' && timeout !== 0)) return Promise.resolve(true)
      if (timeout === 'no wait') {
        this.#log('busy')
        return Promise.resolve(false)
      }
      return this.#wait(timeout, signal)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  // Not async: the grant resolves the caller's promise directly (no await in
  // between), and a wait for ever creates no timer and registers no listener.
  #wait (timeout: number | undefined, signal: AbortSignal | undefined): Promise<true> {
    const started = performance.now()
    this.#log('waiting')
    if (timeout === 0) {
      this.#log('timed out', started)
      return Promise.reject(new LockTimeoutError(this.path, 0))
    }
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const finish = (): void => {
        this.#pending = false
        if (timer !== undefined) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      const granted = (): void => {
        finish()
        this.#held = true
        resolve(true)
        this.#log('acquired', started)
      }
      const failed = (error: unknown, event = 'failed'): void => {
        finish()
        this.#log(event, started)
        reject(error)
      }
      // Leaving the queue returns once no kernel lock granted in the race is held.
      const stop = (reason: unknown, event: string): void => {
        try {
          leave()
        } finally {
          failed(reason, event)
        }
      }
      const onAbort = (): void => stop(signal?.reason, 'aborted')
      this.#pending = true
      let leave: () => void = () => {}
      try {
        leave = this.#getSlot().enqueue(this.mode, granted, failed)
      } catch (error) {
        return failed(error)
      }
      if (!this.#pending) return // settled already
      signal?.addEventListener('abort', onAbort, { once: true })
      if (timeout !== undefined) {
        // Built now, so that its stack shows the caller.
        const timeoutError = new LockTimeoutError(this.path, timeout)
        timer = setTimeout(() => stop(withHolders(timeoutError, this), 'timed out'), timeout)
      }
    })
  }

  /** One line about this lock; `started`: when the wait began; `since`: when it was acquired. */
  #log (event: string, started?: number, since?: number): void {
    if (this.#logger === undefined) return
    const now = performance.now()
    const fields: LogFields = { event, path: this.path, mode: this.mode, pid: process.pid }
    if (this.range !== undefined) fields.range = this.range
    if (this.label !== undefined) fields.label = this.label
    let timing = ''
    if (started !== undefined) {
      fields.waitedMs = Math.round((now - started) * 10) / 10
      timing = ` after ${fields.waitedMs.toFixed(1)} ms`
    }
    if (since !== undefined) {
      fields.heldMs = Math.round((now - since) * 10) / 10
      timing = ` (held ${fields.heldMs.toFixed(1)} ms)`
    }
    if (event === 'acquired') this.#heldSince = now
    const range = this.range === undefined ? '' : ` bytes ${this.range.start}+${this.range.length}`
    // Busy: say who holds it (read only now, on this path, and only when logging).
    const heldBy = event === 'busy' ? describeHolders(this.path, this.backend, this.mode === 'exclusive', this.range)?.text : undefined
    if (heldBy !== undefined) fields.heldBy = heldBy
    debugLog(this.#logger, fields, `${this.label === undefined ? '' : `${this.label}: `}${event} ${this.mode} lock on ${this.path}${range}${timing}${heldBy === undefined ? '' : ` (held by ${heldBy})`}`)
  }

}

/** Runs `fn` while holding the lock; releases it however `fn` ends. */
export async function withLock<T> (path: string | URL, fn: () => T | Promise<T>, options?: LockOptions): Promise<T> {
  if (typeof fn !== 'function') throw invalidArgType('fn', 'a function', fn) // before the lock is taken
  const lock = await Lock.acquire(path, options)
  try {
    return await fn()
  } finally {
    lock.release()
  }
}
