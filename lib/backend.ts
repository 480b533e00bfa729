// Which lock backends this platform has, and which one a request runs on.
// Unlike lib/validate.ts this needs the addon (it asks what was compiled in).
import { invalidArgValue, LockError } from './errors'
import { native, type BackendName } from './native'
import { validateBackendName, type Backend, type ByteRange } from './validate'

/** The backends the addon supports here, e.g. `{ flock: true, ofd: true, posix: true, windows: false }`. */
export const backends: Readonly<Record<BackendName, boolean>> = Object.freeze({ ...native.backends })

/** A backend name this platform has ('auto' always). */
export function validateBackend (backend: unknown, name = 'backend'): Backend {
  const chosen = validateBackendName(backend, name)
  if (chosen !== 'auto' && !native.backends[chosen]) {
    throw new LockError('ERR_LOCK_BACKEND_UNSUPPORTED', `The '${chosen}' lock backend is not available on ${process.platform}`)
  }
  return chosen
}

/**
 * The lock kind that excludes Python's fcntl.lockf locks (fasteners'
 * InterProcessLock, which oslo.concurrency and tooz's file driver use): OFD
 * locks where the system has them (they conflict with classic POSIX locks and
 * keep per-descriptor semantics), else classic POSIX locks; 'auto' on Windows.
 */
export function lockfPeerBackend (): Backend {
  if (process.platform === 'win32') return 'auto'
  return native.backends.ofd ? 'ofd' : 'posix'
}

/** The backend that actually runs: `auto` is flock for whole files, OFD (else POSIX) for ranges. */
export function resolveBackend (backend: Backend, range: ByteRange | undefined): BackendName {
  if (backend !== 'auto') {
    if (backend === 'flock' && range !== undefined) {
      throw invalidArgValue('range', range, "is not supported by the 'flock' backend, which locks whole files")
    }
    return backend
  }
  if (process.platform === 'win32') return 'windows'
  if (range === undefined) return 'flock'
  return native.backends.ofd ? 'ofd' : 'posix'
}
