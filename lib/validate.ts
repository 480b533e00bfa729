// Argument checks shared by every public entry point. Bad input fails here,
// before any descriptor is opened, with a Node-style code. Pure checks: this
// module loads no native code (the CLI parses its arguments with it first).
import { fileURLToPath } from 'node:url'
import { invalidArgType, invalidArgValue, outOfRange } from './errors'
import type { BackendName } from './native'

export type Backend = 'auto' | BackendName
export type LockMode = 'exclusive' | 'shared'

/** A byte range. `length: 0` means from `start` to the end of the file and beyond. */
export interface ByteRange {
  start: number
  length: number
}

/** Every backend name there is; which of them this platform has is lib/backend.ts's business. */
export const BACKENDS: readonly Backend[] = ['auto', 'flock', 'ofd', 'posix', 'windows']

export function validatePath (path: unknown, name = 'path'): string {
  if (path instanceof URL) path = fileURLToPath(path)
  if (typeof path !== 'string') throw invalidArgType(name, 'of type string or an instance of URL', path)
  if (path.length === 0) throw invalidArgValue(name, path, 'must be a non-empty string')
  if (path.includes('\0')) throw invalidArgValue(name, path, 'must be a string without null bytes')
  return path
}

export function validateMode (mode: unknown, name = 'mode'): LockMode {
  if (mode === undefined) return 'exclusive'
  if (mode !== 'exclusive' && mode !== 'shared') {
    throw invalidArgValue(name, mode, "must be 'exclusive' or 'shared'")
  }
  return mode
}

/** A backend name (whether this platform has it is checked by lib/backend.ts validateBackend). */
export function validateBackendName (backend: unknown, name = 'backend'): Backend {
  if (backend === undefined) return 'auto'
  if (typeof backend !== 'string' || !(BACKENDS as readonly string[]).includes(backend)) {
    throw invalidArgValue(name, backend, `must be one of ${BACKENDS.map((b) => `'${b}'`).join(', ')}`)
  }
  return backend as Backend
}

export function validateRange (range: unknown, name = 'range'): ByteRange | undefined {
  if (range === undefined) return undefined
  if (range === null || typeof range !== 'object') throw invalidArgType(name, 'an object like { start, length }', range)
  const { start, length } = range as Record<string, unknown>
  validateOffset(start, `${name}.start`)
  validateOffset(length, `${name}.length`)
  if ((start as number) + (length as number) > Number.MAX_SAFE_INTEGER) {
    throw outOfRange(`${name}.start + ${name}.length`, `<= ${Number.MAX_SAFE_INTEGER}`, (start as number) + (length as number))
  }
  return { start: start as number, length: length as number }
}

function validateOffset (value: unknown, name: string): void {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (!Number.isSafeInteger(value) || value < 0) {
    throw outOfRange(name, `an integer >= 0 and <= ${Number.MAX_SAFE_INTEGER}`, value)
  }
}

/** A wait limit in milliseconds: undefined = forever. */
export function validateTimeout (timeout: unknown, name = 'timeout'): number | undefined {
  if (timeout === undefined || timeout === Infinity) return undefined
  if (typeof timeout !== 'number') throw invalidArgType(name, 'of type number', timeout)
  if (Number.isNaN(timeout) || timeout < 0 || timeout > 2 ** 31 - 1) {
    throw outOfRange(name, `>= 0 and <= ${2 ** 31 - 1} (or Infinity)`, timeout)
  }
  return timeout
}

/**
 * Only a real AbortSignal: its listeners and `reason` cannot throw into the
 * lock machinery, which a look-alike object could (leaving a lock held).
 */
export function validateSignal (signal: unknown, name = 'signal'): AbortSignal | undefined {
  if (signal === undefined) return undefined
  if (!(signal instanceof AbortSignal)) throw invalidArgType(name, 'an instance of AbortSignal', signal)
  return signal
}

export function validatePermissions (permissions: unknown, name = 'permissions'): number {
  if (permissions === undefined) return 0o644
  if (typeof permissions !== 'number' || !Number.isInteger(permissions)) {
    throw invalidArgType(name, 'an integer', permissions)
  }
  // No setuid, setgid or sticky bits: a lock file is never a program or a shared directory.
  if (permissions < 0 || permissions > 0o777) throw outOfRange(name, '>= 0 and <= 0o777 (no setuid, setgid or sticky bits)', permissions)
  return permissions
}

export function validateBoolean (value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value)
  return value
}

export function validateObject<T> (value: unknown, name: string): Partial<T> {
  if (value === undefined) return {}
  if (value === null || typeof value !== 'object') throw invalidArgType(name, 'of type object', value)
  return value as Partial<T>
}


/**
 * Refuses keys of an options object that name no option: a misspelt or
 * misplaced option that is silently ignored changes what a lock does (waits
 * for ever, takes the wrong mode). `hints` maps known wrong words to the right one.
 */
export function refuseUnknownKeys (opts: object, known: readonly string[], name: string, hints: Readonly<Record<string, string>> = {}): void {
  for (const key of Object.keys(opts)) {
    if (known.includes(key)) continue
    const hint = hints[key] ?? closest(key, known)
    throw invalidArgValue(`${name}.${key}`, (opts as Record<string, unknown>)[key],
      `is not an option${hint === undefined ? '' : ` (did you mean '${hint}'?)`}`)
  }
}

/** The known word a typo most likely meant: same letters ignoring case and '_', or at most two edits away. */
function closest (key: string, known: readonly string[]): string | undefined {
  const plain = (word: string): string => word.replace(/_/g, '').toLowerCase()
  const exact = known.find((word) => plain(word) === plain(key))
  if (exact !== undefined) return exact
  let best: string | undefined
  let bestDistance = 3
  for (const word of known) {
    const distance = editDistance(plain(key), plain(word))
    if (distance < bestDistance) {
      best = word
      bestDistance = distance
    }
  }
  return best
}

function editDistance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((previous[j] as number) + 1, (row[j - 1] as number) + 1, (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = row
  }
  return previous[b.length] as number
}

const warnedRenames = new Set<string>()

/**
 * An option given under its current name, or under its old one (still
 * accepted for now, with a one-time DeprecationWarning). Both at once is refused.
 */
export function renamedOption (opts: object, current: string, old: string, name: string): unknown {
  const values = opts as Record<string, unknown>
  if (values[old] === undefined) return values[current]
  if (values[current] !== undefined) {
    throw invalidArgValue(`${name}.${old}`, values[old], `is the old name of ${name}.${current}; give only '${current}'`)
  }
  if (!warnedRenames.has(`${current}/${old}`)) {
    warnedRenames.add(`${current}/${old}`)
    process.emitWarning(`The '${old}' option is deprecated here: it is now called '${current}'`, { type: 'DeprecationWarning', code: 'LOCKSMITH_DEP_OPTION' })
  }
  return values[old]
}
