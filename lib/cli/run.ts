// `locksmith [options] <file> <command>`: take the lock, run the command, give
// the lock back when it ends, exit with its status.
import { performance } from 'node:perf_hooks'
import { LockTimeoutError } from '../errors'
import { LockFile } from '../lockfile'
import { resolveBackend } from '../backend'
import { runChild } from './child'
import { lockExitCode, openExitCode, spawnExitCode } from './exit-codes'
import { inheritedDescriptors } from './inherited-fds'
import { PROGRAM, reason, warn } from './output'
import type { RunOptions } from './run-args'

/** The longest single wait setTimeout allows; longer -w values wait in rounds. */
const MAX_ROUND = 2 ** 31 - 1

type Outcome = { file: LockFile } | { failed: 'conflict' | 'timeout' } | { exit: number }

function open (options: RunOptions): LockFile | { exit: number } {
  try {
    return LockFile.open(options.file, { backend: options.backend, permissions: options.permissions })
  } catch (error) {
    warn(`cannot open lock file ${options.file}: ${reason(error)}`)
    return { exit: openExitCode(error) }
  }
}

export async function lockOnce (file: LockFile, options: Pick<RunOptions, 'mode' | 'range' | 'nonblock'>, deadline: number | undefined): Promise<'locked' | 'conflict' | 'timeout'> {
  const request = { mode: options.mode, range: options.range }
  if (options.nonblock) return file.tryLock(request) ? 'locked' : 'conflict'
  for (;;) {
    const remaining = deadline === undefined ? undefined : deadline - performance.now()
    if (remaining !== undefined && remaining <= 0) return 'timeout'
    try {
      await file.lock({ ...request, timeout: remaining === undefined ? undefined : Math.min(remaining, MAX_ROUND) })
      return 'locked'
    } catch (error) {
      if (!(error instanceof LockTimeoutError)) throw error
    }
  }
}

/** Locks the file the path names when the lock is granted (retrying if it was replaced meanwhile). */
async function acquire (options: RunOptions): Promise<Outcome> {
  const deadline = options.timeout === undefined ? undefined : performance.now() + options.timeout
  for (;;) {
    const file = open(options)
    if (!(file instanceof LockFile)) return file
    let got: 'locked' | 'conflict' | 'timeout'
    try {
      got = await lockOnce(file, options, deadline)
      if (got === 'locked' && !file.isCurrent()) {
        file.close()
        continue
      }
    } catch (error) {
      warn(`${options.file}: ${reason(error)}`)
      file.close()
      return { exit: lockExitCode(error) }
    }
    if (got === 'locked') return { file }
    file.close()
    return { failed: got }
  }
}

export function seconds (ms: number): string {
  const micros = Math.max(0, Math.round(ms * 1000))
  return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`
}

export async function run (options: RunOptions): Promise<number> {
  const inherited = inheritedDescriptors() // before this process opens anything of its own
  const started = performance.now()
  const outcome = await acquire(options)
  if ('exit' in outcome) return outcome.exit
  if ('failed' in outcome) {
    if (options.verbose) warn(outcome.failed === 'conflict' ? 'failed to get lock' : 'timeout while waiting to get lock')
    return outcome.failed === 'conflict' ? options.conflictExitCode : options.timeoutExitCode
  }
  const { file } = outcome
  if (options.verbose) {
    process.stdout.write(`${PROGRAM}: getting lock took ${seconds(performance.now() - started)} seconds\n`)
    process.stdout.write(`${PROGRAM}: executing ${options.command[0] ?? ''}\n`)
  }
  // Without -o the command shares the lock's open file description, as under
  // flock(1): the lock then lasts until both have ended. Classic POSIX locks
  // belong to a process and cannot be shared that way.
  const shareLock = !options.close && file.fd >= 0 && resolveBackend(options.backend, options.range) !== 'posix'
  const passDescriptors = shareLock ? [...inherited, file.fd] : inherited
  try {
    const end = await runChild({ command: options.command, shellCommand: options.shellCommand, passDescriptors })
    if (end.kind === 'failed') {
      warn(`failed to execute ${options.command[0] ?? ''}: ${reason(end.error)}`)
      return spawnExitCode(end.error)
    }
    return end.code
  } finally {
    file.close()
  }
}

