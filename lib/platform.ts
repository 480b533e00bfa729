// What this platform offers, for callers choosing a backend.
import { native, type BackendName } from './native'

/** The backends the addon supports here, e.g. `{ flock: true, ofd: true, posix: true, windows: false }`. */
export const backends: Readonly<Record<BackendName, boolean>> = Object.freeze({ ...native.backends })
