// LockFile: the low-level API. One open descriptor, the system calls and
// nothing else: no queueing, no names, no reentrancy rules beyond the kernel's.
import { fromNative, LockError, LockTimeoutError } from './errors'
import { BACKEND_IDS, native, type BackendName, type NativeLockHandle } from './native'
import {
  resolveBackend, validateBackend, validateBoolean, validateMode, validateObject, validatePath,
  validatePermissions, validateRange, validateSignal, validateTimeout,
  type Backend, type ByteRange, type LockMode
} from './validate'

export interface LockFileOptions {
  /** Lock mechanism; `auto` (default) is flock for whole files and OFD for byte ranges (LockFileEx on Windows). */
  backend?: Backend
  /** Refuse to open the path through a symbolic link (ELOOP). */
  noFollow?: boolean
  /** Permission bits for a newly created lock file (default 0o644, before umask). */
  permissions?: number
}

export interface LockRequestOptions {
  mode?: LockMode
  range?: ByteRange
}

export interface LockWaitOptions extends LockRequestOptions {
  /** Give up after this many milliseconds (LockTimeoutError, code ETIMEDOUT). */
  timeout?: number
  /** Give up when this signal aborts (rejects with its reason). */
  signal?: AbortSignal
}

interface Request {
  backend: BackendName
  id: number
  exclusive: boolean
  start: number | undefined
  length: number | undefined
  key: string
}

const WHOLE_FILE = 'whole file'

/** The name of LockFile's callback-style wait, for lib/slot.ts only (not exported from the package). */
export const waitForLock = Symbol('locksmith.waitForLock')
type WaitDone = (error: Error | null, current?: boolean) => void

// Object literals, not spreads: V8 copies `{ ...base }` with undefined-valued
// properties on a slow path (about 1.4 µs each), which LockFile.open paid twice.
function wholeFileRequest (backend: Backend, exclusive: boolean): Request {
  const resolved = resolveBackend(backend, undefined)
  return { backend: resolved, id: BACKEND_IDS[resolved], exclusive, start: undefined, length: undefined, key: WHOLE_FILE }
}

export class LockFile implements Disposable {
  readonly path: string
  readonly backend: Backend
  readonly #handle: NativeLockHandle
  #closed = false
  /** The descriptor for the whole-file fast path, or -1 where there is none (Windows, closed). */
  #fastFd: number
  /** What this descriptor holds on byte ranges: range key -> mode. */
  readonly #held = new Map<string, LockMode>()
  /** What it holds on the whole file, kept apart so the common case costs no map lookups. */
  #whole: LockMode | undefined
  /** Whole-file requests, built once: the fast path allocates nothing. */
  readonly #wholeExclusive: Request
  readonly #wholeShared: Request

  /** Opens (creating if missing, never truncating, close-on-exec) a file to lock. */
  static open (path: string | URL, options?: LockFileOptions): LockFile {
    const checkedPath = validatePath(path)
    const opts = validateObject<LockFileOptions>(options, 'options')
    const backend = validateBackend(opts.backend, 'options.backend')
    const noFollow = validateBoolean(opts.noFollow, 'options.noFollow', false)
    const permissions = validatePermissions(opts.permissions, 'options.permissions')
    let handle: NativeLockHandle
    try {
      handle = new native.LockHandle(checkedPath, noFollow, permissions)
    } catch (error) {
      throw fromNative(error)
    }
    return new LockFile(checkedPath, backend, handle)
  }

  private constructor (path: string, backend: Backend, handle: NativeLockHandle) {
    this.path = path
    this.backend = backend
    this.#handle = handle
    this.#fastFd = native.tryLockFd === undefined ? -1 : handle.fd
    this.#wholeExclusive = wholeFileRequest(backend, true)
    this.#wholeShared = wholeFileRequest(backend, false)
  }

  /** The descriptor (-1 once closed, and on Windows). */
  get fd (): number { return this.#handle.fd }
  get closed (): boolean { return this.#closed }

  /** The mode held on a range (or the whole file), if any. */
  heldMode (range?: ByteRange): LockMode | undefined {
    return range === undefined ? this.#whole : this.#held.get(`${range.start}+${range.length}`)
  }

  /** One attempt: true if locked, false if someone else holds a conflicting lock. */
  tryLock (options?: LockRequestOptions): boolean {
    const request = this.#request(options)
    if (request.key === WHOLE_FILE && this.#fastFd >= 0) {
      const result = (native.tryLockFd as NonNullable<typeof native.tryLockFd>)(this.#fastFd, request.id, request.exclusive)
      if (result === 1) this.#hold(request)
      if (result >= 0) return result === 1
      // An error: the method call below repeats the attempt and throws it in full.
    }
    this.#refuseConversion(request)
    let locked: boolean
    try {
      locked = this.#handle.tryLock(request.id, request.exclusive, request.start, request.length)
    } catch (error) {
      throw fromNative(error)
    }
    if (locked) this.#hold(request)
    return locked
  }

  /** Waits on this thread until locked (or `timeout` ms pass: LockTimeoutError). */
  lockSync (options?: Omit<LockWaitOptions, 'signal'>): void {
    const request = this.#request(options)
    this.#refuseConversion(request)
    const timeout = validateTimeout(options?.timeout, 'options.timeout')
    let locked: boolean
    try {
      locked = this.#handle.lockSync(request.id, request.exclusive, request.start, request.length, timeout ?? -1)
    } catch (error) {
      throw fromNative(error)
    }
    if (!locked) throw new LockTimeoutError(this.path, timeout ?? 0)
    this.#hold(request)
  }

  /**
   * Waits without blocking the event loop. Tries on this thread first; only a
   * busy lock is waited for, on a native thread of its own (never the libuv pool).
   */
  lock (options?: LockWaitOptions): Promise<void> {
    let request: Request
    let timeout: number | undefined
    let signal: AbortSignal | undefined
    try {
      request = this.#request(options)
      timeout = validateTimeout(options?.timeout, 'options.timeout')
      signal = validateSignal(options?.signal, 'options.signal')
      if (signal?.aborted) return Promise.reject(signal.reason)
      if (this.tryLock(options)) return Promise.resolve()
    } catch (error) {
      return Promise.reject(error)
    }
    if (timeout === 0) return Promise.reject(new LockTimeoutError(this.path, 0))
    return this.#wait(request, timeout, signal)
  }

  #wait (request: Request, timeout: number | undefined, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const stop = (reason: unknown): void => {
        cleanup()
        cancel() // returns once no lock granted in the race is held
        reject(reason)
      }
      const onAbort = (): void => stop(signal?.reason)
      const cleanup = (): void => {
        if (timer !== undefined) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      let cancel: () => void
      try {
        cancel = this.#startWait(request, (error) => {
          cleanup()
          if (error === null) resolve()
          else reject(error)
        })
      } catch (error) {
        return reject(error)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      if (timeout !== undefined) timer = setTimeout(() => stop(new LockTimeoutError(this.path, timeout)), timeout)
    })
  }

  /**
   * For Lock's queue (lib/slot.ts): a wait with a plain callback, called once
   * with null when locked or with the error, and no timer or listener to
   * tidy up, so the path from the kernel's grant to the caller stays short.
   * `current` is isCurrent() as the waiter thread saw it right after the grant
   * (undefined if it could not tell). Returns a function that cancels the wait
   * synchronously; `done` is then never called.
   */
  [waitForLock] (options: LockRequestOptions | undefined, done: WaitDone): () => void {
    return this.#startWait(this.#request(options), done, true)
  }

  #startWait (request: Request, done: WaitDone, checkCurrent = false): () => void {
    this.#refuseConversion(request)
    let settled = false
    try {
      this.#handle.wait(request.id, request.exclusive, request.start, request.length, (error, _acquired, current) => {
        settled = true
        if (error !== null) return done(fromNative(error))
        this.#hold(request)
        done(null, current)
      }, checkCurrent)
    } catch (error) {
      throw fromNative(error)
    }
    return () => {
      if (settled) return
      settled = true
      this.#handle.cancel()
    }
  }

  /** Releases what this descriptor holds on the range (or the whole file). */
  unlock (options?: { range?: ByteRange }): void {
    const request = this.#request(options)
    if (!this.#holds(request.key)) {
      throw new LockError('ERR_LOCK_NOT_HELD', `Not locked by this handle${request.key === WHOLE_FILE ? '' : ` (range ${request.key})`}: ${this.path}`, this.path)
    }
    const fast = request.key === WHOLE_FILE && this.#fastFd >= 0 && (native.unlockFd as NonNullable<typeof native.unlockFd>)(this.#fastFd, request.id) === 0
    if (!fast) {
      try {
        this.#handle.unlock(request.id, request.start, request.length)
      } catch (error) {
        throw fromNative(error)
      }
    }
    if (request.key === WHOLE_FILE) this.#whole = undefined
    else this.#held.delete(request.key)
  }

  /** Whether the path still names this open file (false once it was unlinked or replaced). */
  isCurrent (): boolean {
    try {
      return this.#handle.isCurrent()
    } catch (error) {
      throw fromNative(error)
    }
  }

  /** Cancels any wait and closes the descriptor; the kernel drops its locks. */
  close (): void {
    if (this.#closed) throw new LockError('EBADF', `Lock file already closed: ${this.path}`, this.path)
    this.#closed = true
    this.#fastFd = -1
    this.#held.clear()
    this.#whole = undefined
    try {
      this.#handle.close()
    } catch (error) {
      throw fromNative(error)
    }
  }

  [Symbol.dispose] (): void {
    if (!this.#closed) this.close()
  }

  // LockFileEx cannot convert a lock: locking a range this handle holds again
  // would be refused, or wait for itself for ever. Say so instead.
  #refuseConversion (request: Request): void {
    if (request.id === BACKEND_IDS.windows && this.#holds(request.key)) {
      throw new LockError('ERR_LOCK_CONVERSION', `Windows locks cannot be converted; unlock first: ${this.path}`, this.path)
    }
  }

  #holds (key: string): boolean {
    return key === WHOLE_FILE ? this.#whole !== undefined : this.#held.has(key)
  }

  #hold (request: Request): void {
    const mode: LockMode = request.exclusive ? 'exclusive' : 'shared'
    if (request.key === WHOLE_FILE) this.#whole = mode
    else this.#held.set(request.key, mode)
  }

  #request (options: LockRequestOptions | undefined): Request {
    if (options === undefined) return this.#wholeExclusive
    const opts = validateObject<LockRequestOptions>(options, 'options')
    const exclusive = validateMode(opts.mode, 'options.mode') === 'exclusive'
    const range = validateRange(opts.range, 'options.range')
    if (range === undefined) return exclusive ? this.#wholeExclusive : this.#wholeShared
    const backend = resolveBackend(this.backend, range)
    return { backend, id: BACKEND_IDS[backend], exclusive, start: range.start, length: range.length, key: `${range.start}+${range.length}` }
  }
}
