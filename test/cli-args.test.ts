// portable
// The command line, in-process: flock(1)-compatible option parsing, and the
// /proc/locks line format `status` reads.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { getopt, UsageError } from '../lib/cli/getopt'
import { parseRunArgs, RUN_OPTIONS, type RunOptions } from '../lib/cli/run-args'
import { parseLockLine, parseProcLocks, sameLock, splitDevice, deviceName } from '../lib/proc-locks'
import { formatTable, commandText } from '../lib/cli/status-format'
import { openExitCode, lockExitCode, spawnExitCode, EXIT } from '../lib/cli/exit-codes'
import { LockError, LockSystemError } from '../lib/errors'

function run (...argv: string[]): RunOptions {
  const parsed = parseRunArgs(argv, 'linux')
  assert.ok('file' in parsed)
  return parsed
}

function usage (argv: string[], pattern: RegExp): void {
  assert.throws(() => parseRunArgs(argv, 'linux'), (error: unknown) => error instanceof UsageError && pattern.test(error.message))
}

describe('locksmith option parsing', () => {
  it('defaults as flock(1): exclusive, blocking, conflict code 1, flock backend', () => {
    const o = run('f', 'cmd', 'a')
    assert.equal(o.file, 'f')
    assert.deepEqual(o.command, ['cmd', 'a'])
    assert.equal(o.mode, 'exclusive')
    assert.equal(o.nonblock, false)
    assert.equal(o.timeout, undefined)
    assert.equal(o.conflictExitCode, 1)
    assert.equal(o.timeoutExitCode, 1)
    assert.equal(o.backend, 'flock')
    const windows = parseRunArgs(['f', 'cmd'], 'win32')
    assert.ok('file' in windows && windows.backend === 'auto')
  })

  it('short clusters, attached and separate arguments, long options with = and prefixes', () => {
    const o = run('-snw1.5', '-E7', '--verb', '--timeout-exit-code=9', 'f', 'cmd')
    assert.equal(o.mode, 'shared')
    assert.equal(o.nonblock, true)
    assert.equal(o.timeout, 1500)
    assert.equal(o.conflictExitCode, 7)
    assert.equal(o.timeoutExitCode, 9)
    assert.equal(o.verbose, true)
    assert.equal(run('--time', '2', '--nb', 'f', 'x').timeout, 2000)
    assert.equal(run('--wait=.25', 'f', 'x').timeout, 250)
    assert.equal(run('-w', '1e-3', 'f', 'x').timeout, 1)
    assert.equal(run('-s', '-x', 'f', 'x').mode, 'exclusive', 'the last one wins')
    assert.equal(run('-e', 'f', 'x').mode, 'exclusive')
  })

  it('-E sets both codes unless --timeout-exit-code is given; -w 0 is -n', () => {
    const o = run('-E', '3', 'f', 'x')
    assert.deepEqual([o.conflictExitCode, o.timeoutExitCode], [3, 3])
    assert.equal(run('-w', '0', 'f', 'x').nonblock, true)
  })

  it('stops at the first operand and at --', () => {
    assert.deepEqual(run('f', 'cmd', '-n', '--x').command, ['cmd', '-n', '--x'])
    assert.equal(run('--', '-weird-name', 'cmd').file, '-weird-name')
  })

  it('-c takes exactly one string, run by $SHELL or /bin/sh', () => {
    const saved = process.env.SHELL
    try {
      delete process.env.SHELL
      assert.deepEqual(run('f', '-c', 'echo hi').command, ['/bin/sh', '-c', 'echo hi'])
      process.env.SHELL = '/bin/zsh'
      assert.deepEqual(run('f', '--command', 'echo hi').command, ['/bin/zsh', '-c', 'echo hi'])
    } finally {
      if (saved === undefined) delete process.env.SHELL
      else process.env.SHELL = saved
    }
    usage(['f', '-c'], /exactly one/)
    usage(['f', '-c', 'a', 'b'], /exactly one/)
  })

  it('--fcntl, --start, --length give an OFD byte range; --backend and --mode', () => {
    const o = run('--start', '10', '--length', '5', 'f', 'x')
    assert.equal(o.backend, 'ofd')
    assert.deepEqual(o.range, { start: 10, length: 5 })
    assert.equal(run('--fcntl', 'f', 'x').backend, 'ofd')
    assert.equal(run('--backend', 'posix', '--start', '1', 'f', 'x').backend, 'posix')
    assert.equal(run('--mode', 'shared', 'f', 'x').mode, 'shared')
    assert.equal(run('--permissions', '0600', 'f', 'x').permissions, 0o600)
  })

  it('the descriptor form: flock(1)\'s flags, -u, and what it refuses', () => {
    const fd = parseRunArgs(['-s', '-n', '-E', '7', '--verbose', '9'], 'linux')
    assert.ok('fd' in fd)
    assert.deepEqual(fd, { fd: 9, unlock: false, mode: 'shared', nonblock: true, timeout: undefined, conflictExitCode: 7, timeoutExitCode: 7, verbose: true, backend: 'flock', range: undefined })
    const unlock = parseRunArgs(['-u', '-o', '0'], 'linux')
    assert.ok('fd' in unlock && unlock.unlock && unlock.fd === 0)
    const ofd = parseRunArgs(['--fcntl', '--start', '10', '-w', '2', '9'], 'linux')
    assert.ok('fd' in ofd && ofd.backend === 'ofd' && ofd.timeout === 2000)
    assert.deepEqual('fd' in ofd && ofd.range, { start: 10, length: 0 })
    assert.throws(() => parseRunArgs(['9'], 'win32'), /not supported on Windows/)
  })

  it('usage errors say what is wrong', () => {
    usage([], /not enough arguments/)
    usage(['f'], /no command/)
    usage(['f'], /single operand must be a file descriptor/)
    usage(['4294967296'], /bad file descriptor/)
    usage(['-u', 'f', 'x'], /only applies to a descriptor/)
    usage(['--backend', 'posix', '9'], /belong to a process/)
    usage(['--permissions', '600', '9'], /not to a descriptor/)
    usage(['-E', '256', 'f', 'x'], /out of range/)
    usage(['-E', '-1', 'f', 'x'], /out of range/)
    usage(['-E', '1.5', 'f', 'x'], /invalid exit code/)
    usage(['-w', '-1', 'f', 'x'], /invalid timeout/)
    usage(['-w', '', 'f', 'x'], /invalid timeout/)
    usage(['-w', 'inf', 'f', 'x'], /invalid timeout/)
    usage(['-o', '-F', 'f', 'x'], /incompatible/)
    usage(['--backend', 'nfs', 'f', 'x'], /invalid --backend/)
    usage(['--backend', 'flock', '--length', '1', 'f', 'x'], /byte-range/)
    usage(['--mode', 'read', 'f', 'x'], /invalid --mode/)
    usage(['--permissions', '8', 'f', 'x'], /octal/)
    usage(['-Q', 'f', 'x'], /invalid option -- 'Q'/)
    usage(['--bogus', 'f', 'x'], /unrecognized option '--bogus'/)
    usage(['--verbose=1', 'f', 'x'], /doesn't allow an argument/)
    usage(['-w'], /requires an argument/)
    usage(['--timeout'], /requires an argument/)
    usage(['--timeout-exit', '1', 'f', 'x'], /unrecognized/) // spelled out only
  })

  it('ambiguous long-option prefixes are refused', () => {
    assert.throws(() => getopt(['--no', 'x'], RUN_OPTIONS), /ambiguous/)
  })

  it('--help and --version win over everything after them', () => {
    assert.deepEqual(parseRunArgs(['--help']), { help: true })
    assert.deepEqual(parseRunArgs(['-V', 'f']), { version: true })
  })
})

describe('/proc/locks lines', () => {
  const text = [
    '1: POSIX  ADVISORY  WRITE 8573 fe:00:2179282 10 109',
    '1: -> POSIX  ADVISORY  WRITE 8615 fe:00:2179282 15 24',
    '2: FLOCK  ADVISORY  WRITE 8527 08:01:2179266 0 EOF',
    '2:  -> FLOCK  ADVISORY  READ 8570 08:01:2179266 0 EOF',
    '3: OFDLCK ADVISORY  READ  -1 103:02:18446744073709551615 0 EOF',
    '4: LEASE  ACTIVE    READ  1234 00:2f:55 0 EOF',
    '5: POSIX  ADVISORY  WRITE 99 <none>:0 0 EOF',
    ''
  ].join('\n')

  it('parses holders, nested waiters, big inode numbers; skips lines without an inode', () => {
    const locks = parseProcLocks(text)
    assert.equal(locks.length, 6)
    assert.deepEqual(locks[0], { id: 1, waiting: false, kind: 'POSIX', type: 'WRITE', pid: 8573, major: 0xfe, minor: 0, inode: 2179282n, start: 10, end: 109 })
    assert.equal(locks[1]?.waiting, true)
    assert.equal(locks[3]?.waiting, true)
    assert.equal(locks[3]?.type, 'READ')
    assert.equal(locks[4]?.pid, -1)
    assert.equal(locks[4]?.major, 0x103)
    assert.equal(locks[4]?.inode, 18446744073709551615n)
    assert.equal(locks[4]?.end, undefined)
    assert.equal(locks[5]?.kind, 'LEASE')
  })

  it('matches an fdinfo lock line to its /proc/locks line whatever the numbering', () => {
    const fdinfo = parseLockLine('1: FLOCK  ADVISORY  WRITE 8527 08:01:2179266 0 EOF')
    const listed = parseProcLocks(text)[2]
    assert.ok(fdinfo !== undefined && listed !== undefined && sameLock(fdinfo, listed))
    assert.ok(!sameLock(fdinfo, parseProcLocks(text)[3] as NonNullable<typeof listed>))
  })

  it('splits a stat() device number as the kernel prints it', () => {
    assert.deepEqual(splitDevice(65024n), { major: 0xfe, minor: 0 })
    assert.deepEqual(splitDevice(0x10302n), { major: 0x103, minor: 2 })
    // glibc's makedev() for numbers beyond 12/8 bits
    const makedev = (major: bigint, minor: bigint): bigint =>
      ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n)
    assert.deepEqual(splitDevice(makedev(0x12345n, 0x6789an)), { major: 0x12345, minor: 0x6789a })
    assert.equal(deviceName(0xfe, 0), 'fe:00')
  })

  it('formats a table and quotes arguments as a shell would need', () => {
    assert.equal(commandText(['sh', '-c', "echo 'hi' there"]), "sh -c 'echo '\\''hi'\\'' there'")
    const table = formatTable([{
      path: '/tmp/x', device: 'fe:00', inode: 1, kind: 'ofd', mode: 'shared', state: 'waiting',
      range: { start: 5, length: 10 }, pid: null, processes: []
    }])
    assert.match(table, /^PATH\s+KIND\s+MODE\s+STATE\s+RANGE\s+PID\s+COMMAND\n\/tmp\/x\s+ofd\s+shared\s+waiting\s+5-14\s+\?\s+\(not visible\)\n$/)
  })
})

describe('exit codes follow flock(1)', () => {
  const system = (code: string): LockSystemError => new LockSystemError(Object.assign(new Error(code), { code, errno: -1, syscall: 'open' }))
  it('maps open, lock and spawn failures', () => {
    assert.equal(openExitCode(system('ENOENT')), EXIT.NO_INPUT)
    assert.equal(openExitCode(system('EACCES')), 66)
    assert.equal(openExitCode(system('EMFILE')), 71)
    assert.equal(openExitCode(system('EROFS')), 73)
    assert.equal(openExitCode(system('ENOSPC')), 73)
    assert.equal(openExitCode(new LockError('ERR_LOCK_BACKEND_UNSUPPORTED', 'x')), 64)
    assert.equal(lockExitCode(system('ENOLCK')), 71)
    assert.equal(lockExitCode(system('EBADF')), 65)
    assert.equal(spawnExitCode(Object.assign(new Error('x'), { code: 'ENOENT' })), 69)
    assert.equal(spawnExitCode(Object.assign(new Error('x'), { code: 'ENOMEM' })), 71)
  })
})
