// `locksmith [options] FD`: lock (or with -u unlock) a descriptor inherited
// from the caller, as `flock(1)` does for `exec 9>file; flock -n 9`. The
// descriptor shares the shell's open file description, which is what flock
// and OFD locks belong to: the lock outlives this process and is the shell's
// until it unlocks (locksmith -u FD) or every copy of the descriptor closes.
import { performance } from 'node:perf_hooks'
import { resolveBackend } from '../backend'
import { fromNative } from '../errors'
import { LockFile } from '../lockfile'
import { BACKEND_IDS, native } from '../native'
import { EXIT, lockExitCode } from './exit-codes'
import { isInheritedDescriptor } from './inherited-fds'
import { PROGRAM, reason, warn } from './output'
import { lockOnce, seconds } from './run'
import type { FdOptions } from './run-args'

/** flock(fd, LOCK_UN), or an fcntl unlock of the range: whatever this open file description holds there. */
function unlockDescriptor (options: FdOptions): void {
  const id = native.adopt(options.fd, `fd ${options.fd}`)
  try {
    const backend = resolveBackend(options.backend, options.range)
    native.unlock(id, BACKEND_IDS[backend], options.range?.start, options.range?.length)
  } finally {
    native.close(id) // forgets it; an adopted descriptor is never closed
  }
}

export async function runFd (options: FdOptions): Promise<number> {
  const started = performance.now()
  if (!isInheritedDescriptor(options.fd)) {
    // As flock(1) on a descriptor its caller did not open (EX_DATAERR).
    warn(`${options.fd}: Bad file descriptor`)
    return EXIT.LOCK_FAILED
  }
  if (options.unlock) {
    try {
      unlockDescriptor(options)
    } catch (error) {
      warn(`${options.fd}: ${reason(fromNative(error))}`)
      return lockExitCode(fromNative(error))
    }
    if (options.verbose) process.stdout.write(`${PROGRAM}: getting lock took ${seconds(performance.now() - started)} seconds\n`)
    return 0
  }
  let file: LockFile
  try {
    // Borrowed: never closed here. Not closed at the end either, which for a
    // borrowed descriptor would give its locks back; the process just exits.
    file = LockFile.fromFd(options.fd, { backend: options.backend })
  } catch (error) {
    warn(`${options.fd}: ${reason(error)}`)
    return lockExitCode(error)
  }
  let got: 'locked' | 'conflict' | 'timeout'
  try {
    const deadline = options.timeout === undefined ? undefined : performance.now() + options.timeout
    got = await lockOnce(file, options, deadline)
  } catch (error) {
    warn(`${options.fd}: ${reason(error)}`)
    return lockExitCode(error)
  }
  if (got !== 'locked') {
    if (options.verbose) warn(got === 'conflict' ? 'failed to get lock' : 'timeout while waiting to get lock')
    return got === 'conflict' ? options.conflictExitCode : options.timeoutExitCode
  }
  if (options.verbose) process.stdout.write(`${PROGRAM}: getting lock took ${seconds(performance.now() - started)} seconds\n`)
  return 0
}
