// The realm of `locks`: kernel locks in the named-locks directory, so every
// process and worker thread of the machine sharing that directory is one
// LockManager's worth of clients.
//
// Files, per name (lockFileName's mapping, the same files named locks use):
//   <name>        the lock itself: flock(2) exclusive or shared (LockFileEx on
//                 Windows), so lock('x', { external: true }) and
//                 locks.request('x') exclude each other
//   <name>%gate   a turnstile, held only while waiting for <name>: a shared
//                 request that arrives while an exclusive one waits queues
//                 behind it, as the specification orders one queue, instead
//                 of joining the shared holders it could share with
//
// A request takes the gate in its own mode, then the lock, then lets the gate
// go. Both waits are native kernel waits (no polling, no thread pool). An
// exclusive request that finds the lock free takes it without the gate (it
// overtakes nobody who holds the gate: they wait for a lock that was not free).
// A steal skips the gate: it goes ahead of every request.
import { join } from 'node:path'
import { Lock, unlogged, type LockOptions } from '../lock'
import { ensureLockPath, lockFileName } from '../lockpath'
import { domError } from './manager'
import { kernelCheck } from './kernel'
import { Registry } from './registry'
import type { Realm, RealmAcquire, RealmClient, RealmEntry, RealmGrant, WebLockMode } from './types'

export const GATE_SUFFIX = '%gate'

/**
 * The name's lock file: lockFileName's, as for named locks. The empty name,
 * which named locks refuse and Web Locks allow, gets '%empty' (lockFileName
 * never makes '%e').
 */
export function fileName (name: string, suffix = ''): string {
  return name === '' ? `%empty${suffix}` : lockFileName(name, undefined, suffix)
}

function grantOf (lock: Lock): RealmGrant {
  return { release: () => { lock.release() } }
}

export class FileRealm implements Realm {
  readonly shared = true
  readonly syncTry = true
  readonly dir: string
  readonly registry: Registry
  readonly #isDefault: boolean

  constructor (dir: string, isDefault: boolean) {
    this.dir = dir
    this.#isDefault = isDefault
    this.registry = new Registry(dir)
  }

  attach (client: RealmClient): void {
    this.registry.attach(client)
  }

  changed (): void {
    this.registry.changed()
  }

  #lock (name: string, mode: WebLockMode, suffix = ''): Lock {
    return new Lock(join(this.dir, fileName(name, suffix)), { mode, noFollow: true, [unlogged]: true } as LockOptions)
  }

  /** When the directory was last made sure of (performance.now()). */
  #ensured = -Infinity

  #ready (): void {
    // The directory is made sure of (created if missing; the default one checked to be private
    // to this user) at most once a second rather than at every request: a stat costs as much as
    // the rest of an uncontended request.
    const now = performance.now()
    if (now - this.#ensured >= 1000) {
      ensureLockPath(this.#isDefault ? undefined : this.dir)
      this.#ensured = now
    }
    this.registry.start()
  }

  tryAcquire (name: string, mode: WebLockMode): RealmGrant | null {
    this.#ready()
    if (this.registry.stealing(name)) return null
    if (mode === 'exclusive') {
      // A free lock can be taken without the gate: nobody holds it, so nobody is overtaken
      // who holds it; a waiter woken by the last release competes as the kernel decides.
      const lock = this.#lock(name, mode)
      return lock.tryAcquire() ? grantOf(lock) : null
    }
    // A shared request must not join shared holders past an exclusive request waiting at the gate.
    const gate = this.#lock(name, mode, GATE_SUFFIX)
    if (!gate.tryAcquire()) return null
    try {
      const lock = this.#lock(name, mode)
      return lock.tryAcquire() ? grantOf(lock) : null
    } finally {
      gate.release()
    }
  }

  async acquire (request: RealmAcquire): Promise<RealmGrant> {
    this.#ready()
    const { name, mode, signal } = request
    if (request.steal) return await this.#steal(request)
    for (;;) {
      const gate = this.#lock(name, mode, GATE_SUFFIX)
      await gate.acquire({ signal })
      const lock = this.#lock(name, mode)
      try {
        await lock.acquire({ signal })
      } finally {
        gate.release()
      }
      if (!this.registry.stealing(name)) return grantOf(lock)
      // Granted while another thread steals this name: give way, as a request queued behind a steal does.
      lock.release()
      await this.registry.stealEnded(name, signal)
    }
  }

  /**
   * A kernel lock cannot be taken from a live holder. Holders that are Web
   * Locks clients are told (a marker their threads watch for) and let go at
   * once, their requests rejecting with AbortError as a local steal does;
   * everyone else (named locks, flock(1), a thread whose event loop is stuck)
   * keeps the lock, and after `stealTimeout` ms the steal rejects with a
   * TimeoutError DOMException.
   */
  async #steal ({ name, signal, stealTimeout }: RealmAcquire): Promise<RealmGrant> {
    const lock = this.#lock(name, 'exclusive')
    if (lock.tryAcquire()) return grantOf(lock)
    const withdraw = this.registry.postSteal(name, stealTimeout)
    const bound = new AbortController()
    const timeout = domError('TimeoutError', `Could not steal the lock '${name}': its holder did not let go within ${stealTimeout} ms (only Web Locks clients can be made to; named locks and other programs cannot)`)
    const timer = setTimeout(() => bound.abort(timeout), stealTimeout)
    const onAbort = (): void => bound.abort(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      if (signal.aborted) throw signal.reason
      await lock.acquire({ signal: bound.signal })
      return grantOf(lock)
    } finally {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      withdraw()
    }
  }

  async others (mine: RealmEntry[]): Promise<{ held: RealmEntry[], pending: RealmEntry[] }> {
    return kernelCheck(this.dir, this.registry.others(), mine)
  }
}
