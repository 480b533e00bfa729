// file:// backend: each name is a locksmith file Lock in the directory of the
// URL, so the kernel does the excluding and a crashed holder's lock goes with
// its process. Nothing can expire, so nothing is renewed: `signal` aborts only
// when the coordinator stops.
//
// Files: the lock file of a name is the one named locks use for it
// (lockFileName), so both kinds of lock on one directory exclude each other.
// Fencing tokens: a counter in `<lock file>%fence` (a name no lock name maps
// to), read and rewritten (temporary file + rename) only while the lock is
// held; the lock file itself is never written. Like the servers' tokens it
// never goes below the clock in microseconds, so a lost or restored counter
// file cannot make tokens repeat as long as the clock moves forward.
// With compat: 'tooz' the lock file and kind are tooz's (tooz-file.ts); the
// counter is `<lock file>%fence` beside it.
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Lock } from '../lock'
import type { AcquireOptions } from '../wait-options'
import { lockFileName } from '../lockpath'
import { acquireSettings } from './options'
import { WaitScope } from './scope'
import { kShutdown, type ManagedLock, type Session } from './session'
import type { Backend } from '../validate'

/** Another library's file and lock kind for a name (compat: 'tooz'), instead of locksmith's. */
export interface FileLayout {
  path: string
  backend: Backend
}

/** Next token for a name; call only while holding its lock. */
export function nextFileToken (fencePath: string): number {
  let previous = 0
  try {
    const stored = Number(readFileSync(fencePath, 'utf8').trim())
    if (Number.isSafeInteger(stored) && stored > 0) previous = stored
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  // Microseconds: a counter file lost or corrupted between two acquisitions in
  // the same millisecond must still yield a higher token.
  const token = Math.max(previous + 1, Math.floor((performance.timeOrigin + performance.now()) * 1000))
  // Only the holder writes, so one temporary name suffices; 'wx' refuses a planted symlink.
  const temporary = `${fencePath}.tmp`
  try { unlinkSync(temporary) } catch { /* none left over */ }
  writeFileSync(temporary, `${token}\n`, { flag: 'wx', mode: 0o644 })
  renameSync(temporary, fencePath)
  return token
}

export class FileLock implements ManagedLock {
  readonly name: string
  readonly fullName: string
  /** The lock file. */
  readonly path: string
  readonly fencePath: string
  readonly #session: Session
  readonly #lock: Lock
  #token: number | undefined
  #controller = new AbortController()

  constructor (session: Session, dir: string, name: string, fullName: string, layout?: (dir: string, fullName: string) => FileLayout | undefined) {
    this.#session = session
    this.name = name
    this.fullName = fullName
    const file = layout?.(dir, fullName)
    this.path = file?.path ?? join(dir, lockFileName(fullName))
    this.fencePath = file === undefined ? join(dir, lockFileName(fullName, undefined, '%fence')) : `${file.path}%fence`
    this.#lock = new Lock(this.path, file === undefined ? { label: session.settings.memberId } : { label: session.settings.memberId, backend: file.backend, mkdirs: true })
  }

  get acquired (): boolean { return this.#lock.acquired }
  /** The lock kind (Web Locks' shared requests take the same kind on the same file). */
  get backend (): Backend { return this.#lock.backend }
  get fencingToken (): number | undefined { return this.#lock.acquired ? this.#token : undefined }
  get signal (): AbortSignal { return this.#controller.signal }

  async acquire (options?: AcquireOptions): Promise<boolean> {
    const { blocking, signal } = acquireSettings(options)
    this.#session.checkRunning()
    const scope = new WaitScope(this.fullName, undefined, [signal, this.#session.lifetime])
    try {
      if (!await this.#lock.acquire({ blocking, signal: scope.signal })) return false
    } finally {
      scope.dispose()
    }
    this.#granted()
    return true
  }

  async block (options?: AcquireOptions): Promise<true> {
    const { blocking, signal } = acquireSettings(options)
    this.#session.checkRunning()
    const scope = new WaitScope(this.fullName, undefined, [signal, this.#session.lifetime])
    try {
      await this.#lock.block({ blocking: typeof blocking === 'number' ? blocking : true, signal: scope.signal })
    } finally {
      scope.dispose()
    }
    this.#granted()
    return true
  }

  /** One synchronous try (file locks need no round trip). */
  tryAcquire (): boolean {
    this.#session.checkRunning()
    if (!this.#lock.tryAcquire()) return false
    this.#granted()
    return true
  }

  async release (): Promise<boolean> {
    if (!this.#lock.release()) return false
    this.#token = undefined
    this.#session.dropped(this)
    return true
  }

  async isStillOwner (): Promise<boolean> {
    return this.#lock.acquired
  }

  async [Symbol.asyncDispose] (): Promise<void> {
    await this.release()
  }

  async [kShutdown] (reason: Error): Promise<void> {
    if (!this.#lock.acquired) return
    this.#controller.abort(reason)
    await this.release()
  }

  #granted (): void {
    try {
      this.#token = nextFileToken(this.fencePath)
    } catch (error) {
      this.#lock.release()
      throw error
    }
    if (this.#controller.signal.aborted) this.#controller = new AbortController()
    this.#session.held(this)
  }
}
