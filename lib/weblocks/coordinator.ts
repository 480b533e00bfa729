// coordinator.locks: the Web Locks API over a Coordinator's backend, so the
// same code locks across machines. Exclusive requests are the Coordinator's
// own locks (getLock(name)), with their fencing token and loss signal on the
// Lock the callback gets. Shared requests need a backend that can hold a lock
// shared honestly: file:// can (a shared flock on the name's lock file);
// Redis and PostgreSQL requests in mode 'shared' reject with
// NotSupportedError. query() reports this coordinator's requests only: the
// servers keep no list of waiters.
import { Lock, unlogged, type LockOptions } from '../lock'
import type { Coordinator } from '../coordination/index'
import type { DistributedLock } from '../coordination/types'
import { managerOf, type LockManager } from './index'
import { domError } from './manager'
import type { Realm, RealmAcquire, RealmGrant, RealmEntry, WebLockMode } from './types'

function distributedGrant (lock: DistributedLock): RealmGrant {
  return {
    release: () => { lock.release().catch(() => {}) },
    fencingToken: lock.fencingToken,
    lost: lock.signal
  }
}

function fileGrant (lock: Lock): RealmGrant {
  return { release: () => { lock.release() } }
}

class CoordinatorRealm implements Realm {
  readonly shared: boolean
  readonly syncTry = false
  readonly #coordinator: Coordinator

  constructor (coordinator: Coordinator) {
    this.#coordinator = coordinator
    this.shared = coordinator.backend === 'file'
  }

  /** A shared lock on the lock file the Coordinator's exclusive lock of `name` uses. */
  #sharedLock (name: string): Lock {
    const { path, backend } = this.#coordinator.getLock(name) as DistributedLock & Pick<LockOptions, 'backend'> & { path: string }
    return new Lock(path, { mode: 'shared', backend, noFollow: true, [unlogged]: true } as LockOptions)
  }

  #check (mode: WebLockMode): void {
    if (mode === 'shared' && !this.shared) throw domError('NotSupportedError', `mode 'shared' is not supported by the ${this.#coordinator.backend} backend`)
  }

  async tryAcquire (name: string, mode: WebLockMode): Promise<RealmGrant | null> {
    this.#check(mode)
    if (mode === 'shared') {
      const lock = this.#sharedLock(name)
      return lock.tryAcquire() ? fileGrant(lock) : null
    }
    const lock = this.#coordinator.getLock(name)
    return await lock.acquire({ blocking: false }) ? distributedGrant(lock) : null
  }

  async acquire ({ name, mode, steal, stealTimeout, signal }: RealmAcquire): Promise<RealmGrant> {
    this.#check(mode)
    if (mode === 'shared') {
      const lock = this.#sharedLock(name)
      await lock.acquire({ signal })
      return fileGrant(lock)
    }
    const lock = this.#coordinator.getLock(name)
    if (!steal) {
      await lock.acquire({ signal })
      return distributedGrant(lock)
    }
    // Another member's lock cannot be taken away: wait for it, within the bound.
    const bound = new AbortController()
    const timer = setTimeout(() => bound.abort(domError('TimeoutError', `Could not steal the lock '${name}': another member held it for more than ${stealTimeout} ms`)), stealTimeout)
    const onAbort = (): void => bound.abort(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      if (signal.aborted) throw signal.reason
      await lock.acquire({ signal: bound.signal })
      return distributedGrant(lock)
    } finally {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
    }
  }

  async others (_mine: RealmEntry[]): Promise<{ held: RealmEntry[], pending: RealmEntry[] }> {
    return { held: [], pending: [] }
  }

  changed (): void {}
  attach (): void {}
}

const managers = new WeakMap<Coordinator, LockManager>()

/** The LockManager of a Coordinator (one per coordinator). */
export function coordinatorLocks (coordinator: Coordinator): LockManager {
  let manager = managers.get(coordinator)
  if (manager === undefined) {
    manager = managerOf(new CoordinatorRealm(coordinator))
    managers.set(coordinator, manager)
  }
  return manager
}
