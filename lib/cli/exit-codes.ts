// Exit codes. Where util-linux flock(1) defines one, locksmith uses the same
// (sysexits.h values), so scripts written for flock(1) keep working.
import { LockError } from '../errors'

export const EXIT = {
  OK: 0,
  /** Default for a conflict (-n) and a timeout (-w), as flock(1); -E changes it. */
  CONFLICT: 1,
  /** EX_USAGE: bad options or arguments. */
  USAGE: 64,
  /** EX_DATAERR: the lock call failed with an unexpected error. */
  LOCK_FAILED: 65,
  /** EX_NOINPUT: the lock file could not be opened (or a status file examined). */
  NO_INPUT: 66,
  /** EX_UNAVAILABLE: the command could not be executed; `status` where /proc/locks is missing. */
  UNAVAILABLE: 69,
  /** EX_SOFTWARE: a bug in locksmith. */
  SOFTWARE: 70,
  /** EX_OSERR: out of descriptors, memory or kernel lock records. */
  OS_ERROR: 71,
  /** EX_CANTCREAT: the lock file could not be created (read-only file system, no space). */
  CANT_CREATE: 73
} as const

const OUT_OF_RESOURCES = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'ENOLCK', 'EAGAIN'])

function codeOf (error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** Opening the lock file failed: flock(1)'s open_file() mapping. */
export function openExitCode (error: unknown): number {
  const code = codeOf(error)
  if (code === 'ERR_LOCK_BACKEND_UNSUPPORTED') return EXIT.USAGE
  if (code === 'EMFILE' || code === 'ENFILE' || code === 'ENOMEM') return EXIT.OS_ERROR
  if (code === 'EROFS' || code === 'ENOSPC') return EXIT.CANT_CREATE
  return error instanceof LockError ? EXIT.NO_INPUT : EXIT.SOFTWARE
}

/** The lock call itself failed (not a conflict): flock(1) exits EX_OSERR for ENOLCK/ENOMEM, else EX_DATAERR. */
export function lockExitCode (error: unknown): number {
  const code = codeOf(error)
  if (code === 'ENOLCK' || code === 'ENOMEM') return EXIT.OS_ERROR
  return error instanceof LockError ? EXIT.LOCK_FAILED : EXIT.SOFTWARE
}

/** The command could not be started: flock(1) exits EX_OSERR for ENOMEM, else EX_UNAVAILABLE. */
export function spawnExitCode (error: unknown): number {
  const code = codeOf(error)
  return code !== undefined && OUT_OF_RESOURCES.has(code) ? EXIT.OS_ERROR : EXIT.UNAVAILABLE
}
