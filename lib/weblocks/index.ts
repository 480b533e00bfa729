// `locks`: the W3C Web Locks API's LockManager, across every process and
// worker thread of the machine that shares the named-locks directory.
import { invalidArgType, outOfRange } from '../errors'
import { defaultLockPath, effectiveLockPath } from '../lockpath'
import { refuseUnknownKeys, validateObject } from '../validate'
import { FileRealm } from './file'
import { Core, parseRequest, snapshotOf, submit, WebLock } from './manager'
import type { Realm, WebLockOptions, WebLockSnapshot } from './types'

export { WebLock }
export type { WebLockInfo, WebLockMode, WebLockOptions, WebLockSnapshot } from './types'

export interface LockManagerOptions {
  /** The lock directory (default: as named locks: setDefaults(), $LOCKSMITH_LOCK_PATH, a private per-user one). */
  lockPath?: string
  /**
   * How long a steal waits for holders in other processes to let go (ms,
   * default 1000); then it rejects with a TimeoutError DOMException.
   */
  stealTimeout?: number
}

export type LockGrantedCallback<T> = (lock: WebLock | null) => T

const DEFAULT_STEAL_TIMEOUT = 1000
const kRealm = Symbol('locksmith.realm')

/** One core per lock directory per thread: every LockManager on a directory shares its queues. */
const cores = new Map<string, Core>()

function fileCore (lockPath: string | undefined): Core {
  const dir = effectiveLockPath(lockPath)
  let core = cores.get(dir)
  if (core === undefined) {
    core = new Core(new FileRealm(dir, lockPath === undefined && dir === defaultLockPath()))
    cores.set(dir, core)
  }
  return core
}

export class LockManager {
  readonly #lockPath: string | undefined
  readonly #stealTimeout: number
  readonly #core: Core | undefined

  /**
   * A LockManager on a lock directory. `locks` (exported) is the one on the
   * default directory; all managers of one directory share their queues.
   */
  constructor (options?: LockManagerOptions) {
    const opts = validateObject<LockManagerOptions & { [kRealm]?: Realm }>(options, 'options')
    refuseUnknownKeys(opts, ['lockPath', 'stealTimeout'], 'options', { lock_path: 'lockPath', timeout: 'stealTimeout' })
    if (opts.lockPath !== undefined && (typeof opts.lockPath !== 'string' || opts.lockPath === '')) {
      throw invalidArgType('options.lockPath', 'a non-empty string', opts.lockPath)
    }
    const stealTimeout = opts.stealTimeout ?? DEFAULT_STEAL_TIMEOUT
    if (typeof stealTimeout !== 'number') throw invalidArgType('options.stealTimeout', 'of type number', stealTimeout)
    if (!(stealTimeout >= 0 && stealTimeout <= 2 ** 31 - 1)) throw outOfRange('options.stealTimeout', '>= 0 and <= 2147483647', stealTimeout)
    this.#lockPath = opts.lockPath
    this.#stealTimeout = stealTimeout
    const realm = opts[kRealm]
    this.#core = realm === undefined ? undefined : new Core(realm)
  }

  /**
   * Requests the lock `name` and calls `callback` holding it; the promise
   * settles with the callback's result once the lock is released. As
   * navigator.locks.request(), across processes.
   */
  request<T> (name: string, callback: LockGrantedCallback<T>): Promise<Awaited<T>>
  request<T> (name: string, options: WebLockOptions, callback: LockGrantedCallback<T>): Promise<Awaited<T>>
  request (...args: unknown[]): Promise<unknown> {
    try {
      const parsed = parseRequest(args)
      return submit(this.#core ?? fileCore(this.#lockPath), parsed, this.#stealTimeout)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** What every client of this manager's realm holds and waits for. */
  async query (): Promise<WebLockSnapshot> {
    return await snapshotOf(this.#core ?? fileCore(this.#lockPath))
  }

  get [Symbol.toStringTag] (): string { return 'LockManager' }
}

/** A LockManager over another realm (a Coordinator's backend). */
export function managerOf (realm: Realm, stealTimeout?: number): LockManager {
  return new LockManager({ [kRealm]: realm, stealTimeout } as LockManagerOptions)
}

/** navigator.locks for every process and worker thread sharing the lock directory. */
export const locks: LockManager = new LockManager()
