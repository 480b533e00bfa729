// `locksmith status` against holders and waiters started by other processes:
// util-linux flock(1), the library, Python's fcntl, and locksmith itself.
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Holder, isLinux, tempDir, waitFor } from './helpers'
import { CHILD, Running, runTool } from './fixtures/cli-helpers'
import type { LockStatus } from '../lib/lock-table'

const haveFlock = isLinux && spawnSync('flock', ['--version']).status === 0
const dir = tempDir('locksmith-cli-status-')
let n = 0
const fresh = (): string => {
  const path = join(dir, `lock-${++n}`)
  writeFileSync(path, '')
  return path
}

function status (...files: string[]): LockStatus[] {
  const r = runTool('locksmith', ['status', '--json', ...files])
  assert.ok(r.status === 0 || r.status === 1, r.stderr)
  return JSON.parse(r.stdout) as LockStatus[]
}

/** A Python process holding (or waiting for) an fcntl lock; prints `ready` once it holds it. */
function python (path: string, kind: 'lockf' | 'ofd', shared: boolean, start: number, length: number): ChildProcess {
  const script = kind === 'lockf'
    ? 'import fcntl,sys,time\nf=open(sys.argv[1],"a+")\nfcntl.lockf(f,fcntl.LOCK_SH if sys.argv[2]=="1" else fcntl.LOCK_EX,int(sys.argv[4]),int(sys.argv[3]))\nprint("ready",flush=True)\ntime.sleep(60)\n'
    : 'import fcntl,struct,sys,time\nf=open(sys.argv[1],"a+")\nt=fcntl.F_RDLCK if sys.argv[2]=="1" else fcntl.F_WRLCK\nfcntl.fcntl(f,38,struct.pack("hhqqi",t,0,int(sys.argv[3]),int(sys.argv[4]),0))\nprint("ready",flush=True)\ntime.sleep(60)\n'
  return spawn('python3', ['-c', script, path, shared ? '1' : '0', String(start), String(length)], { stdio: ['ignore', 'pipe', 'inherit'] })
}

describe('locksmith status', { skip: !haveFlock && 'needs Linux /proc/locks and util-linux flock(1)' }, () => {
  const cleanup: Array<() => Promise<void> | void> = []
  after(async () => { for (const fn of cleanup.reverse()) await fn() })

  it('shows a lock held by util-linux flock(1): flock and the command that inherited it', async () => {
    const path = fresh()
    const holder = new Running('flock', [path, process.execPath, CHILD])
    const child = await holder.childPid()
    cleanup.push(() => { try { process.kill(child) } catch {} })
    const locks = status(path)
    assert.equal(locks.length, 1)
    const [lock] = locks as [LockStatus]
    assert.equal(lock.path, path)
    assert.equal(lock.kind, 'flock')
    assert.equal(lock.mode, 'exclusive')
    assert.equal(lock.state, 'held')
    assert.deepEqual(lock.range, { start: 0, length: 0 })
    assert.equal(lock.pid, holder.process.pid)
    assert.deepEqual(lock.processes.map((p) => p.pid).sort(), [holder.process.pid, child].sort())
    const flockProcess = lock.processes.find((p) => p.pid === holder.process.pid)
    assert.equal(flockProcess?.args[0], 'flock')
    assert.ok(typeof flockProcess?.fd === 'number')
  })

  it('shows a lock held by the locksmith runner and its command', async () => {
    const path = fresh()
    const runner = new Running('locksmith', ['-s', path, process.execPath, CHILD])
    const child = await runner.childPid()
    cleanup.push(() => runner.kill('SIGTERM'))
    const [lock] = status(path) as [LockStatus]
    assert.equal(lock.mode, 'shared')
    assert.deepEqual(lock.processes.map((p) => p.pid).sort(), [runner.process.pid, child].sort())
    assert.ok(lock.processes.some((p) => p.args.includes(CHILD)))
  })

  it('finds OFD holders (pid -1 in /proc/locks) through /proc/<pid>/fdinfo', async () => {
    const path = fresh()
    const holder = await Holder.start()
    cleanup.push(() => holder.kill())
    assert.equal((await holder.send({ cmd: 'lockfile', path, backend: 'ofd', mode: 'shared', range: { start: 10, length: 5 } })).event, 'acquired')
    const [lock] = status(path) as [LockStatus]
    assert.equal(lock.kind, 'ofd')
    assert.equal(lock.pid, null)
    assert.equal(lock.mode, 'shared')
    assert.deepEqual(lock.range, { start: 10, length: 5 })
    assert.deepEqual(lock.processes.map((p) => p.pid), [holder.child.pid])
  })

  it('shows classic POSIX byte-range locks (Python lockf)', async () => {
    const path = fresh()
    const py = python(path, 'lockf', false, 100, 50)
    cleanup.push(() => { py.kill() })
    await once(py.stdout as NodeJS.ReadableStream, 'data')
    const [lock] = status(path) as [LockStatus]
    assert.equal(lock.kind, 'posix')
    assert.equal(lock.pid, py.pid)
    assert.deepEqual(lock.range, { start: 100, length: 50 })
    assert.deepEqual(lock.processes.map((p) => p.pid), [py.pid])
  })

  it('shows waiters, pairing anonymous OFD waiters with their processes', async () => {
    const path = fresh()
    const holder = await Holder.start()
    cleanup.push(() => holder.kill())
    assert.equal((await holder.send({ cmd: 'lockfile', path, backend: 'ofd', mode: 'exclusive' })).event, 'acquired')
    const py = python(path, 'ofd', true, 5, 10)
    cleanup.push(() => { py.kill() })
    const waiter = new Running('locksmith', ['--fcntl', path, 'true'])
    cleanup.push(() => waiter.kill())
    const locks = await waitFor(() => {
      const found = status(path)
      return found.filter((l) => l.state === 'waiting').length === 2 ? found : undefined
    })
    const waiting = locks.filter((l) => l.state === 'waiting')
    const shared = waiting.find((l) => l.mode === 'shared')
    const exclusive = waiting.find((l) => l.mode === 'exclusive')
    assert.deepEqual(shared?.range, { start: 5, length: 10 })
    assert.deepEqual(shared?.processes.map((p) => p.pid), [py.pid])
    assert.deepEqual(exclusive?.processes.map((p) => p.pid), [waiter.process.pid])
    assert.ok(typeof exclusive?.processes[0]?.tid === 'number', 'the waiting thread')
  })

  it('lists every lock without files, with resolved paths; prints a table for people', async () => {
    const path = fresh()
    const holder = new Running('locksmith', [path, process.execPath, CHILD])
    await holder.childPid()
    cleanup.push(() => holder.kill('SIGTERM'))
    assert.ok(status().some((l) => l.path === resolve(path) && l.processes.some((p) => p.pid === holder.process.pid)))
    const table = runTool('locksmith', ['status', path])
    assert.equal(table.status, 0)
    const lines = table.stdout.trim().split('\n')
    assert.match(lines[0] as string, /^PATH\s+KIND\s+MODE\s+STATE\s+RANGE\s+PID\s+COMMAND$/)
    assert.ok(lines.some((l) => l.includes(String(holder.process.pid)) && /flock\s+exclusive\s+held\s+whole/.test(l)), table.stdout)
  })

  it('exit status: 1 when nothing is locked, 66 for a file that cannot be examined', () => {
    const free = fresh()
    const none = runTool('locksmith', ['status', free])
    assert.equal(none.status, 1)
    assert.equal(none.stdout, '')
    assert.equal(none.stderr, `locksmith: no locks on ${free}\n`, 'a free file is said to be free, on stderr')
    assert.equal(runTool('locksmith', ['status', '--json', free]).stdout, '[]\n')
    const missing = runTool('locksmith', ['status', join(dir, 'missing')])
    assert.equal(missing.status, 66)
    assert.match(missing.stderr, /missing: No such file or directory/)
    const bogus = runTool('locksmith', ['status', '--bogus'])
    assert.equal(bogus.status, 64)
    assert.match(bogus.stderr, /Try 'locksmith status --help'/)
    const wrapper = runTool('locksmith', ['wrapper', '--bogus'])
    assert.equal(wrapper.status, 64)
    assert.match(wrapper.stderr, /Try 'locksmith wrapper --help'/)
  })
})
