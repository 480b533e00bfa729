// The one place that loads the addon. Everything else imports `native` from here.
import { join } from 'node:path'

/** Numeric backend ids as the addon knows them (src/lock.h `Backend`). */
export const BACKEND_IDS = { flock: 0, ofd: 1, posix: 2, windows: 3 } as const
export type BackendName = keyof typeof BACKEND_IDS

/**
 * The addon. Open lock files live in a per-environment table and are addressed
 * by an id (never reused): close(id) frees an entry at once, so no per-file
 * native object waits for the garbage collector. Unknown or closed ids are EBADF.
 */
export interface NativeBinding {
  /** Opens (creating if missing, never truncating, close-on-exec); throws a full system error. */
  open (path: string, noFollow: boolean, permissions: number): number
  /** true if locked, false if busy; throws for anything else. */
  tryLock (id: number, backend: number, exclusive: boolean, start?: number, length?: number): boolean
  /** Blocks the calling thread; timeoutMs < 0 waits forever. false when the time ran out. */
  lockSync (id: number, backend: number, exclusive: boolean, start: number | undefined, length: number | undefined, timeoutMs: number): boolean
  /**
   * Waits on a native thread of its own; the callback runs on this thread.
   * Until then the wait keeps the event loop alive and holds the callback.
   * With checkCurrent, `current` tells whether the path still named the file
   * right after the grant (checked on the waiter thread); otherwise, or if that
   * could not be told, it is undefined.
   */
  wait (id: number, backend: number, exclusive: boolean, start: number | undefined, length: number | undefined,
    callback: (error: Error | null, acquired?: boolean, current?: boolean) => void, checkCurrent?: boolean): void
  /** Stops the wait in progress; returns once nothing waits and nothing granted in the race is held. */
  cancel (id: number): boolean
  unlock (id: number, backend: number, start?: number, length?: number): void
  /** Cancels any wait, closes the file and frees its entry. */
  close (id: number): void
  /** Whether the path still names this open, linked file. */
  isCurrent (id: number): boolean
  /** The descriptor; -1 on Windows. */
  fd (id: number): number
  /** Opened read-only because read-write access was refused (EACCES, EROFS, a directory). */
  readOnly (id: number): boolean
  /** Entries in this environment's table (for leak checks). */
  openCount (): number
  /** Whole-file fast path: 1 locked, 0 busy, or -errno (never throws). */
  tryLockWhole (id: number, backend: number, exclusive: boolean): number
  /** Whole-file fast path: 0 or -errno (never throws). */
  unlockWhole (id: number, backend: number): number
  backends: Record<BackendName, boolean>
  /** Hash of the native sources the binary was built from (scripts/source-hash.js). */
  sourceHash: string
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => unknown

/** The package root: this file is dist/lib/native.js. */
export const packageRoot = join(__dirname, '..', '..')

export const native = load(packageRoot) as NativeBinding
