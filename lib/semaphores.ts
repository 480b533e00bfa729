// Named in-process locks: exclude the async tasks of this JS thread from each
// other by name, with no file involved. A container keeps an entry only while
// its lock is held or awaited, so any number of distinct names used once
// leaves it empty; handles are thin and resolve their entry by name, so two
// handles of one name always exclude each other, whenever they were obtained.
import { AcquireLockFailedError, invalidArgType, invalidArgValue, LockTimeoutError } from './errors'
import type { HeldLock } from './rwlock'
import { refuseUnknownKeys, validateObject } from './validate'
import { ACQUIRE_OPTION_HINTS, ACQUIRE_OPTION_NAMES, signalSetting, waitSetting, type AcquireOptions } from './wait-options'

interface Waiter {
  fair: boolean
  resolve: () => void
  reject: (error: unknown) => void
}

class Entry {
  held = false
  readonly queue: Waiter[] = []
  waking = false
  readonly handles: Array<InternalLock | undefined> = [undefined, undefined]
}

/** The name -> entry map one or more containers share. */
class Registry {
  readonly entries = new Map<string, Entry>()

  entry (name: string): Entry {
    let entry = this.entries.get(name)
    if (entry === undefined) {
      entry = new Entry()
      this.entries.set(name, entry)
    }
    return entry
  }

  dropIfIdle (name: string, entry: Entry): void {
    if (!entry.held && entry.queue.length === 0 && this.entries.get(name) === entry) this.entries.delete(name)
  }
}

class Held implements HeldLock {
  readonly mode = 'exclusive' as const
  #release: (() => void) | undefined

  constructor (release: () => void) {
    this.#release = release
  }

  get acquired (): boolean { return this.#release !== undefined }

  release (): boolean {
    const release = this.#release
    if (release === undefined) return false
    this.#release = undefined
    release()
    return true
  }

  [Symbol.dispose] (): void { this.release() }
  async [Symbol.asyncDispose] (): Promise<void> { this.release() }
}

/**
 * One named in-process lock. Fair: strict FIFO, a release hands the lock to
 * the longest waiter and nobody can take it ahead of the queue. Not fair:
 * waiters are still woken in arrival order, but a release frees the lock until
 * the woken waiter runs (a microtask later), and a try or acquire arriving in
 * between takes it first; the waiter then stays at the head of the queue.
 */
export class InternalLock {
  readonly name: string
  readonly fair: boolean
  readonly #registry: Registry

  /** @internal use a container's get() */
  constructor (registry: Registry, name: string, fair: boolean) {
    this.#registry = registry
    this.name = name
    this.fair = fair
  }

  /** Whether someone holds it now. */
  get locked (): boolean {
    return this.#registry.entries.get(this.name)?.held ?? false
  }

  /** How many acquires are waiting for it. */
  get waiting (): number {
    return this.#registry.entries.get(this.name)?.queue.length ?? 0
  }

  /** Takes it if that needs no waiting, else null. */
  tryAcquire (): HeldLock | null {
    const entry = this.#entry()
    if (entry.held || (this.fair && entry.queue.length > 0)) {
      this.#registry.dropIfIdle(this.name, entry)
      return null
    }
    entry.held = true
    return this.#held(entry)
  }

  /**
   * Resolves to the held lock. `blocking: false` rejects with
   * AcquireLockFailedError when busy; a number of ms rejects with
   * LockTimeoutError when it runs out; an aborted signal rejects with its reason.
   */
  async acquire (options?: AcquireOptions): Promise<HeldLock> {
    const opts = validateObject<AcquireOptions>(options, 'options')
    refuseUnknownKeys(opts, ACQUIRE_OPTION_NAMES, 'options', ACQUIRE_OPTION_HINTS)
    const blocking = waitSetting(opts, 'options') ?? true
    const timeout = typeof blocking === 'number' ? blocking : undefined
    const signal = signalSetting(opts, 'options')
    if (signal?.aborted) throw signal.reason
    const held = this.tryAcquire()
    if (held !== null) return held
    if (blocking === false) throw new AcquireLockFailedError(this.name)
    if (timeout === 0) throw new LockTimeoutError(this.name, 0)
    const entry = this.#entry()
    await this.#wait(entry, timeout, signal)
    return this.#held(entry)
  }

  /** Runs `fn` holding the lock; releases it however `fn` ends. */
  async withLock<T> (fn: () => T | Promise<T>, options?: AcquireOptions): Promise<T> {
    const held = await this.acquire(options)
    try {
      return await fn()
    } finally {
      held.release()
    }
  }

  #wait (entry: Entry, timeout: number | undefined, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const leave = (reason: unknown): void => {
        const index = entry.queue.indexOf(waiter)
        if (index < 0) return
        entry.queue.splice(index, 1)
        cleanup()
        reject(reason)
        if (!entry.held && entry.queue.length > 0) this.#wake(entry)
        this.#registry.dropIfIdle(this.name, entry)
      }
      const onAbort = (): void => leave(signal?.reason)
      const cleanup = (): void => {
        if (timer !== undefined) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      const waiter: Waiter = {
        fair: this.fair,
        resolve: () => { cleanup(); resolve() },
        reject: (error) => { cleanup(); reject(error) }
      }
      entry.queue.push(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
      if (timeout !== undefined) timer = setTimeout(() => leave(new LockTimeoutError(this.name, timeout)), timeout)
    })
  }

  #entry (): Entry {
    const entry = this.#registry.entry(this.name)
    entry.handles[this.fair ? 1 : 0] ??= this
    return entry
  }

  #held (entry: Entry): HeldLock {
    return new Held(() => this.#release(entry))
  }

  #release (entry: Entry): void {
    entry.held = false
    const head = entry.queue[0]
    if (head === undefined) {
      this.#registry.dropIfIdle(this.name, entry)
    } else if (head.fair) {
      entry.queue.shift()
      entry.held = true // handed over: nobody can take it in between
      head.resolve()
    } else {
      this.#wake(entry)
    }
  }

  /** Wakes the head a microtask later; whoever takes the lock first meanwhile keeps it. */
  #wake (entry: Entry): void {
    if (entry.waking) return
    entry.waking = true
    queueMicrotask(() => {
      entry.waking = false
      if (entry.held) return // taken in between; its release wakes the head again
      const head = entry.queue.shift()
      if (head === undefined) return this.#registry.dropIfIdle(this.name, entry)
      entry.held = true
      head.resolve()
    })
  }
}

// Lets the defaults below share a registry without a public way to do it.
let shareRegistry: (container: Semaphores, other: Semaphores) => void

/**
 * A container of named in-process locks (oslo's Semaphores): get(name) gives
 * the lock of that name. Entries exist only while held or awaited.
 */
export class Semaphores {
  /** Whether the locks of this container are fair (strict FIFO). */
  readonly fair: boolean = false
  #registry: Registry

  constructor () {
    this.#registry = new Registry()
  }

  /** The lock named `name` (the same object as long as it is held or awaited). */
  get (name: string): InternalLock {
    if (typeof name !== 'string') throw invalidArgType('name', 'of type string', name)
    if (name.length === 0) throw invalidArgValue('name', name, 'must be a non-empty string')
    const entry = this.#registry.entries.get(name)
    const slot = this.fair ? 1 : 0
    const existing = entry?.handles[slot]
    if (existing !== undefined) return existing
    const handle = new InternalLock(this.#registry, name, this.fair)
    if (entry !== undefined) entry.handles[slot] = handle
    return handle
  }

  /** How many names are in use (held or awaited) now. */
  get size (): number {
    return this.#registry.entries.size
  }

  /** The names in use now. */
  names (): string[] {
    return [...this.#registry.entries.keys()]
  }

  static {
    shareRegistry = (container, other) => { container.#registry = other.#registry }
  }
}

/** A container of fair (strict FIFO) named in-process locks (oslo's FairLocks). */
export class FairLocks extends Semaphores {
  override readonly fair: boolean = true
}

/**
 * The process-wide defaults. They share one name space: internalLock('x') and
 * internalFairLock('x') are the same lock, taken fairly or not.
 */
export const defaultSemaphores = new Semaphores()
export const defaultFairLocks = new FairLocks()
shareRegistry(defaultFairLocks, defaultSemaphores)
