// LockFile: the low-level API. One open descriptor, the system calls and
// nothing else: no queueing, no names, no reentrancy rules beyond the kernel's.
import { closeSync, mkdirSync, readlinkSync } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fromNative, invalidArgType, invalidArgValue, LockError, LockTimeoutError, outOfRange, typedCall } from './errors'
import { holders, isFileHandle, setSinceLookup, withHolders, type Holder } from './holders'
import { resolveBackend, validateBackend } from './backend'
import { BACKEND_IDS, native, type BackendName } from './native'
import {
  refuseUnknownKeys, validateBoolean, validateMode, validateObject, validatePath,
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
  /** Create missing parent directories (mode 0o755 before umask), as Python's filelock does. Default false: ENOENT. */
  mkdirs?: boolean
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

// The options each method takes: any other key is refused (a misspelt option
// silently ignored changes what a lock does).
const OPEN_KEYS = ['backend', 'noFollow', 'permissions', 'mkdirs'] as const
const OPEN_HINTS = { mode: 'permissions', follow: 'noFollow', nofollow: 'noFollow', kind: 'backend', type: 'backend', mkdir: 'mkdirs', recursive: 'mkdirs', createDirs: 'mkdirs' }
const REQUEST_KEYS = ['mode', 'range'] as const
const LOCK_KEYS = ['mode', 'range', 'timeout', 'signal'] as const
const LOCK_SYNC_KEYS = ['mode', 'range', 'timeout'] as const
const UNLOCK_KEYS = ['range'] as const
const REQUEST_HINTS = {
  exclusive: 'mode', shared: 'mode', type: 'mode', kind: 'mode', wait: 'timeout', blocking: 'timeout',
  timeoutMs: 'timeout', abortSignal: 'signal', start: 'range', length: 'range', offset: 'range'
}

// A LockFile dropped without close() still closes its file once it is
// collected, as a descriptor object would. close() unregisters it.
/**
 * What a LockFile holds and since when. A plain record, so that the map below
 * can keep it without keeping the LockFile: a WeakRef would keep each
 * LockFile alive until the current job ends, and a loop of lock cycles that
 * never yields would grow without bound.
 */
interface HeldState {
  readonly backend: Backend
  /** What it holds on the whole file, kept apart so the common case costs no map lookups (the addon notes when it was granted). */
  whole: LockMode | undefined
  /** What it holds on byte ranges: range key -> mode. */
  readonly held: Map<string, LockMode>
  rangeSince: Map<string, number> | undefined
}

/** This thread's open lock files by descriptor, so that holders() can tell when their locks were granted. */
const heldByFd = new Map<number, HeldState>()

function forget (fd: number, state: HeldState): void {
  if (heldByFd.get(fd) === state) heldByFd.delete(fd)
}

/** What a LockFile's finalizer needs: never the LockFile itself. */
interface Finalized {
  id: number
  fd: number
  state: HeldState
  path: string
  /** A borrowed descriptor (fromFd without autoClose): the finalizer only forgets it, and its locks stay. */
  borrowed: boolean
}

/**
 * A LockFile collected while it held a lock gave the lock back when it was
 * closed, so another holder may be in already: nothing else would tell.
 */
function warnIfHeld ({ state, path, borrowed }: Finalized): void {
  if (borrowed || (state.whole === undefined && state.held.size === 0)) return
  process.emitWarning(`A LockFile of ${path} was garbage-collected while it held a lock, and closing it released the lock: ` +
    'keep a reference to it (or close() it) for as long as the lock matters', { code: 'LOCKSMITH_LOCKFILE_COLLECTED' })
}

// A LockFile from fromFd(fd, { autoClose: true }) dropped without close()
// closes its descriptor once collected; a borrowed one is only forgotten.
const closeAdoptedWhenCollected = new FinalizationRegistry<Finalized>((finalized) => {
  const { id, fd, state } = finalized
  warnIfHeld(finalized)
  forget(fd, state)
  try { native.close(id) } catch {}
  try { closeSync(fd) } catch {}
})

export interface FromFdOptions {
  /** Lock mechanism, as for LockFile.open (default 'auto'). */
  backend?: Backend
  /** close() also closes the descriptor (default false: it stays the caller's). Not with a FileHandle. */
  autoClose?: boolean
}
const FROM_FD_KEYS = ['backend', 'autoClose'] as const
const FROM_FD_HINTS = { close: 'autoClose', own: 'autoClose', owned: 'autoClose', takeOwnership: 'autoClose', kind: 'backend', type: 'backend' }

/** What stands for a descriptor's path: the file it names (Linux), else `fd N`. */
function descriptorLabel (fd: number): string {
  if (process.platform === 'linux') {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`)
      if (target.startsWith('/') && !target.endsWith(' (deleted)')) return target
    } catch {}
  }
  return `fd ${fd}`
}

const closeWhenCollected = new FinalizationRegistry<Finalized>((finalized) => {
  const { id, fd, state } = finalized
  warnIfHeld(finalized)
  forget(fd, state)
  try {
    native.close(id)
  } catch {
    // already closed by the environment's teardown
  }
})

/** The name of LockFile's callback-style wait, for lib/slot.ts only (not exported from the package). */
export const waitForLock = Symbol('locksmith.waitForLock')
type WaitDone = (error: Error | null, current?: boolean, waited?: boolean) => void

// Object literals, not spreads: V8 copies `{ ...base }` with undefined-valued
// properties on a slow path (about 1.4 µs each), which LockFile.open paid twice.
function mode (request: Request): LockMode {
  return request.exclusive ? 'exclusive' : 'shared'
}

function wholeFileRequest (backend: Backend, exclusive: boolean): Request {
  const resolved = resolveBackend(backend, undefined)
  return { backend: resolved, id: BACKEND_IDS[resolved], exclusive, start: undefined, length: undefined, key: WHOLE_FILE }
}

export class LockFile implements Disposable {
  readonly path: string
  readonly backend: Backend
  /** The open file's id in the addon's table. */
  readonly #id: number
  #closed = false
  readonly #state: HeldState
  /** The descriptor, under which holders() finds this object (-1 on Windows). */
  #fd = -1
  /** From fromFd(): 'borrowed' (close() unlocks and forgets it) or 'owned' (close() also closes it). */
  #adopted: 'borrowed' | 'owned' | undefined
  #adoptedFd = -1
  /** Whole-file requests, built once: the fast path allocates nothing. */
  readonly #wholeExclusive: Request
  readonly #wholeShared: Request
  /** Ends the wait in progress with an error (close() uses it), if there is one. */
  #failWait: ((error: Error) => void) | undefined

  /** Opens (creating if missing, never truncating, close-on-exec) a file to lock. */
  static open (path: string | URL, options?: LockFileOptions): LockFile {
    const checkedPath = validatePath(path)
    const opts = validateObject<LockFileOptions>(options, 'options')
    refuseUnknownKeys(opts, OPEN_KEYS, 'options', OPEN_HINTS)
    const backend = validateBackend(opts.backend, 'options.backend')
    const noFollow = validateBoolean(opts.noFollow, 'options.noFollow', false)
    const permissions = validatePermissions(opts.permissions, 'options.permissions')
    const mkdirs = validateBoolean(opts.mkdirs, 'options.mkdirs', false)
    let id: number
    try {
      id = native.open(checkedPath, noFollow, permissions)
    } catch (error) {
      // Only a missing directory costs the mkdir: the common case opens at once.
      if (!mkdirs || (error as NodeJS.ErrnoException).code !== 'ENOENT') throw fromNative(error)
      try {
        mkdirSync(dirname(checkedPath), { recursive: true, mode: 0o755 })
        id = native.open(checkedPath, noFollow, permissions)
      } catch (retryError) {
        throw fromNative(retryError)
      }
    }
    return new LockFile(checkedPath, backend, id)
  }

  /**
   * Locks a descriptor the program already opened (a number, or a FileHandle
   * of node:fs/promises), e.g. to lock a file and then write it through the
   * same descriptor. The descriptor stays the caller's: close() releases the
   * locks this LockFile took and leaves it open, unless `autoClose: true`
   * (numbers only), with which close() closes it.
   */
  static fromFd (fd: number | FileHandle, options?: FromFdOptions): LockFile {
    const opts = validateObject<FromFdOptions>(options, 'options')
    refuseUnknownKeys(opts, FROM_FD_KEYS, 'options', FROM_FD_HINTS)
    const backend = validateBackend(opts.backend, 'options.backend')
    const autoClose = validateBoolean(opts.autoClose, 'options.autoClose', false)
    let number: number
    if (isFileHandle(fd)) {
      if (autoClose) throw invalidArgValue('options.autoClose', autoClose, 'cannot be used with a FileHandle (close the FileHandle itself, after the LockFile)')
      number = fd.fd
      if (number < 0) throw new LockError('EBADF', 'The FileHandle is closed')
    } else if (typeof fd === 'number' && Number.isInteger(fd)) {
      if (fd < 0 || fd > 2 ** 31 - 1) throw outOfRange('fd', '>= 0 and <= 2147483647', fd)
      number = fd
    } else {
      throw invalidArgType('fd', 'an integer file descriptor or a FileHandle', fd)
    }
    const label = descriptorLabel(number)
    let id: number
    try {
      id = native.adopt(number, label)
    } catch (error) {
      const converted = fromNative(error) as LockError
      converted.message = `${converted.message.replace(/, fstat$/, '')}: fd ${number}`
      throw converted
    }
    const file = new LockFile(label, backend, id, autoClose ? 'owned' : 'borrowed')
    file.#adoptedFd = number
    return file
  }

  static {
    setSinceLookup((fd, kind, exclusive, start, length) => {
      const state = heldByFd.get(fd)
      const wanted: LockMode = exclusive ? 'exclusive' : 'shared'
      // A whole-file lock, a LockFile's or a Lock's (which has no LockFile): the addon noted when it was granted.
      if (start === 0 && length === 0 && (state === undefined || (state.whole === wanted && resolveBackend(state.backend, undefined) === kind))) {
        if (typeof native.grantedSince !== 'function') return undefined
        const since = native.grantedSince(fd, BACKEND_IDS[kind], exclusive)
        return since < 0 ? undefined : since
      }
      if (state === undefined) return undefined
      const key = `${start}+${length}`
      if (state.held.get(key) !== wanted || resolveBackend(state.backend, { start, length }) !== kind) return undefined
      return state.rangeSince?.get(key)
    })
  }

  private constructor (path: string, backend: Backend, id: number, adopted?: 'borrowed' | 'owned') {
    this.path = path
    this.backend = backend
    this.#id = id
    this.#wholeExclusive = wholeFileRequest(backend, true)
    this.#wholeShared = wholeFileRequest(backend, false)
    this.#fd = native.fd(id)
    this.#state = { backend, whole: undefined, held: new Map(), rangeSince: undefined }
    if (this.#fd >= 0) heldByFd.set(this.#fd, this.#state)
    this.#adopted = adopted
    const finalized = { id, fd: this.#fd, state: this.#state, path, borrowed: adopted === 'borrowed' }
    if (adopted === 'owned') closeAdoptedWhenCollected.register(this, finalized, this)
    else closeWhenCollected.register(this, finalized, this)
  }

  /** The descriptor (-1 once closed, and on Windows). */
  get fd (): number { return this.#closed ? -1 : native.fd(this.#id) }
  get closed (): boolean { return this.#closed }

  /** The mode held on a range (or the whole file), if any. */
  heldMode (range?: ByteRange): LockMode | undefined {
    return range === undefined ? this.#state.whole : this.#state.held.get(`${range.start}+${range.length}`)
  }

  /** One attempt: true if locked, false if someone else holds a conflicting lock. */
  tryLock (options?: LockRequestOptions): boolean {
    return this.#tryLock(this.#request(options, REQUEST_KEYS))
  }

  #tryLock (request: Request): boolean {
    this.#ensureOpen()
    this.#refuseConversion(request)
    if (request.key === WHOLE_FILE) {
      const result = native.tryLockWhole(this.#id, request.id, request.exclusive)
      if (result >= 0) return this.#outcome(request, result === 1)
      // An error: the full call below repeats the attempt and throws it in full.
    }
    let locked: boolean
    try {
      locked = native.tryLock(this.#id, request.id, request.exclusive, request.start, request.length)
    } catch (error) {
      throw this.#error(error, request)
    }
    return this.#outcome(request, locked)
  }

  /** Waits on this thread until locked (or `timeout` ms pass: LockTimeoutError). */
  lockSync (options?: Omit<LockWaitOptions, 'signal'>): void {
    const request = this.#request(options, LOCK_SYNC_KEYS)
    const timeout = validateTimeout(options?.timeout, 'options.timeout')
    this.#ensureOpen()
    this.#refuseConversion(request)
    let locked: boolean
    try {
      locked = native.lockSync(this.#id, request.id, request.exclusive, request.start, request.length, timeout ?? -1)
    } catch (error) {
      throw this.#error(error, request)
    }
    if (!this.#outcome(request, locked)) throw this.#timedOut(timeout ?? 0, request)
  }

  /**
   * Waits without blocking the event loop. Tries on this thread first; only a
   * busy lock is waited for, on a native thread of its own (never the libuv pool).
   * close() during the wait rejects it with code ERR_LOCK_CLOSED.
   */
  lock (options?: LockWaitOptions): Promise<void> {
    let request: Request
    let timeout: number | undefined
    let signal: AbortSignal | undefined
    try {
      request = this.#request(options, LOCK_KEYS)
      timeout = validateTimeout(options?.timeout, 'options.timeout')
      signal = validateSignal(options?.signal, 'options.signal')
      if (signal?.aborted) return Promise.reject(signal.reason)
      if (this.#tryLock(request)) return Promise.resolve()
    } catch (error) {
      return Promise.reject(error)
    }
    if (timeout === 0) return Promise.reject(this.#timedOut(0, request))
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
      if (timeout !== undefined) timer = setTimeout(() => stop(this.#timedOut(timeout, request)), timeout)
    })
  }

  /**
   * For Lock's queue (lib/slot.ts: posix and byte-range locks, and the files it
   * opens the full way): a wait with a plain callback, called once
   * with null when locked or with the error, and no timer or listener to
   * tidy up, so the path from the kernel's grant to the caller stays short.
   * `current` is isCurrent() as the waiter thread saw it right after the grant
   * (undefined if it could not tell). `tryFirst`: the caller has not just
   * tried the lock itself, so the waiter thread tries once before it waits and
   * `waited` tells whether another holder was in the way (else it is true).
   * Returns a function that cancels the wait synchronously; `done` is then
   * never called.
   */
  [waitForLock] (options: LockRequestOptions | undefined, tryFirst: boolean, done: WaitDone): () => void {
    return this.#startWait(this.#request(options, REQUEST_KEYS), done, true, tryFirst)
  }

  #startWait (request: Request, done: WaitDone, checkCurrent = false, tryFirst = false): () => void {
    this.#ensureOpen()
    this.#refuseConversion(request)
    let settled = false
    try {
      native.wait(this.#id, request.id, request.exclusive, request.start, request.length, (error, _acquired, current, waited) => {
        settled = true
        this.#failWait = undefined
        if (error !== null) return done(this.#error(error, request))
        this.#hold(request)
        done(null, current, waited)
      }, checkCurrent, tryFirst)
    } catch (error) {
      throw this.#error(error, request)
    }
    // A flock conversion drops the old lock as the wait starts.
    if (request.backend === 'flock' && this.#state.whole !== undefined && this.#state.whole !== mode(request)) this.#state.whole = undefined
    this.#failWait = (error) => {
      if (settled) return
      settled = true
      done(error)
    }
    return () => {
      if (settled) return
      settled = true
      this.#failWait = undefined
      native.cancel(this.#id)
    }
  }

  /** Releases what this descriptor holds on the range (or the whole file). */
  unlock (options?: { range?: ByteRange }): void {
    const request = this.#request(options, UNLOCK_KEYS)
    if (!this.#holds(request.key)) {
      throw new LockError('ERR_LOCK_NOT_HELD', `Not locked by this handle${request.key === WHOLE_FILE ? '' : ` (range ${request.key})`}: ${this.path}`, this.path)
    }
    const fast = request.key === WHOLE_FILE && native.unlockWhole(this.#id, request.id) === 0
    if (!fast) typedCall(() => native.unlock(this.#id, request.id, request.start, request.length))
    if (request.key === WHOLE_FILE) this.#state.whole = undefined
    else this.#state.held.delete(request.key)
  }

  /**
   * Who holds or waits for locks on this open file (holders() on its
   * descriptor, so a replaced or unlinked path does not matter). Linux.
   */
  holders (): Holder[] {
    this.#ensureOpen()
    return holders(this.#fd >= 0 ? this.#fd : this.path)
  }

  /** Whether the path still names this open file (false once it was unlinked or replaced). */
  isCurrent (): boolean {
    this.#ensureOpen()
    return typedCall(() => native.isCurrent(this.#id))
  }

  /**
   * Closes the descriptor; the kernel drops its locks. A wait in progress is
   * cancelled and ends with a LockError of code ERR_LOCK_CLOSED (lock() rejects
   * with it).
   */
  close (): void {
    if (this.#closed) throw new LockError('EBADF', `Lock file already closed: ${this.path}`, this.path)
    this.#closed = true
    forget(this.#fd, this.#state)
    // A borrowed descriptor stays open, and so would its locks: give them back.
    if (this.#adopted === 'borrowed') this.#unlockAll()
    this.#state.held.clear()
    this.#state.whole = undefined
    closeWhenCollected.unregister(this)
    closeAdoptedWhenCollected.unregister(this)
    const failWait = this.#failWait
    this.#failWait = undefined
    try {
      native.close(this.#id) // cancels the wait first: nothing granted in the race stays held
      if (this.#adopted === 'owned') closeSync(this.#adoptedFd)
    } catch (error) {
      throw fromNative(error)
    } finally {
      failWait?.(new LockError('ERR_LOCK_CLOSED', `Lock file closed while waiting for its lock: ${this.path}`, this.path))
    }
  }

  /** Cancels a wait in progress (a grant in the race is given back) and unlocks everything held. */
  #unlockAll (): void {
    try { native.cancel(this.#id) } catch {}
    if (this.#state.whole !== undefined) {
      const request = this.#wholeExclusive
      try { native.unlock(this.#id, request.id, request.start, request.length) } catch {}
    }
    for (const key of this.#state.held.keys()) {
      const [start, length] = key.split('+').map(Number) as [number, number]
      const backend = resolveBackend(this.backend, { start, length })
      try { native.unlock(this.#id, BACKEND_IDS[backend], start, length) } catch {}
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

  /** A LockTimeoutError that says who holds the lock, when that can be told cheaply. */
  #timedOut (timeout: number, request: Request): LockTimeoutError {
    const range = request.start === undefined ? undefined : { start: request.start, length: request.length ?? 0 }
    return withHolders(new LockTimeoutError(this.path, timeout), { path: this.path, backend: request.backend, mode: mode(request), range })
  }

  #ensureOpen (): void {
    if (this.#closed) throw new LockError('EBADF', `Lock file is closed: ${this.path}`, this.path)
  }

  /**
   * Records an attempt's outcome. flock(2) changes the mode of a lock by
   * dropping it first, even with LOCK_NB: after a failed change this
   * descriptor holds nothing. fcntl (ofd, posix) changes are atomic and a
   * failed one keeps the old lock, as LockFileEx never converts.
   */
  #outcome (request: Request, locked: boolean): boolean {
    if (locked) this.#hold(request)
    else if (request.backend === 'flock') this.#state.whole = undefined
    return locked
  }

  /**
   * What the addon threw, as a LockError. An exclusive fcntl lock needs a
   * descriptor open for writing; on a file that could only be opened
   * read-only the kernel's bare EBADF says nothing useful, so say why.
   */
  #error (error: unknown, request: Request): Error {
    const converted = fromNative(error)
    if ((converted as LockError).code === 'EBADF' && request.exclusive && (request.backend === 'ofd' || request.backend === 'posix') &&
        !this.#closed && native.readOnly(this.#id)) {
      converted.message = `EBADF: the lock file could only be opened read-only, so an exclusive ${request.backend} (fcntl) lock is impossible on it ` +
        `(a flock lock works, or make the file writable): '${this.path}'`
    }
    return converted
  }

  #holds (key: string): boolean {
    return key === WHOLE_FILE ? this.#state.whole !== undefined : this.#state.held.has(key)
  }

  #hold (request: Request): void {
    if (request.key === WHOLE_FILE) {
      this.#state.whole = mode(request)
    } else {
      this.#state.held.set(request.key, mode(request))
      ;(this.#state.rangeSince ??= new Map()).set(request.key, Date.now())
    }
  }

  #request (options: LockRequestOptions | undefined, known: readonly string[]): Request {
    if (options === undefined) return this.#wholeExclusive
    const opts = validateObject<LockRequestOptions>(options, 'options')
    refuseUnknownKeys(opts, known, 'options', REQUEST_HINTS)
    const exclusive = validateMode(opts.mode, 'options.mode') === 'exclusive'
    const range = validateRange(opts.range, 'options.range')
    if (range === undefined) return exclusive ? this.#wholeExclusive : this.#wholeShared
    const backend = resolveBackend(this.backend, range)
    return { backend, id: BACKEND_IDS[backend], exclusive, start: range.start, length: range.length, key: `${range.start}+${range.length}` }
  }
}
