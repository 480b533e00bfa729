// The locksmith runner next to util-linux flock(1): the same scenarios, the
// same exit codes and behaviour, and mutual exclusion on one file.
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFileSync, readFileSync, existsSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { flockCommandCanLock, Holder, isLinux, pythonCanLock, tempDir } from './helpers'
import { BIN, CHILD, Running, runTool, TOOLS, type Tool } from './fixtures/cli-helpers'

const haveFlock = isLinux && spawnSync('flock', ['--version']).status === 0
const dir = tempDir('locksmith-cli-')
let n = 0
const fresh = (): string => join(dir, `lock-${++n}`)

describe('locksmith and flock(1) side by side', { skip: !haveFlock && 'needs util-linux flock(1)' }, () => {
  const holders: Holder[] = []
  after(async () => { for (const h of holders) await h.kill() })

  async function hold (path: string, mode: 'exclusive' | 'shared' = 'exclusive'): Promise<Holder> {
    const holder = await Holder.start()
    holders.push(holder)
    assert.equal((await holder.send({ cmd: 'acquire', path, options: { mode, backend: 'flock' } })).event, 'acquired')
    return holder
  }

  /** Runs the same arguments through both tools and returns both results. */
  function both (args: (path: string) => string[], path = fresh()): Record<Tool, ReturnType<typeof runTool>> {
    const result = {} as Record<Tool, ReturnType<typeof runTool>>
    for (const tool of TOOLS) result[tool] = runTool(tool, args(path))
    return result
  }

  it('propagates the command status, for argv and -c commands', () => {
    for (const code of [0, 1, 7, 255]) {
      const r = both((p) => [p, 'sh', '-c', `exit ${code}`])
      assert.deepEqual([r.flock.status, r.locksmith.status], [code, code], r.locksmith.stderr)
    }
    const c = both((p) => [p, '-c', 'echo "$0 $1"; exit 5'])
    assert.deepEqual([c.flock.status, c.locksmith.status], [5, 5], c.locksmith.stderr)
    assert.equal(c.locksmith.stdout, c.flock.stdout)
  })

  it('reports a command killed by a signal as 128+N', () => {
    const r = both((p) => [p, 'sh', '-c', 'kill -TERM $$'])
    assert.deepEqual([r.flock.status, r.locksmith.status], [143, 143])
  })

  it('-n: a conflict exits 1, or the -E code', async () => {
    const path = fresh()
    await hold(path)
    for (const tool of TOOLS) {
      assert.equal(runTool(tool, ['-n', path, 'true']).status, 1, tool)
      assert.equal(runTool(tool, ['--nonblock', '-E', '42', path, 'true']).status, 42, tool)
      assert.equal(runTool(tool, ['-n', '--conflict-exit-code=0', path, 'true']).status, 0, tool)
      assert.equal(runTool(tool, ['-w', '0', path, 'true']).status, 1, `${tool} -w 0 is -n`)
      const quiet = runTool(tool, ['-n', path, 'echo', 'ran'])
      assert.equal(quiet.stdout + quiet.stderr, '', `${tool} is silent on a conflict (cron)`)
    }
  })

  it('-w: a timeout exits 1, or the -E code; fractions of seconds work', async () => {
    const path = fresh()
    await hold(path)
    for (const tool of TOOLS) {
      const r = runTool(tool, ['-w', '0.2', path, 'echo', 'ran'])
      assert.equal(r.status, 1, tool)
      assert.equal(r.stdout, '')
      assert.equal(runTool(tool, ['--timeout', '.1', '-E', '9', path, 'true']).status, 9, tool)
    }
    // locksmith only: a timeout can be told apart from a conflict
    assert.equal(runTool('locksmith', ['-w', '0.1', '-E', '9', '--timeout-exit-code', '10', path, 'true']).status, 10)
    assert.equal(runTool('locksmith', ['-n', '-E', '9', '--timeout-exit-code', '10', path, 'true']).status, 9)
  })

  it('-w: gets the lock once it is released within the time', async () => {
    for (const tool of TOOLS) {
      const path = fresh()
      const holder = await hold(path)
      const waiting = new Running(tool, ['-w', '60', path, 'echo', 'ran'])
      // not before the release...
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.equal(waiting.lines.length, 0)
      await holder.send({ cmd: 'release' })
      assert.deepEqual(await waiting.exit(), { code: 0, signal: null }, tool)
      assert.deepEqual(waiting.lines, ['ran'])
    }
  })

  it('shared locks coexist, exclusive ones do not', async () => {
    const path = fresh()
    await hold(path, 'shared')
    for (const tool of TOOLS) {
      assert.equal(runTool(tool, ['-s', '-n', path, 'true']).status, 0, `${tool} -s`)
      assert.equal(runTool(tool, ['-n', path, 'true']).status, 1, `${tool} -x`)
      assert.equal(runTool(tool, ['-x', '-n', path, 'true']).status, 1, `${tool} -x`)
    }
    assert.equal(runTool('locksmith', ['--mode', 'shared', '-n', path, 'true']).status, 0)
    assert.equal(runTool('locksmith', ['--mode=exclusive', '-n', path, 'true']).status, 1)
  })

  it('locksmith and flock(1) exclude each other on the same file', async () => {
    for (const [first, second] of [['locksmith', 'flock'], ['flock', 'locksmith']] as const) {
      const path = fresh()
      const holding = new Running(first, [path, process.execPath, CHILD])
      const child = await holding.childPid()
      assert.equal(runTool(second, ['-n', path, 'true']).status, 1, `${second} while ${first} holds`)
      assert.equal(runTool(second, ['-s', '-n', path, 'true']).status, 1)
      process.kill(child, 'SIGTERM') // flock(1) does not pass signals on: end the command itself
      await holding.exit()
      assert.equal(runTool(second, ['-n', path, 'true']).status, 0, `${second} after ${first} ended`)
    }
    // and a shared holder lets the other tool share
    const path = fresh()
    const shared = new Running('locksmith', ['-s', path, process.execPath, CHILD])
    await shared.childPid()
    assert.equal(runTool('flock', ['-s', '-n', path, 'true']).status, 0)
    assert.equal(runTool('flock', ['-n', path, 'true']).status, 1)
    shared.kill('SIGTERM')
    await shared.exit()
  })

  it('a directory can be the lock, in both, and they exclude each other on it', async () => {
    const directory = tempDir('locksmith-cli-dir-')
    const r = both(() => ['-n', directory, 'true'])
    assert.deepEqual([r.flock.status, r.locksmith.status], [0, 0], r.locksmith.stderr)
    const holding = new Running('locksmith', [directory, process.execPath, CHILD])
    const child = await holding.childPid()
    assert.equal(runTool('flock', ['-n', directory, 'true']).status, 1)
    process.kill(child, 'SIGTERM')
    await holding.exit()
    assert.equal(runTool('flock', ['-n', directory, 'true']).status, 0)
  })

  it('usage errors exit 64 in both', () => {
    const path = fresh()
    const cases = [
      [],
      [path],
      ['-E', '300', path, 'true'],
      ['-E', 'x', path, 'true'],
      ['-w', 'abc', path, 'true'],
      ['-o', '-F', path, 'true'],
      [path, '-c', 'true', 'extra'],
      [path, '-c'],
      ['-Z', path, 'true'],
      ['--no-such-option', path, 'true'],
      ['-w']
    ]
    for (const args of cases) {
      const r = both(() => args)
      assert.deepEqual([r.flock.status, r.locksmith.status], [64, 64], `${JSON.stringify(args)}: ${r.locksmith.stderr}`)
      assert.match(r.locksmith.stderr, /^locksmith: /, JSON.stringify(args))
    }
    // -u with a command is refused with a reason (the descriptor form is test/cli-fd.test.ts)
    const unlock = runTool('locksmith', ['-u', path, 'true'])
    assert.equal(unlock.status, 64)
    assert.match(unlock.stderr, /only applies to a descriptor/)
  })

  it('a lock file that cannot be opened exits 66; a command that cannot run exits 69', () => {
    const r = both(() => [join(dir, 'no', 'such', 'dir', 'lock'), 'true'])
    assert.deepEqual([r.flock.status, r.locksmith.status], [66, 66])
    assert.match(r.locksmith.stderr, /cannot open lock file .*: No such file or directory/)
    const e = both((p) => [p, 'locksmith-no-such-command'])
    assert.deepEqual([e.flock.status, e.locksmith.status], [69, 69])
    assert.match(e.locksmith.stderr, /failed to execute locksmith-no-such-command: No such file or directory/)
  })

  it('the command inherits the lock descriptor, unless -o', () => {
    for (const tool of TOOLS) {
      const path = fresh()
      const inherits = runTool(tool, [path, process.execPath, CHILD, '--fds', '--linger', '0'])
      assert.ok(inherits.stdout.split('\n').some((l) => l.startsWith('fd ') && l.endsWith(path)), `${tool}: ${inherits.stdout}`)
      const closed = runTool(tool, ['-o', path, process.execPath, CHILD, '--fds', '--linger', '0'])
      assert.ok(!closed.stdout.includes(path), `${tool} -o: ${closed.stdout}`)
      assert.equal(closed.status, 0)
    }
  })

  it('descriptors locksmith inherits reach the command, as through flock(1)', () => {
    for (const tool of TOOLS) {
      const out = join(dir, `fd9-${tool}`)
      const launcher = tool === 'flock' ? 'flock' : `'${process.execPath}' '${BIN}'`
      const r = spawnSync('sh', ['-c', `exec 9>'${out}'; ${launcher} '${fresh()}' '${process.execPath}' '${CHILD}' --write-fd 9 --linger 0`], { encoding: 'utf8' })
      assert.equal(r.status, 0, `${tool}: ${r.stderr}`)
      assert.equal(readFileSync(out, 'utf8'), 'written\n', tool)
    }
  })

  it('if the runner dies, the lock lives as long as the command (without -o), as with flock(1)', async () => {
    for (const tool of TOOLS) {
      for (const close of [false, true]) {
        const path = fresh()
        const running = new Running(tool, [...(close ? ['-o'] : []), path, process.execPath, CHILD])
        const child = await running.childPid()
        running.kill('SIGKILL')
        await running.exit()
        try {
          assert.equal(flockCommandCanLock(path), close, `${tool}${close ? ' -o' : ''}: lock after the runner was killed`)
        } finally {
          process.kill(child, 'SIGKILL')
        }
        await waitUntil(() => flockCommandCanLock(path))
      }
    }
  })

  it('--verbose reports the wait and the command on stdout, like flock(1)', () => {
    const r = both((p) => ['--verbose', p, 'true'])
    for (const tool of TOOLS) {
      assert.equal(r[tool].status, 0)
      assert.match(r[tool].stdout, new RegExp(`^${tool}: getting lock took \\d+\\.\\d{6} seconds\\n${tool}: executing true\\n$`))
    }
  })

  it('options end at the file: the command keeps its own options', () => {
    const r = both((p) => [p, 'sh', '-c', 'printf "%s\\n" "$*"', 'sh', '-n', '-w', '1'])
    assert.equal(r.locksmith.stdout, '-n -w 1\n')
    assert.equal(r.locksmith.stdout, r.flock.stdout)
    const dashdash = both((p) => ['-n', '--', p, 'echo', 'ok'])
    assert.deepEqual([dashdash.flock.stdout, dashdash.locksmith.stdout], ['ok\n', 'ok\n'])
    // long options may be abbreviated as with getopt_long
    assert.equal(runTool('locksmith', ['--excl', '--time', '1', fresh(), 'true']).status, 0)
  })
})

describe('locksmith-only options', { skip: !isLinux && 'Linux interop tools' }, () => {
  it('--backend ofd excludes Python OFD locks; --start/--length lock byte ranges', async () => {
    const path = fresh()
    const running = new Running('locksmith', ['--backend', 'ofd', path, process.execPath, CHILD])
    await running.childPid()
    assert.equal(pythonCanLock(path, 'ofd'), false)
    running.kill('SIGTERM')
    await running.exit()
    assert.equal(pythonCanLock(path, 'ofd'), true)

    const ranged = new Running('locksmith', ['--start', '100', '--length', '10', path, process.execPath, CHILD])
    await ranged.childPid()
    assert.equal(pythonCanLock(path, 'ofd', false, 100, 10), false)
    assert.equal(pythonCanLock(path, 'ofd', false, 0, 100), true)
    assert.equal(pythonCanLock(path, 'ofd', false, 110, 5), true)
    ranged.kill('SIGTERM')
    await ranged.exit()
  })

  it('--backend posix excludes lockf(); the lock stays with locksmith', async () => {
    const path = fresh()
    const running = new Running('locksmith', ['--backend', 'posix', path, process.execPath, CHILD, '--fds'])
    await running.childPid()
    assert.equal(pythonCanLock(path, 'lockf'), false)
    assert.ok(!running.lines.some((l) => l.endsWith(path)), 'a process-owned lock is not handed to the command')
    running.kill('SIGTERM')
    await running.exit()
    assert.equal(pythonCanLock(path, 'lockf'), true)
  })

  it('a lock file replaced while waiting: locksmith locks the file the path names now', async () => {
    const path = fresh()
    const holder = await Holder.start()
    try {
      assert.equal((await holder.send({ cmd: 'lockfile', path, backend: 'flock', mode: 'exclusive' })).event, 'acquired')
      const waiting = new Running('locksmith', ['-w', '60', path, process.execPath, CHILD])
      await waitUntil(() => spawnSync('grep', ['-c', '->', '/proc/locks']).stdout.toString().trim() !== '0')
      renameSync(path, `${path}.old`)
      writeFileSync(path, '')
      await holder.send({ cmd: 'unlock' })
      await waiting.childPid()
      assert.equal(flockCommandCanLock(path), false, 'the new file is the locked one')
      waiting.kill('SIGTERM')
      await waiting.exit()
    } finally {
      await holder.kill()
    }
  })

  it('bad --backend, --mode and --permissions values are usage errors', () => {
    for (const args of [['--backend', 'nfs'], ['--mode', 'read'], ['--permissions', '999'], ['--backend', 'flock', '--start', '1']]) {
      assert.equal(runTool('locksmith', [...args, fresh(), 'true']).status, 64, JSON.stringify(args))
    }
  })

  it('--permissions sets the mode of a new lock file', () => {
    const path = fresh()
    assert.equal(runTool('locksmith', ['--permissions', '600', path, 'true']).status, 0)
    assert.ok(existsSync(path))
    const mode = spawnSync('stat', ['-c', '%a', path], { encoding: 'utf8' }).stdout.trim()
    assert.equal(mode, '600')
  })
})

describe('help and version', () => {
  it('--help lists every option and exit code; --version prints the version', () => {
    const help = runTool('locksmith', ['--help'])
    assert.equal(help.status, 0)
    for (const word of ['--shared', '--nonblock', '--timeout', '--conflict-exit-code', '--close', '--no-fork', '--backend', '--mode', '--verbose', ' 64 ', ' 66 ', ' 69 ', ' 71 ', ' 73 ']) {
      assert.ok(help.stdout.includes(word.trim()), word)
    }
    for (const sub of ['status', 'wrapper']) {
      const r = runTool('locksmith', [sub, '--help'])
      assert.equal(r.status, 0)
      assert.match(r.stdout, new RegExp(`locksmith ${sub}`))
    }
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string, bin: Record<string, string> }
    assert.equal(runTool('locksmith', ['--version']).stdout, `locksmith ${pkg.version}\n`)
    assert.equal(runTool('locksmith', ['-V']).status, 0)
    assert.equal(pkg.bin.locksmith, 'bin/locksmith.js')
  })

  it('npx locksmith resolves the package\'s own executable', { skip: spawnSync('npx', ['--version']).status !== 0 && 'no npx' }, () => {
    const r = spawnSync('npx', ['--no', '--', 'locksmith', '--version'], { cwd: join(__dirname, '..', '..'), encoding: 'utf8', timeout: 60_000 })
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^locksmith \d+\.\d+\.\d+/)
  })
})

async function waitUntil (condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
