// Signals reach the command through locksmith; its end decides locksmith's
// exit status; the lock is gone when it ends.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { constants } from 'node:os'
import { holders, LockFile } from '../lib/index'
import { join } from 'node:path'
import { flockCommandCanLock, isLinux, tempDir } from './helpers'
import { alive, BIN, CHILD, Running } from './fixtures/cli-helpers'

const haveFlock = isLinux && spawnSync('flock', ['--version']).status === 0
const dir = tempDir('locksmith-cli-signals-')
let n = 0
const fresh = (): string => join(dir, `lock-${++n}`)

describe('signals', { skip: !haveFlock && 'needs Linux and util-linux flock(1)' }, () => {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`${signal} is forwarded to the command, whose status locksmith exits with`, async () => {
      const path = fresh()
      const running = new Running('locksmith', [path, process.execPath, CHILD, '--trap', signal, '--exit-code', '42'])
      const child = await running.childPid()
      running.kill(signal)
      assert.equal(await running.line('got '), `got ${signal}`)
      assert.deepEqual(await running.exit(), { code: 42, signal: null })
      assert.equal(alive(child), false)
      assert.equal(flockCommandCanLock(path), true, 'released when the command ended')
    })
  }

  it('a command killed by a forwarded signal makes locksmith exit 128+N', async () => {
    for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130], ['SIGHUP', 129]] as const) {
      const path = fresh()
      const running = new Running('locksmith', [path, process.execPath, CHILD])
      await running.childPid()
      running.kill(signal)
      assert.deepEqual(await running.exit(), { code, signal: null }, signal)
      assert.equal(flockCommandCanLock(path), true)
    }
  })

  it('a command that ignores the signal keeps running, and the lock with it', async () => {
    const path = fresh()
    const running = new Running('locksmith', [path, 'sh', '-c', 'trap "echo got TERM" TERM; echo "ready $$"; while :; do sleep 0.05; done'])
    const child = await running.childPid()
    running.kill('SIGTERM')
    await running.line('got TERM')
    assert.equal(flockCommandCanLock(path), false)
    assert.equal(running.process.exitCode, null)
    process.kill(child, 'SIGKILL')
    assert.deepEqual(await running.exit(), { code: 137, signal: null })
    // the shell's last `sleep` inherited the descriptor too: the lock ends with it
    await waitFor(() => flockCommandCanLock(path))
  })

  it('Ctrl-C at a terminal reaches the command once, not twice (as under flock(1))', () => {
    // A pseudo-terminal whose foreground job is the tool; ^C is typed on it.
    const pty = [
      'import os, pty, select, signal, sys, time',
      'pid, fd = pty.fork()',
      'if pid == 0:',
      '    os.execvp(sys.argv[1], sys.argv[1:])',
      'out = b""',
      'def read_until(done, limit):',
      '    global out',
      '    end = time.time() + limit',
      '    while time.time() < end and not done(out):',
      '        if select.select([fd], [], [], 0.05)[0]:',
      '            try: out += os.read(fd, 4096)',
      '            except OSError: return',
      'read_until(lambda o: b"ready" in o, 20)',
      'os.write(fd, b"\\x03")',
      'read_until(lambda o: False, 1.0)',
      'os.kill(pid, signal.SIGKILL)',
      'sys.stdout.write(out.decode(errors="replace"))'
    ].join('\n')
    const command = [process.execPath, '-e', "process.on('SIGHUP', () => {}); process.on('SIGINT', () => console.log('got SIGINT')); console.log('ready'); setTimeout(() => {}, 5000)"]
    for (const tool of ['flock', 'locksmith'] as const) {
      const path = fresh()
      const argv = tool === 'flock' ? ['flock', path, ...command] : [process.execPath, BIN, path, ...command]
      const r = spawnSync('python3', ['-c', pty, ...argv], { encoding: 'utf8', timeout: 60_000 })
      assert.equal(r.status, 0, r.stderr)
      assert.equal(r.stdout.split('got SIGINT').length - 1, 1, `${tool}: ${r.stdout}`)
    }
  })

  it('locksmith killed while waiting for the lock: nothing is run, nothing is held', async () => {
    const path = fresh()
    const holder = new Running('flock', [path, process.execPath, CHILD])
    const holderChild = await holder.childPid()
    try {
      const waiting = new Running('locksmith', [path, 'echo', 'ran'])
      await waitFor(() => spawnSync('grep', ['-c', '->', '/proc/locks']).stdout.toString().trim() !== '0')
      waiting.kill('SIGTERM')
      const end = await waiting.exit()
      assert.equal(end.signal, 'SIGTERM')
      assert.deepEqual(waiting.lines, [])
    } finally {
      process.kill(holderChild, 'SIGTERM')
      await holder.exit()
    }
    assert.equal(flockCommandCanLock(path), true)
  })
})

async function waitFor (condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

// Every catchable signal whose default action ends a process, by number where
// Node has no name for it (the first real-time signals).
const TERMINATING: ReadonlyArray<NodeJS.Signals | number> = [
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGUSR1', 'SIGSEGV', 'SIGUSR2',
  'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGSTKFLT', 'SIGXCPU', 'SIGXFSZ', 'SIGVTALRM', 'SIGPROF', 'SIGIO', 'SIGPWR', 'SIGSYS',
  34, 35, 64
]
const FORWARDED = new Set<NodeJS.Signals | number>(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'])

describe('signals against flock(1), every terminating one', { skip: !haveFlock && 'needs Linux and util-linux flock(1)' }, () => {
  async function compare (phase: 'waiting' | 'running'): Promise<void> {
    const path = fresh()
    const held = LockFile.open(path)
    if (phase === 'waiting') held.tryLock()
    const runs = TERMINATING.flatMap((signal) => (['flock', 'locksmith'] as const).map((tool) => {
      // The command: sleep, which a forwarded signal ends as well.
      const args = ['-s', path, 'sleep', '30']
      const child = tool === 'flock'
        ? spawn('flock', args, { stdio: 'ignore' })
        : spawn(process.execPath, [BIN, ...args], { stdio: 'ignore' })
      return { signal, tool, child, exit: once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]> }
    }))
    try {
      // Waiting: every process is blocked in the kernel. Running: every one holds the (shared) lock.
      const deadline = Date.now() + 30_000
      for (;;) {
        const found = holders(path)
        const pids = new Set(found.filter((h) => h.waiting === (phase === 'waiting')).flatMap((h) => h.processes.map((p) => p.pid)))
        if (runs.every((r) => pids.has(r.child.pid as number))) break
        if (Date.now() > deadline) throw new Error(`not all ${phase}: ${JSON.stringify(found.map((h) => h.pid))}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      for (const run of runs) process.kill(run.child.pid as number, run.signal)
      const outcomes = new Map<string, string>()
      for (const run of runs) {
        const [code, signal] = await run.exit
        outcomes.set(`${String(run.signal)} ${run.tool}`, signal !== null ? `killed by ${signal}` : `exit ${code}`)
      }
      for (const signal of TERMINATING) {
        const flock = outcomes.get(`${String(signal)} flock`)
        const locksmith = outcomes.get(`${String(signal)} locksmith`)
        const name = typeof signal === 'number' ? `signal ${signal}` : signal
        if (phase === 'running' && FORWARDED.has(signal)) {
          // Documented difference: passed to the command, whose end (128+N) locksmith exits with.
          const number = typeof signal === 'number' ? signal : constants.signals[signal]
          assert.equal(locksmith, `exit ${128 + number}`, name)
          assert.match(flock as string, /^killed by /, name)
        } else {
          assert.equal(locksmith, flock, name)
        }
      }
    } finally {
      for (const run of runs) { try { run.child.kill('SIGKILL') } catch {} }
      held.close()
    }
  }

  it('while waiting for the lock: each ends locksmith as it ends flock(1) (USR1 does not open the inspector)', async () => {
    await compare('waiting')
  })

  it('while the command runs: forwarded ones aside, each ends locksmith as it ends flock(1)', async () => {
    await compare('running')
  })
})
