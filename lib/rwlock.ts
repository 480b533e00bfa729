// ReaderWriterLock: many readers or one writer, across processes and within one.
//
// Two byte-range locks on the lock file: a gate byte and a data byte.
//   reader: gate shared -> data shared -> gate released (held for microseconds)
//   writer: gate exclusive -> data exclusive (gate kept until release)
// A waiting writer that holds the gate stops new readers at the gate, so it
// waits only for the readers already inside: no writer starvation, however
// many reader processes overlap. A writer gets the gate between two readers'
// momentary gate holds; in this process the queue is FIFO as well.
import { invalidArgType, LockBusyError, LockError, UnsafeOptionsError } from './errors'
import { Lock, LOCK_OPTION_HINTS, LOCK_OPTION_NAMES, unlogged, type AcquireOptions, type LockOptions } from './lock'
import { debugLog, defaultLogger, failureEvent, type Logger } from './log'
import { resolveBackend, validateBackend } from './backend'
import { refuseUnknownKeys, validateObject, validatePath } from './validate'

const GATE = { start: 0, length: 1 }
const DATA = { start: 1, length: 1 }

export type ReaderWriterLockOptions = Omit<LockOptions, 'mode' | 'range' | 'removeOnRelease'>

/** A held read or write lock; release() or `using` gives it back. */
export interface HeldLock extends Disposable, AsyncDisposable {
  readonly mode: 'shared' | 'exclusive'
  readonly acquired: boolean
  release (): boolean
}

class Held implements HeldLock {
  readonly mode: 'shared' | 'exclusive'
  readonly #locks: Lock[]
  readonly #onRelease: () => void
  #acquired = true

  constructor (mode: 'shared' | 'exclusive', locks: Lock[], onRelease: () => void) {
    this.mode = mode
    this.#locks = locks
    this.#onRelease = onRelease
  }

  get acquired (): boolean { return this.#acquired }

  release (): boolean {
    if (!this.#acquired) return false
    this.#acquired = false
    for (const lock of this.#locks.reverse()) lock.release()
    this.#onRelease()
    return true
  }

  [Symbol.dispose] (): void { this.release() }
  async [Symbol.asyncDispose] (): Promise<void> { this.release() }
}

export class ReaderWriterLock {
  readonly path: string
  readonly #options: ReaderWriterLockOptions
  readonly #logger: Logger | undefined
  readonly #label: string | undefined
  /** Read locks this object holds: a write() now would wait for itself. */
  #reads = 0

  constructor (path: string | URL, options?: ReaderWriterLockOptions) {
    this.path = validatePath(path)
    const opts = validateObject<LockOptions>(options, 'options')
    refuseUnknownKeys(opts, LOCK_OPTION_NAMES, 'options', LOCK_OPTION_HINTS)
    for (const key of ['mode', 'range', 'removeOnRelease'] as const) {
      if (opts[key] !== undefined) throw invalidArgType(`options.${key}`, 'undefined (ReaderWriterLock sets it)', opts[key])
    }
    if (opts.backend === 'flock') throw invalidArgType('options.backend', "a range-capable backend ('ofd', 'windows' or 'auto')", opts.backend)
    // The kernel's deadlock check for classic POSIX locks works per process: a
    // process with a reader inside and a writer at the gate "holds and waits",
    // so two such processes get EDEADLK in ordinary use, though nothing is stuck.
    if (resolveBackend(validateBackend(opts.backend, 'options.backend'), GATE) === 'posix') {
      throw new UnsafeOptionsError("ReaderWriterLock cannot use classic POSIX locks (backend 'posix', or 'auto' where OFD locks are missing): the kernel's per-process deadlock detection fails ordinary waits with EDEADLK. Use 'ofd'")
    }
    this.#options = opts as ReaderWriterLockOptions
    const probe = new Lock(this.path, { ...this.#options, range: GATE }) // validates the remaining options now
    this.#logger = opts.logger ?? defaultLogger
    this.#label = probe.label
  }

  /** Shared: many readers, in this process and others. */
  async read (options?: AcquireOptions): Promise<HeldLock> {
    return await this.#logged('shared', performance.now(), this.#read(options))
  }

  /** Exclusive: one writer, no readers. */
  async write (options?: AcquireOptions): Promise<HeldLock> {
    return await this.#logged('exclusive', performance.now(), this.#write(options))
  }

  /** A read lock if one can be had without waiting, else null. */
  tryRead (): HeldLock | null {
    return this.#loggedTry('shared', this.#tryRead())
  }

  /** A write lock if one can be had without waiting, else null. */
  tryWrite (): HeldLock | null {
    return this.#loggedTry('exclusive', this.#tryWrite())
  }

  async #read (options?: AcquireOptions): Promise<HeldLock> {
    const gate = this.#lock('shared', GATE)
    if (!await gate.acquire(options)) throw new LockBusyError(this.path)
    const data = this.#lock('shared', DATA)
    try {
      // Readers only wait here while a writer is inside; the gate keeps the order.
      if (!await data.acquire(options)) throw new LockBusyError(this.path)
    } finally {
      gate.release()
    }
    return this.#heldRead([data])
  }

  async #write (options?: AcquireOptions): Promise<HeldLock> {
    this.#refuseUpgrade()
    const gate = this.#lock('exclusive', GATE)
    if (!await gate.acquire(options)) throw new LockBusyError(this.path)
    const data = this.#lock('exclusive', DATA)
    try {
      if (!await data.acquire(options)) throw new LockBusyError(this.path)
    } catch (error) {
      gate.release()
      throw error
    }
    return new Held('exclusive', [gate, data], () => {})
  }

  #tryRead (): HeldLock | null {
    const gate = this.#lock('shared', GATE)
    if (!gate.tryAcquire()) return null
    const data = this.#lock('shared', DATA)
    try {
      if (!data.tryAcquire()) return null
    } finally {
      gate.release()
    }
    return this.#heldRead([data])
  }

  #tryWrite (): HeldLock | null {
    this.#refuseUpgrade()
    const gate = this.#lock('exclusive', GATE)
    if (!gate.tryAcquire()) return null
    const data = this.#lock('exclusive', DATA)
    if (!data.tryAcquire()) {
      gate.release()
      return null
    }
    return new Held('exclusive', [gate, data], () => {})
  }

  async withRead<T> (fn: () => T | Promise<T>, options?: AcquireOptions): Promise<T> {
    const held = await this.read(options)
    try {
      return await fn()
    } finally {
      held.release()
    }
  }

  async withWrite<T> (fn: () => T | Promise<T>, options?: AcquireOptions): Promise<T> {
    const held = await this.write(options)
    try {
      return await fn()
    } finally {
      held.release()
    }
  }

  #lock (mode: 'shared' | 'exclusive', range: { start: number, length: number }): Lock {
    return new Lock(this.path, { ...this.#options, mode, range, [unlogged]: true } as LockOptions)
  }

  // One line per read or write lock taken, refused or given back; none about its two bytes.
  async #logged (mode: 'shared' | 'exclusive', started: number, taking: Promise<HeldLock>): Promise<HeldLock> {
    if (this.#logger === undefined) return await taking
    try {
      const held = await taking
      this.#log('acquired', mode, started)
      return this.#logRelease(held)
    } catch (error) {
      this.#log(failureEvent(error), mode, started)
      throw error
    }
  }

  #loggedTry (mode: 'shared' | 'exclusive', held: HeldLock | null): HeldLock | null {
    if (this.#logger === undefined) return held
    this.#log(held === null ? 'busy' : 'acquired', mode)
    return held === null ? null : this.#logRelease(held)
  }

  #logRelease (held: HeldLock): HeldLock {
    const since = performance.now()
    const release = held.release.bind(held)
    held.release = () => {
      const released = release()
      if (released) this.#log('released', held.mode, undefined, since)
      return released
    }
    return held
  }

  #log (event: string, mode: 'shared' | 'exclusive', started?: number, since?: number): void {
    const now = performance.now()
    const waitedMs = started === undefined ? undefined : Math.round((now - started) * 10) / 10
    const heldMs = since === undefined ? undefined : Math.round((now - since) * 10) / 10
    const timing = waitedMs !== undefined ? ` after ${waitedMs.toFixed(1)} ms` : heldMs !== undefined ? ` (held ${heldMs.toFixed(1)} ms)` : ''
    const fields = { event, path: this.path, mode, pid: process.pid, ...(this.#label === undefined ? {} : { label: this.#label }), ...(waitedMs === undefined ? {} : { waitedMs }), ...(heldMs === undefined ? {} : { heldMs }) }
    debugLog(this.#logger, fields, `${this.#label === undefined ? '' : `${this.#label}: `}${event} ${mode === 'shared' ? 'read' : 'write'} lock on ${this.path}${timing}`)
  }

  #heldRead (locks: Lock[]): HeldLock {
    this.#reads++
    return new Held('shared', locks, () => { this.#reads-- })
  }

  // Turning a read lock into a write lock cannot be atomic here (the gate must
  // be taken first) and would wait for itself: refuse it plainly.
  #refuseUpgrade (): void {
    if (this.#reads > 0) {
      throw new LockError('ERR_LOCK_UPGRADE', `This ReaderWriterLock holds a read lock on ${this.path}; release it before writing (upgrades are not atomic and are refused)`, this.path)
    }
  }
}
