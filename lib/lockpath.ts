// Where named locks live: the lock directory (explicit option, setDefaults,
// LOCKSMITH_LOCK_PATH, then a private per-user default) and the file name a
// lock name maps to (no escaping the directory, distinct names stay distinct).
import { chmodSync, lstatSync, mkdirSync, statSync, type Stats } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { basename, dirname, join, resolve, sep } from 'node:path'
import { invalidArgType, invalidArgValue, LockSystemError, UnsafeLockPathError } from './errors'

export const LOCK_PATH_ENV = 'LOCKSMITH_LOCK_PATH'

let configuredLockPath: string | undefined

/** Sets (or with undefined, clears) the lock directory used when a call names none. */
export function setDefaultLockPath (lockPath: string | undefined): void {
  configuredLockPath = lockPath === undefined ? undefined : checkDir(lockPath, 'lockPath')
}

/**
 * The lock directory a call would use: `explicit`, else setDefaults(), else
 * $LOCKSMITH_LOCK_PATH, else the per-user default. Creates nothing.
 */
export function effectiveLockPath (explicit?: string): string {
  if (explicit !== undefined) return resolve(checkDir(explicit, 'options.lockPath'))
  if (configuredLockPath !== undefined) return resolve(configuredLockPath)
  const env = process.env[LOCK_PATH_ENV]
  if (env !== undefined && env !== '') return resolve(env)
  return defaultLockPath()
}

/**
 * The per-user default: `$XDG_RUNTIME_DIR/locksmith` when XDG_RUNTIME_DIR names
 * an existing directory (it is private to the user by specification), else
 * `<os.tmpdir()>/locksmith-<uid>` (`locksmith-<user name>` on Windows).
 */
export function defaultLockPath (): string {
  const runtime = process.env.XDG_RUNTIME_DIR
  if (runtime !== undefined && runtime !== '' && isDirectory(runtime)) return join(resolve(runtime), 'locksmith')
  const uid = process.getuid?.()
  const owner = uid === undefined ? safeUserName() : String(uid)
  return join(tmpdir(), `locksmith-${owner}`)
}

/**
 * Makes sure the lock directory exists and returns it. Missing directories are
 * created with mode 0700. The default directory (in a shared temp directory)
 * is also checked: it must be a real directory owned by this user and not
 * writable by group or others, or UnsafeLockPathError (ERR_LOCK_PATH_UNSAFE)
 * is thrown, since whoever controls it controls every lock file in it.
 */
export function ensureLockPath (explicit?: string): string {
  try {
    return ensure(explicit)
  } catch (error) {
    // mkdir/lstat failures (EACCES, ENOTDIR...) come back shaped like every other system error here.
    if (typeof (error as NodeJS.ErrnoException).errno === 'number') throw new LockSystemError(error as NodeJS.ErrnoException)
    throw error
  }
}

function ensure (explicit: string | undefined): string {
  const dir = effectiveLockPath(explicit)
  const isDefault = explicit === undefined && configuredLockPath === undefined &&
    (process.env[LOCK_PATH_ENV] ?? '') === ''
  if (!isDefault) {
    // One stat in the common case (the directory is there); no exception thrown for it.
    if (statSync(dir, { throwIfNoEntry: false })?.isDirectory() !== true) mkdirSync(dir, { recursive: true, mode: 0o700 })
    return dir
  }
  let stats = lstatSync(dir, { throwIfNoEntry: false })
  if (stats === undefined) {
    try {
      mkdirSync(dir, { mode: 0o700 })
      chmodSync(dir, 0o700) // a umask may have taken bits off; never leave it wider either
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error // else made meanwhile: check it below
    }
    stats = lstatSync(dir)
  }
  checkPrivate(dir, stats)
  return dir
}

/** Refuses a directory another user could tamper with (POSIX; Windows temp dirs are per-user). */
export function checkPrivate (dir: string, stats: Stats = lstatSync(dir)): void {
  if (stats.isSymbolicLink()) throw new UnsafeLockPathError(dir, 'it is a symbolic link')
  if (!stats.isDirectory()) throw new UnsafeLockPathError(dir, 'it is not a directory')
  const uid = process.getuid?.()
  if (uid === undefined) return
  if (stats.uid !== uid) throw new UnsafeLockPathError(dir, `it belongs to uid ${stats.uid}, not to this user (uid ${uid})`)
  if ((stats.mode & 0o022) !== 0) {
    throw new UnsafeLockPathError(dir, `it is writable by ${(stats.mode & 0o002) !== 0 ? 'everyone' : 'its group'} (mode ${(stats.mode & 0o777).toString(8).padStart(4, '0')}); chmod 700 it or choose another lock path`)
  }
}

/** The longest file name (in UTF-8 bytes) used before hashing; NAME_MAX is 255 nearly everywhere. */
export const MAX_FILE_NAME_BYTES = 200

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\.|$)/i

/**
 * The file name of a lock name, with oslo's prefix rule: 'nova' and 'nova-'
 * both give 'nova-<name>'. Names made of letters, digits, '.', '_' and '-'
 * map to themselves (so a lock directory can be shared with oslo.concurrency
 * services). Anything else that could escape the directory or confuse a file
 * system ('/', '\', '%', control characters, Windows-reserved characters, a
 * whole name of '.' or '..') is %-encoded, which keeps distinct names distinct.
 * Names longer than MAX_FILE_NAME_BYTES keep their start, followed by '%%'
 * (which encoding never produces) and a hash of the whole name.
 */
export function lockFileName (name: string, prefix?: string, suffix = ''): string {
  if (typeof name !== 'string') throw invalidArgType('name', 'of type string', name)
  if (name.length === 0) throw invalidArgValue('name', name, 'must be a non-empty string')
  const full = normalizePrefix(prefix) + name
  // A lone surrogate has no UTF-8 form (it would become U+FFFD, so 'a\uD800'
  // and 'a\uDC00' would share a file): it is written as %uXXXX instead.
  const wellFormed = full.search(LONE_SURROGATE) < 0
  let encoded = full.replace(/[\x00-\x1f\x7f%/\\<>:"|?*]/g, percent)
  if (!wellFormed) encoded = encoded.replace(LONE_SURROGATE, (unit) => '%u' + unit.charCodeAt(0).toString(16).toUpperCase())
  if (encoded === '.' || encoded === '..') encoded = encoded.replace(/\./g, '%2E')
  if (process.platform === 'win32') {
    encoded = encoded.replace(WINDOWS_RESERVED, (match) => percent(match[0] as string) + match.slice(1))
      .replace(/[. ]$/, percent) // Windows drops trailing dots and spaces
  }
  const room = MAX_FILE_NAME_BYTES - Buffer.byteLength(suffix)
  if (Buffer.byteLength(encoded) <= room) return encoded + suffix
  // node:crypto is loaded only here: it would add milliseconds to every program's start.
  const { createHash } = require('node:crypto') as typeof import('node:crypto')
  const hash = createHash('sha256').update(wellFormed ? full : encoded).digest('hex').slice(0, 32)
  return truncateUtf8(encoded, room - 34).replace(/%(u[0-9A-F]{0,3}|[0-9A-F]?)$/, '') + '%%' + hash + suffix
}

/**
 * The file name oslo.concurrency's lockutils gives a name (`_get_lock_path`):
 * the path separator becomes '_' (so 'a/b' and 'a_b' share a file there), the
 * prefix rule is the one above, and nothing else is encoded or shortened. Named
 * locks use it with `compat: 'oslo'`, so that both sides open the very same
 * file. Names oslo would map outside the lock directory, or to no file at all,
 * are refused instead of being mapped differently.
 */
export function osloLockFileName (name: string, prefix?: string): string {
  if (typeof name !== 'string') throw invalidArgType('name', 'of type string', name)
  if (name.length === 0) throw invalidArgValue('name', name, 'must be a non-empty string')
  const file = normalizePrefix(prefix) + name.split(sep).join('_')
  if (file.includes('\0')) throw invalidArgValue('name', name, 'cannot hold a null byte in a file name')
  const separator = process.platform === 'win32' ? /[/\\]/ : /\//
  if (separator.test(file)) {
    const [what, value] = separator.test(normalizePrefix(prefix)) ? ['options.lockFilePrefix', prefix] : ['name', name]
    throw invalidArgValue(what, value, "contains a path separator: oslo.concurrency would put the lock file in a subdirectory (compat: 'oslo' keeps it in the lock directory)")
  }
  if (file === '.' || file === '..') throw invalidArgValue('name', name, "names a directory under oslo.concurrency's file naming, not a lock file")
  return file
}

/** The lock file of a name: always directly inside the lock directory. */
export function lockFilePath (name: string, options?: { prefix?: string, lockPath?: string, suffix?: string, compat?: 'oslo' }): string {
  const dir = ensureLockPath(options?.lockPath)
  const file = join(dir, fileNameOf(name, options))
  if (dirname(file) !== dir || basename(file) === '..') throw invalidArgValue('name', name, 'maps outside the lock directory') // unreachable by construction
  return file
}

/** Where a lock file would be, without creating the directory. */
export function lockFilePathOf (name: string, options?: { prefix?: string, lockPath?: string, suffix?: string, compat?: 'oslo' }): string {
  return join(effectiveLockPath(options?.lockPath), fileNameOf(name, options))
}

// `compat: 'oslo'` names files as oslo.concurrency does (no suffixes there).
function fileNameOf (name: string, options?: { prefix?: string, suffix?: string, compat?: 'oslo' }): string {
  return options?.compat === 'oslo' ? osloLockFileName(name, options.prefix) : lockFileName(name, options?.prefix, options?.suffix)
}

/** oslo's rule: a non-empty prefix gets a '-' unless it already ends with one. */
export function normalizePrefix (prefix: string | undefined): string {
  if (prefix === undefined || prefix === '') return ''
  if (typeof prefix !== 'string') throw invalidArgType('prefix', 'of type string', prefix)
  return prefix.endsWith('-') ? prefix : prefix + '-'
}

function percent (char: string): string {
  return '%' + char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')
}

function truncateUtf8 (text: string, bytes: number): string {
  let out = ''
  let used = 0
  for (const char of text) {
    const size = Buffer.byteLength(char)
    if (used + size > bytes) break
    out += char
    used += size
  }
  return out
}

function checkDir (dir: unknown, name: string): string {
  if (typeof dir !== 'string') throw invalidArgType(name, 'of type string', dir)
  if (dir.length === 0 || dir.includes('\0')) throw invalidArgValue(name, dir, 'must be a non-empty string without null bytes')
  return dir
}

function isDirectory (path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

function safeUserName (): string {
  try {
    return userInfo().username.replace(/[^\w.-]/g, '_') || 'user'
  } catch {
    return 'user'
  }
}
