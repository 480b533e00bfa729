// The one place that loads the addon. Everything else imports `native` from here.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { LockError } from './errors'

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
  /**
   * A descriptor the program opened, entered in the table without taking it
   * over: close(id) forgets it and never closes it. `label` stands for the path
   * in error messages. Throws EBADF (syscall fstat) if it is not open.
   */
  adopt (fd: number, label: string): number
  /** true if locked, false if busy; throws for anything else. */
  tryLock (id: number, backend: number, exclusive: boolean, start?: number, length?: number): boolean
  /** Blocks the calling thread; timeoutMs < 0 waits forever. false when the time ran out. */
  lockSync (id: number, backend: number, exclusive: boolean, start: number | undefined, length: number | undefined, timeoutMs: number): boolean
  /**
   * Waits on a native thread of its own; the callback runs on this thread.
   * Until then the wait keeps the event loop alive and holds the callback.
   * With checkCurrent, `current` tells whether the path still named the file
   * right after the grant (checked on the waiter thread); otherwise, or if that
   * could not be told, it is undefined. With tryFirst the thread attempts the
   * lock once without blocking before it waits, and `waited` tells whether
   * someone else had it then; without, `waited` is true (the caller has just
   * found the lock busy).
   */
  wait (id: number, backend: number, exclusive: boolean, start: number | undefined, length: number | undefined,
    callback: (error: Error | null, acquired?: boolean, current?: boolean, waited?: boolean) => void, checkCurrent?: boolean,
    tryFirst?: boolean): void
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
  /**
   * A Lock's uncontended acquire in one call: opens, tries the whole-file lock
   * and checks that the path still names the locked file (reopening a replaced
   * one). id > 0 locked; -id busy (left open, to wait on); 0 anything else,
   * nothing left open (repeat the full way, which throws in full). Never throws.
   */
  openLockCheck (path: string, noFollow: boolean, permissions: number, backend: number, exclusive: boolean): number
  /**
   * Gives the whole-file lock back, closes the file and frees its entry (throws a
   * system error if either call failed). Where closing releases the lock (not
   * Windows) it only closes, unless `unlockFirst`: unlocking wakes a waiter sooner.
   */
  unlockClose (id: number, backend: number, unlockFirst: boolean): void
  /** When a whole-file lock in that mode was last granted on this descriptor, by any call (ms since the epoch), or -1. */
  grantedSince (fd: number, backend: number, exclusive: boolean): number
  backends: Record<BackendName, boolean>
  /** Hash of the native sources the binary was built from (scripts/source-hash.js). */
  sourceHash: string
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeGypBuild = require('node-gyp-build') as { resolve: (dir: string) => string }

/** The package root: this file is dist/lib/native.js. */
export const packageRoot = join(__dirname, '..', '..')

/** What node-gyp-build looks for: platform, arch and (Linux) C library, which it tells by /etc/alpine-release or LIBC. */
function binaryTarget (): { platform: string, arch: string, libc: string | undefined } {
  const platform = process.env.npm_config_platform || process.platform
  const arch = process.env.npm_config_arch || process.arch
  const libc = platform !== 'linux' ? undefined : process.env.LIBC || (existsSync('/etc/alpine-release') ? 'musl' : 'glibc')
  return { platform, arch, libc }
}

const BUILD_HINT = 'To build it from source (needs Python 3, make and a C++17 compiler), allow the package\'s ' +
  'install script and rebuild: `npm approve-scripts node-locksmith && npm rebuild node-locksmith` ' +
  '(npm 11 runs no install script of a dependency until it is approved; older npm: `npm rebuild node-locksmith`).'

/**
 * ERR_LOCKSMITH_NO_BINARY: no binary fits this platform (no file for it, or the file
 * would not load). Thrown on first use of the addon, not at import, so the CLI's
 * `status` and a Coordinator on Redis or PostgreSQL work without it.
 */
function noBinaryError (cause: unknown, file: string | undefined): LockError {
  const { platform, arch, libc } = binaryTarget()
  const target = `platform=${platform} arch=${arch}${libc === undefined ? '' : ` libc=${libc}`}`
  const where = file === undefined
    ? `No native binary of node-locksmith fits ${target} (Node ${process.versions.node}, Node-API): ` +
      `looked in ${join(packageRoot, 'build', 'Release')} and ${join(packageRoot, 'prebuilds', `${platform}-${arch}`)}.`
    : `The native binary of node-locksmith for ${target} (Node ${process.versions.node}) did not load: ${file}: ` +
      `${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}.`
  const error = new LockError('ERR_LOCKSMITH_NO_BINARY', `${where} ${BUILD_HINT}`)
  Object.defineProperty(error, 'cause', { value: cause, configurable: true, writable: true })
  return error
}

/**
 * Stands in for the addon when none loaded. `backends` says what the platform
 * offers (so a backend option is still checked as usual); any other use throws
 * ERR_LOCKSMITH_NO_BINARY, with the load failure as its cause.
 */
function missingBinding (error: LockError): NativeBinding {
  const platform = process.platform
  const backends: Record<BackendName, boolean> = {
    flock: platform !== 'win32', ofd: platform === 'linux', posix: platform !== 'win32', windows: platform === 'win32'
  }
  return new Proxy({} as NativeBinding, {
    get (_target, key) {
      if (key === 'backends') return backends
      if (key === 'loadError') return error
      if (typeof key === 'symbol' || key === 'then') return undefined
      const thrown = new LockError(error.code, error.message)
      Object.defineProperty(thrown, 'cause', { value: (error as { cause?: unknown }).cause, configurable: true, writable: true })
      throw thrown
    }
  })
}

function loadNative (): NativeBinding {
  let file: string | undefined
  try {
    file = nodeGypBuild.resolve(packageRoot)
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file) as NativeBinding
  } catch (error) {
    return missingBinding(noBinaryError(error, file))
  }
}

/** The addon, or a stand-in whose every call throws ERR_LOCKSMITH_NO_BINARY. */
export const native: NativeBinding = loadNative()

/** Why the addon did not load (undefined when it did). */
export const nativeLoadError: LockError | undefined = (native as { loadError?: LockError }).loadError
