// The one place that loads the addon. Everything else imports `native` from here.
import { join } from 'node:path'

/** Numeric backend ids as the addon knows them (src/lock.h `Backend`). */
export const BACKEND_IDS = { flock: 0, ofd: 1, posix: 2, windows: 3 } as const
export type BackendName = keyof typeof BACKEND_IDS

export interface NativeLockHandle {
  /** true if locked, false if busy; throws for anything else. */
  tryLock (backend: number, exclusive: boolean, start?: number, length?: number): boolean
  /** Blocks the calling thread; timeoutMs < 0 waits forever. false when the time ran out. */
  lockSync (backend: number, exclusive: boolean, start: number | undefined, length: number | undefined, timeoutMs: number): boolean
  /**
   * Waits on a native thread of its own; the callback runs on this thread.
   * With checkCurrent, `current` tells whether the path still named the file
   * right after the grant (checked on the waiter thread); otherwise, or if that
   * could not be told, it is undefined.
   */
  wait (backend: number, exclusive: boolean, start: number | undefined, length: number | undefined,
    callback: (error: Error | null, acquired?: boolean, current?: boolean) => void, checkCurrent?: boolean): void
  /** Stops the wait in progress; returns once nothing waits and nothing granted in the race is held. */
  cancel (): boolean
  unlock (backend: number, start?: number, length?: number): void
  close (): void
  /** Whether the path still names this open, linked file. */
  isCurrent (): boolean
  readonly fd: number
}

export interface NativeBinding {
  LockHandle: new (path: string, noFollow: boolean, permissions: number) => NativeLockHandle
  backends: Record<BackendName, boolean>
  /** Whole-file fast path on POSIX: 1 locked, 0 busy, or -errno. Absent on Windows. */
  tryLockFd?: (fd: number, backend: number, exclusive: boolean) => number
  /** Whole-file fast path on POSIX: 0 or -errno. Absent on Windows. */
  unlockFd?: (fd: number, backend: number) => number
  /** Hash of the native sources the binary was built from (scripts/source-hash.js). */
  sourceHash: string
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => unknown

/** The package root: this file is dist/lib/native.js. */
export const packageRoot = join(__dirname, '..', '..')

export const native = load(packageRoot) as NativeBinding
