// Who holds or waits for a lock on a file: holders(), and the cheap one-line
// description LockBusyError and LockTimeoutError carry. Linux reads the
// kernel's lock table (/proc/locks) and /proc/<pid>; nothing here opens the
// file, so asking can never take, convert or drop a lock (closing any
// descriptor of a file drops the process's classic POSIX locks on it).
import { fstatSync, readFileSync, statSync, type BigIntStats } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { fromNative, invalidArgType, LockError, typedCall, type LockBusyError, type LockTimeoutError } from './errors'
import { collectLocks, type LockStatus } from './lock-table'
import { parseProcLocks, splitDevice } from './proc-locks'
import { resolveBackend, validateBackend } from './backend'
import { refuseUnknownKeys, validateMode, validateObject, validatePath, validateRange } from './validate'

export type HolderKind = 'flock' | 'ofd' | 'posix'

/** One process among those that share a lock (a descriptor inherited across fork shares its lock). */
export interface HolderProcess {
  pid: number
  /** Its descriptor on the file, when visible. */
  fd: number | null
  /** The waiting thread, for an OFD waiter found through the system call it is blocked in. */
  tid?: number
  /** Its command line; empty when it cannot be read. */
  args: string[]
}

/** A lock on a file, held or waited for. */
export interface Holder {
  /** The kind of lock: flock(2), open-file-description (OFD) fcntl lock, or classic POSIX fcntl/lockf lock. */
  kind: HolderKind
  mode: 'exclusive' | 'shared'
  /** First byte. */
  start: number
  /** Number of bytes; 0 means to the end of the file and beyond (flock locks: always 0 from 0). */
  length: number
  /** true for a process blocked waiting for this lock, false for a holder. */
  waiting: boolean
  /**
   * The process: the one the kernel names if it still has the file open, else
   * the lowest pid among those sharing the lock; null when none can be seen
   * (an OFD lock of another user's process, without root).
   */
  pid: number | null
  /** Its command line, arguments joined by spaces; '' when unknown. */
  command: string
  /** The same, as arguments; empty when unknown. */
  args: string[]
  /** Every process that shares the lock (flock(1) and the command it runs, say). */
  processes: HolderProcess[]
  /** When it was granted: known for locks this process took through locksmith, otherwise absent. */
  since?: Date
}

/** What holders() can be asked about: a path, or a descriptor (number or FileHandle) already open. */
export type HolderTarget = string | URL | number | FileHandle

const KINDS = new Set<string>(['flock', 'ofd', 'posix'])
const KIND_NAMES: Record<string, HolderKind> = { FLOCK: 'flock', OFDLCK: 'ofd', POSIX: 'posix' }

/** Own locks' grant times, by descriptor: lib/lockfile.ts answers from its LockFiles' ranges and the addon's notes of whole-file grants. */
export type SinceLookup = (fd: number, kind: HolderKind, exclusive: boolean, start: number, length: number) => number | undefined
let sinceLookup: SinceLookup | undefined
export function setSinceLookup (lookup: SinceLookup): void { sinceLookup = lookup }

function unsupported (what: string): LockError {
  return new LockError('ERR_LOCK_BACKEND_UNSUPPORTED', `${what} needs the Linux lock table (/proc/locks), which ${process.platform} does not have`)
}

/** The file's identity, or undefined when the path names nothing. Throws typed errors for bad input. */
/** A FileHandle of node:fs/promises (its class is not exported as a value). */
export function isFileHandle (value: unknown): value is FileHandle {
  return value !== null && typeof value === 'object' && value.constructor?.name === 'FileHandle' && typeof (value as FileHandle).fd === 'number'
}

function identify (target: HolderTarget, name: string): { path: string, st: BigIntStats } | undefined {
  if (isFileHandle(target)) {
    if (target.fd < 0) throw new LockError('EBADF', 'The FileHandle is closed')
    target = target.fd
  }
  if (typeof target === 'number') {
    if (!Number.isInteger(target) || target < 0) throw invalidArgType(name, 'a path, a file descriptor (integer >= 0) or a FileHandle', target)
    return { path: `fd ${target}`, st: typedCall(() => fstatSync(target, { bigint: true })) }
  }
  if (typeof target !== 'string' && !(target instanceof URL)) {
    throw invalidArgType(name, 'a path, a file descriptor (integer >= 0) or a FileHandle', target)
  }
  const path = validatePath(target, name)
  try {
    return { path, st: statSync(path, { bigint: true }) }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined // no file, no locks
    throw fromNative(error)
  }
}

function toHolder (lock: LockStatus): Holder {
  const processes: HolderProcess[] = lock.processes.map((p) => {
    const entry: HolderProcess = { pid: p.pid, fd: p.fd, args: p.args }
    if (p.tid !== undefined) entry.tid = p.tid
    return entry
  })
  const named = processes.find((p) => p.pid === lock.pid && p.fd !== null)
  const primary = named ?? [...processes].sort((a, b) => a.pid - b.pid)[0]
  const args = primary?.args ?? []
  const holder: Holder = {
    kind: lock.kind as HolderKind,
    mode: lock.mode as 'exclusive' | 'shared',
    start: lock.range.start,
    length: lock.range.length,
    waiting: lock.state === 'waiting',
    pid: primary?.pid ?? lock.pid,
    command: args.join(' '),
    args,
    processes
  }
  if (!holder.waiting && sinceLookup !== undefined) {
    for (const p of processes) {
      if (p.pid !== process.pid || p.fd === null) continue
      const since = sinceLookup(p.fd, holder.kind, holder.mode === 'exclusive', holder.start, holder.length)
      if (since !== undefined) {
        holder.since = new Date(since)
        break
      }
    }
  }
  return holder
}

/**
 * Who holds or waits for a lock on this file: flock, OFD and classic POSIX
 * locks of every process this user may inspect (all of them as root), in the
 * kernel's order (each lock followed by its waiters). Synchronous on Linux.
 * A path that names no file has no locks ([]). Elsewhere it throws
 * ERR_LOCK_BACKEND_UNSUPPORTED (see the README for what other kernels tell).
 */
export function holders (target: HolderTarget): Holder[] {
  const file = identify(target, 'target')
  if (process.platform !== 'linux') throw unsupported('holders()')
  if (file === undefined) return []
  const text = readProcLocks()
  const locks = collectLocks(text, [{ path: file.path, dev: file.st.dev, ino: file.st.ino }])
  return locks.filter((lock) => KINDS.has(lock.kind)).map(toHolder)
}

function readProcLocks (): string {
  return typedCall(() => readFileSync('/proc/locks', 'utf8'))
}

export interface IsLockedOptions {
  /** The lock you would ask for: 'exclusive' (default) conflicts with any holder, 'shared' with exclusive ones. */
  mode?: 'exclusive' | 'shared'
  /** The kind of lock to look for, as Lock's `backend`: 'auto' (default) is flock for a whole file, ofd for a range. */
  backend?: 'auto' | 'flock' | 'ofd' | 'posix'
  /** Bytes to look at (`length: 0` = to the end); not with flock. */
  range?: { start: number, length: number }
}

const IS_LOCKED_KEYS = ['mode', 'backend', 'range'] as const
const IS_LOCKED_HINTS = { shared: 'mode', exclusive: 'mode', type: 'mode', kind: 'backend', start: 'range', length: 'range' }

/** Internal: the conflicting locks a request would meet, from the text of /proc/locks. */
export function conflicts (text: string, st: BigIntStats, kind: 'flock' | 'fcntl', exclusive: boolean, start: number, length: number): Array<{ kind: HolderKind, exclusive: boolean, pid: number }> {
  const { major, minor } = splitDevice(st.dev)
  const end = length === 0 ? Infinity : start + length - 1
  const found: Array<{ kind: HolderKind, exclusive: boolean, pid: number }> = []
  for (const line of parseProcLocks(text)) {
    if (line.waiting || line.inode !== st.ino || line.major !== major || line.minor !== minor) continue
    const lineKind = KIND_NAMES[line.kind]
    if (lineKind === undefined || (kind === 'flock') !== (lineKind === 'flock')) continue
    const lineExclusive = line.type === 'WRITE'
    if (!exclusive && !lineExclusive) continue
    const lineEnd = line.end ?? Infinity
    if (kind === 'fcntl' && (line.start > end || lineEnd < start)) continue
    found.push({ kind: lineKind, exclusive: lineExclusive, pid: line.pid })
  }
  return found
}

/**
 * Whether a lock of `mode` on the file would have to wait right now: true if
 * a conflicting lock of the same family (flock, or fcntl: ofd and posix) is
 * held on an overlapping range, by any process, this one included. Never
 * opens the file, so it can neither take a lock nor drop one of this
 * process's own. A path that names no file is not locked (false).
 * Linux only (the lock table); elsewhere ERR_LOCK_BACKEND_UNSUPPORTED.
 */
export function isLocked (target: HolderTarget, options?: IsLockedOptions): boolean {
  const opts = validateObject<IsLockedOptions>(options, 'options')
  refuseUnknownKeys(opts, IS_LOCKED_KEYS, 'options', IS_LOCKED_HINTS)
  const exclusive = validateMode(opts.mode, 'options.mode') === 'exclusive'
  const backend = validateBackend(opts.backend, 'options.backend')
  if (backend === 'windows') throw unsupported("isLocked() with backend 'windows'")
  const range = validateRange(opts.range, 'options.range')
  const resolved = resolveBackend(backend, range)
  const file = identify(target, 'target')
  if (process.platform !== 'linux') throw unsupported('isLocked()')
  if (file === undefined) return false
  return conflicts(readProcLocks(), file.st, resolved === 'flock' ? 'flock' : 'fcntl', exclusive, range?.start ?? 0, range?.length ?? 0).length > 0
}

/**
 * Adds who holds the lock to a busy or timeout error (message, heldBy,
 * holderPids), when that can be told cheaply. Called on the error path only.
 */
export function withHolders<E extends LockBusyError | LockTimeoutError> (error: E, lock: { path: string, backend: string, mode: string, range?: { start: number, length: number } | undefined }, range = lock.range): E {
  const held = describeHolders(lock.path, lock.backend as 'auto', lock.mode !== 'shared', range)
  if (held === undefined) return error
  const header = `${error.name}: ${error.message}`
  error.message += ` (held by ${held.text})`
  error.heldBy = held.text
  error.holderPids = held.pids
  // The stack was formatted with the old message: keep its frames, show the new one.
  if (typeof error.stack === 'string' && error.stack.startsWith(header)) error.stack = `${error.name}: ${error.message}${error.stack.slice(header.length)}`
  return error
}

/**
 * A short description of who holds the lock on `path`, for an error message
 * or a log line, from /proc/locks alone (no scan of other processes'
 * descriptors): `pid 4242 (flock /tmp/x sleep 9)`. undefined when it cannot
 * be told cheaply (not Linux, OFD locks, which carry no pid, nothing found).
 */
export function describeHolders (path: string, kind: 'flock' | 'ofd' | 'posix' | 'windows' | 'auto', exclusive: boolean, range?: { start: number, length: number }): { text: string, pids: number[] } | undefined {
  if (process.platform !== 'linux' || kind === 'windows') return undefined
  try {
    const st = statSync(path, { bigint: true })
    const family = kind === 'flock' || (kind === 'auto' && range === undefined) ? 'flock' : 'fcntl'
    const found = conflicts(readFileSync('/proc/locks', 'utf8'), st, family, exclusive, range?.start ?? 0, range?.length ?? 0)
    if (found.length === 0) return undefined
    const pids = [...new Set(found.map((f) => f.pid).filter((pid) => pid > 0))]
    const parts = pids.slice(0, 3).map((pid) => {
      const own = pid === process.pid ? ', this process' : ''
      let command = ''
      try { command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0$/, '').split('\0').join(' ') } catch {}
      if (command.length > 80) command = command.slice(0, 79) + '…'
      return `pid ${pid}${command === '' ? own === '' ? '' : ` (${own.slice(2)})` : ` (${command}${own})`}`
    })
    if (pids.length > 3) parts.push(`${pids.length - 3} more`)
    const anonymous = found.filter((f) => f.pid <= 0).length
    if (anonymous > 0) parts.push(`${anonymous === 1 ? 'an' : anonymous} OFD lock${anonymous === 1 ? '' : 's'} (no pid in /proc/locks)`)
    return { text: parts.join(', '), pids }
  } catch {
    return undefined
  }
}
