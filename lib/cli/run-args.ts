// The flock(1)-compatible command line: `locksmith [options] <file> <command> [args...]`,
// `locksmith [options] <file> -c '<shell command>'` and `locksmith [options] <fd>`.
import { getopt, UsageError, type OptionSpec } from './getopt'
import { BACKENDS, type Backend, type ByteRange, type LockMode } from '../validate'

export interface RunOptions {
  file: string
  /** The program and its arguments (for -c: the shell, '-c' and the string). */
  command: string[]
  /** The -c string, when given (Windows runs it through the default shell). */
  shellCommand: string | undefined
  mode: LockMode
  nonblock: boolean
  /** Milliseconds; undefined waits as long as it takes. */
  timeout: number | undefined
  conflictExitCode: number
  timeoutExitCode: number
  close: boolean
  noFork: boolean
  verbose: boolean
  backend: Backend
  range: ByteRange | undefined
  permissions: number | undefined
}

/** `locksmith [options] FD`: lock (or with -u unlock) a descriptor inherited from the caller, and exit. */
export interface FdOptions {
  fd: number
  unlock: boolean
  mode: LockMode
  nonblock: boolean
  timeout: number | undefined
  conflictExitCode: number
  timeoutExitCode: number
  verbose: boolean
  backend: Backend
  range: ByteRange | undefined
}

export type RunRequest = RunOptions | FdOptions | { help: true } | { version: true }

/** The largest descriptor number flock(1) accepts (a 32-bit int). */
const MAX_FD = 2 ** 31 - 1

export const RUN_OPTIONS: readonly OptionSpec[] = [
  { name: 'shared', short: 's', long: ['shared'] },
  { name: 'exclusive', short: 'x', long: ['exclusive'] },
  { name: 'exclusive', short: 'e' },
  { name: 'unlock', short: 'u', long: ['unlock'] },
  { name: 'nonblock', short: 'n', long: ['nonblock', 'nonblocking', 'nb'] },
  { name: 'timeout', short: 'w', long: ['timeout', 'wait'], argument: true },
  { name: 'conflict-exit-code', short: 'E', long: ['conflict-exit-code'], argument: true },
  { name: 'timeout-exit-code', long: ['timeout-exit-code'], argument: true, exact: true },
  { name: 'close', short: 'o', long: ['close'] },
  { name: 'no-fork', short: 'F', long: ['no-fork'] },
  { name: 'verbose', long: ['verbose'] },
  { name: 'backend', long: ['backend'], argument: true },
  { name: 'mode', long: ['mode'], argument: true },
  { name: 'fcntl', long: ['fcntl'] },
  { name: 'start', long: ['start'], argument: true },
  { name: 'length', long: ['length'], argument: true },
  { name: 'permissions', long: ['permissions'], argument: true },
  { name: 'help', short: 'h', long: ['help'] },
  { name: 'version', short: 'V', long: ['version'] }
]

/** setTimeout's limit; longer waits are done in several rounds. */
const NUMBER = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/

/** `-w` seconds (fractions allowed) to milliseconds. */
export function parseSeconds (text: string, what: string): number {
  const seconds = NUMBER.test(text) ? Number(text) : NaN
  if (!Number.isFinite(seconds)) throw new UsageError(`invalid ${what} value: '${text}'`)
  return seconds * 1000
}

function parseExitCode (text: string, flag: string): number {
  if (!/^[+-]?\d+$/.test(text)) throw new UsageError(`invalid exit code for ${flag}: '${text}'`)
  const code = Number(text)
  if (code < 0 || code > 255) throw new UsageError(`exit code out of range for ${flag} (expected 0 to 255): '${text}'`)
  return code
}

function parseSize (text: string, what: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(value)) throw new UsageError(`invalid ${what}: '${text}'`)
  return value
}

export function parseRunArgs (argv: readonly string[], platform: NodeJS.Platform = process.platform): RunRequest {
  if (argv.length === 0) throw new UsageError('not enough arguments', true)
  const { options, operands } = getopt(argv, RUN_OPTIONS)
  let mode: LockMode = 'exclusive'
  let nonblock = false
  let timeout: number | undefined
  let conflictExitCode: number | undefined
  let timeoutExitCode: number | undefined
  let close = false
  let noFork = false
  let verbose = false
  let backend: Backend | undefined
  let start: number | undefined
  let length: number | undefined
  let permissions: number | undefined
  let unlock: string | undefined
  let permissionsFlag: string | undefined
  for (const { name, value, flag } of options) {
    const text = value as string
    switch (name) {
      case 'help': return { help: true }
      case 'version': return { version: true }
      case 'shared': mode = 'shared'; break
      case 'exclusive': mode = 'exclusive'; break
      case 'mode':
        if (text !== 'shared' && text !== 'exclusive') throw new UsageError(`invalid ${flag} value: '${text}' (expected 'exclusive' or 'shared')`)
        mode = text
        break
      case 'unlock': unlock = flag; break
      case 'nonblock': nonblock = true; break
      case 'timeout': timeout = parseSeconds(text, 'timeout'); break
      case 'conflict-exit-code': conflictExitCode = parseExitCode(text, flag); break
      case 'timeout-exit-code': timeoutExitCode = parseExitCode(text, flag); break
      case 'close': close = true; break
      case 'no-fork': noFork = true; break
      case 'verbose': verbose = true; break
      case 'backend':
        if (!(BACKENDS as readonly string[]).includes(text)) throw new UsageError(`invalid ${flag} value: '${text}' (expected one of ${BACKENDS.join(', ')})`)
        backend = text as Backend
        break
      case 'fcntl': backend = 'ofd'; break
      case 'start': start = parseSize(text, 'start offset'); backend ??= 'ofd'; break
      case 'length': length = parseSize(text, 'length of lock range'); backend ??= 'ofd'; break
      case 'permissions':
        // Three octal digits at most: setuid, setgid and sticky bits are refused.
        if (!/^0{0,2}[0-7]{1,3}$/.test(text)) throw new UsageError(`invalid ${flag} value: '${text}' (expected octal permission bits like 644, at most 777)`)
        permissions = parseInt(text, 8)
        permissionsFlag = flag
        break
    }
  }
  if (noFork && close) throw new UsageError('the --no-fork and --close options are incompatible')
  if (backend === 'flock' && (start !== undefined || length !== undefined)) {
    throw new UsageError("--start and --length need a byte-range backend (ofd or posix), not 'flock'")
  }
  // -w 0 means -n, as in flock(1): a conflict, not a timeout.
  if (timeout === 0) nonblock = true
  const [file, ...rest] = operands
  if (file === undefined) throw new UsageError('requires a file descriptor, or a file and a command to run', true)
  const range = start !== undefined || length !== undefined ? { start: start ?? 0, length: length ?? 0 } : undefined
  const conflict = conflictExitCode ?? 1
  if (rest.length === 0) {
    if (!/^\d+$/.test(file)) throw new UsageError(`no command given to run while holding ${file} (a single operand must be a file descriptor)`, true)
    const fd = Number(file)
    if (fd > MAX_FD) throw new UsageError(`bad file descriptor: '${file}'`)
    if (permissionsFlag !== undefined) throw new UsageError(`${permissionsFlag} applies to a lock file locksmith creates, not to a descriptor`)
    const chosen = backend ?? (platform === 'win32' ? 'auto' : 'flock')
    if (platform === 'win32') throw new UsageError('locking an inherited descriptor (locksmith FD) is not supported on Windows')
    if (chosen === 'posix') {
      throw new UsageError('--backend posix cannot lock a descriptor for the caller: classic POSIX locks belong to a process, so the lock would end with locksmith; use flock (the default) or ofd (--fcntl), which belong to the open file the descriptor shares')
    }
    // -o and -F are accepted and mean nothing here, as in flock(1).
    return {
      fd,
      unlock: unlock !== undefined,
      mode,
      nonblock,
      timeout,
      conflictExitCode: conflict,
      timeoutExitCode: timeoutExitCode ?? conflict,
      verbose,
      backend: chosen,
      range
    }
  }
  if (unlock !== undefined) {
    throw new UsageError(`${unlock} only applies to a descriptor (locksmith -u FD); a lock taken for a command is released when the command ends`)
  }
  let command = rest
  let shellCommand: string | undefined
  if (rest[0] === '-c' || rest[0] === '--command') {
    if (rest.length !== 2) throw new UsageError(`${rest[0]} requires exactly one command argument`)
    shellCommand = rest[1] as string
    const shell = platform === 'win32' ? (process.env.ComSpec ?? 'cmd.exe') : (process.env.SHELL === undefined || process.env.SHELL === '' ? '/bin/sh' : process.env.SHELL)
    command = platform === 'win32' ? [shell, '/d', '/s', '/c', shellCommand] : [shell, '-c', shellCommand]
  }
  return {
    file,
    command,
    shellCommand,
    mode,
    nonblock,
    timeout,
    conflictExitCode: conflict,
    timeoutExitCode: timeoutExitCode ?? conflict,
    close,
    noFork,
    verbose,
    backend: backend ?? (platform === 'win32' ? 'auto' : 'flock'),
    range,
    permissions
  }
}
