// holders(): who holds or waits for a lock, across real processes (util-linux
// flock(1), Python's fcntl, forked locksmith holders) and in this process.
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { openSync, closeSync, writeFileSync } from 'node:fs'
import { open as openHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { holders, isLocked, LockFile, Lock, type Holder } from '../lib/index'
import { Holder as HolderProcess, isLinux, pythonCanLock, tempDir, waitFor } from './helpers'
import { CHILD, Running } from './fixtures/cli-helpers'

const haveFlock = isLinux && spawnSync('flock', ['--version']).status === 0
const dir = tempDir('locksmith-holders-')
let n = 0
const fresh = (): string => {
  const path = join(dir, `lock-${++n}`)
  writeFileSync(path, '')
  return path
}

/** Python holding an fcntl lock; resolves once it holds it (or, with wait, once it started waiting). */
function python (path: string, kind: 'lockf' | 'ofd', shared: boolean, start: number, length: number): ChildProcess {
  const script = kind === 'lockf'
    ? 'import fcntl,sys,time\nf=open(sys.argv[1],"a+")\nfcntl.lockf(f,fcntl.LOCK_SH if sys.argv[2]=="1" else fcntl.LOCK_EX,int(sys.argv[4]),int(sys.argv[3]))\nprint("locked",flush=True)\ntime.sleep(60)\n'
    : 'import fcntl,struct,sys,time\nf=open(sys.argv[1],"a+")\nt=fcntl.F_RDLCK if sys.argv[2]=="1" else fcntl.F_WRLCK\nfcntl.fcntl(f,38,struct.pack("hhqqi",t,0,int(sys.argv[3]),int(sys.argv[4]),0))\nprint("locked",flush=True)\ntime.sleep(60)\n'
  return spawn('python3', ['-c', script, path, shared ? '1' : '0', String(start), String(length)], { stdio: ['ignore', 'pipe', 'inherit'] })
}

/**
 * Resolves once the child has printed `text`. Its output is read on to the end:
 * closing the pipe early would kill it at its next write (Python raises
 * BrokenPipeError, even for the newline that ends the line being waited for).
 */
function lineFrom (child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = ''
    const stdout = child.stdout as NodeJS.ReadableStream
    const onData = (chunk: unknown): void => {
      seen += String(chunk)
      if (!seen.includes(text)) return
      stdout.off('data', onData)
      stdout.resume() // keep draining
      resolve()
    }
    stdout.on('data', onData)
    child.once('exit', (code, signal) => reject(new Error(`no '${text}' from ${child.pid} (it exited: ${signal ?? code})`)))
  })
}

describe('holders()', { skip: !haveFlock && 'needs Linux /proc/locks and util-linux flock(1)' }, () => {
  const cleanup: Array<() => Promise<void> | void> = []
  after(async () => { for (const fn of cleanup.reverse()) await fn() })

  it('a flock(1) holder: one lock, shared by flock and the command it runs, pid = the process that took it', async () => {
    const path = fresh()
    const holder = new Running('flock', ['-s', path, process.execPath, CHILD])
    const child = await holder.childPid()
    cleanup.push(() => { try { process.kill(child) } catch {} })
    const found = holders(path)
    assert.equal(found.length, 1)
    const [h] = found as [Holder]
    assert.deepEqual({ kind: h.kind, mode: h.mode, start: h.start, length: h.length, waiting: h.waiting, pid: h.pid },
      { kind: 'flock', mode: 'shared', start: 0, length: 0, waiting: false, pid: holder.process.pid })
    assert.equal(h.args[0], 'flock')
    assert.equal(h.command, h.args.join(' '))
    assert.deepEqual(h.processes.map((p) => p.pid).sort(), [holder.process.pid, child].sort())
    assert.ok(h.processes.every((p) => typeof p.fd === 'number'))
    assert.equal(h.since, undefined, 'another process: the kernel keeps no time')
    // The same through a file: URL, a descriptor and a FileHandle.
    assert.deepEqual(holders(pathToFileURL(path)), found)
    const fd = openSync(path, 'r')
    try {
      assert.deepEqual(holders(fd).map((x) => x.pid), [holder.process.pid])
    } finally {
      closeSync(fd)
    }
    const handle = await openHandle(path, 'r')
    try {
      assert.deepEqual(holders(handle).map((x) => x.pid), [holder.process.pid])
    } finally {
      await handle.close()
    }
  })

  it('classic POSIX (lockf) and OFD byte ranges, with their waiters, in the kernel order', async () => {
    const path = fresh()
    const lockf = python(path, 'lockf', false, 100, 50)
    cleanup.push(() => { lockf.kill() })
    await lineFrom(lockf, 'locked')
    const ofd = python(path, 'ofd', true, 0, 10)
    cleanup.push(() => { ofd.kill() })
    await lineFrom(ofd, 'locked')
    const waiter = python(path, 'ofd', false, 120, 0) // blocked by the lockf lock: prints nothing until it has the lock
    cleanup.push(() => { waiter.kill() })
    const found = await waitFor(() => { const h = holders(path); return h.some((x) => x.waiting) ? h : undefined }, 30_000)
    const posix = found.find((h) => h.kind === 'posix')
    assert.deepEqual(posix && { mode: posix.mode, start: posix.start, length: posix.length, pid: posix.pid, waiting: posix.waiting },
      { mode: 'exclusive', start: 100, length: 50, pid: lockf.pid, waiting: false })
    assert.match(posix?.args[0] ?? '', /python3/)
    const held = found.find((h) => h.kind === 'ofd' && !h.waiting)
    assert.deepEqual(held && { mode: held.mode, start: held.start, length: held.length, pid: held.pid }, { mode: 'shared', start: 0, length: 10, pid: ofd.pid })
    const waiting = found.find((h) => h.waiting)
    assert.deepEqual(waiting && { kind: waiting.kind, mode: waiting.mode, start: waiting.start, length: waiting.length, pid: waiting.pid },
      { kind: 'ofd', mode: 'exclusive', start: 120, length: 0, pid: waiter.pid })
    assert.equal(typeof waiting?.processes[0]?.tid, 'number')
    // Each waiter follows the lock it waits for.
    assert.ok(found.indexOf(waiting as Holder) > found.indexOf(posix as Holder))
  })

  it('a locksmith Lock in a forked process, and a waiting one', async () => {
    const path = fresh()
    const a = await HolderProcess.start()
    const b = await HolderProcess.start()
    cleanup.push(() => a.kill(), () => b.kill())
    assert.equal((await a.send({ cmd: 'acquire', path, options: {} })).event, 'acquired')
    b.post({ cmd: 'acquire', path, options: { mode: 'shared' } })
    const found = await waitFor(() => { const h = holders(path); return h.length === 2 ? h : undefined })
    assert.deepEqual(found.map((h) => [h.kind, h.mode, h.waiting, h.pid]),
      [['flock', 'exclusive', false, a.child.pid], ['flock', 'shared', true, b.child.pid]])
    assert.equal((await a.send({ cmd: 'release' })).event, 'released')
    assert.equal((await b.next()).event, 'acquired')
    assert.deepEqual(holders(path).map((h) => [h.mode, h.waiting, h.pid]), [['shared', false, b.child.pid]])
  })

  it('this process: since is the time of the grant, for Lock and LockFile', async () => {
    const path = fresh()
    const before = Date.now()
    const file = LockFile.open(path, { backend: 'ofd' })
    file.tryLock({ range: { start: 5, length: 5 }, mode: 'shared' })
    const lock = new Lock(path)
    await lock.acquire()
    const wholePath = fresh()
    const whole = LockFile.open(wholePath)
    whole.tryLock()
    const after = Date.now()
    try {
      const found = holders(path)
      assert.equal(found.length, 2)
      const wholeHeld = holders(wholePath)
      assert.equal(wholeHeld.length, 1)
      for (const h of [...found, ...wholeHeld]) {
        assert.equal(h.pid, process.pid)
        assert.ok(h.since instanceof Date, `${h.kind} has since`)
        assert.ok((h.since as Date).getTime() >= before && (h.since as Date).getTime() <= after)
      }
      assert.deepEqual(file.holders(), found)
    } finally {
      lock.release()
      file.close()
      whole.close()
    }
    assert.deepEqual(holders(path), [])
  })

  it('this process: since is the time of the grant for a Lock that waited behind another process', { skip: !isLinux }, async () => {
    const path = fresh()
    const other = await HolderProcess.start()
    cleanup.push(() => other.kill())
    assert.equal((await other.send({ cmd: 'acquire', path, options: {} })).event, 'acquired')
    const lock = new Lock(path)
    const acquired = lock.acquire()
    await waitFor(() => holders(path).some((h) => h.waiting && h.pid === process.pid))
    const before = Date.now()
    assert.equal((await other.send({ cmd: 'release' })).event, 'released')
    await acquired
    const after = Date.now()
    const [held] = holders(path)
    lock.release()
    assert.equal(held?.pid, process.pid)
    const since = held?.since?.getTime() ?? -1
    assert.ok(since >= before && since <= after, `since ${since}, granted between ${before} and ${after}`)
  })

  it('a file nobody locks, and one that does not exist, have no holders', () => {
    assert.deepEqual(holders(fresh()), [])
    assert.deepEqual(holders(join(dir, 'missing')), [])
  })

  it('bad input: typed errors, nothing left open', () => {
    const fds = spawnSync('ls', [`/proc/${process.pid}/fd`]).stdout.toString()
    assert.throws(() => holders(true as unknown as string), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => holders(-1), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => holders(1.5), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => holders({} as unknown as string), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => holders(''), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => holders('a\0b'), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => holders(999_999), { code: 'EBADF', name: 'LockSystemError' })
    assert.throws(() => holders(join(fresh(), 'below-a-file')), { code: 'ENOTDIR', name: 'LockSystemError' })
    // Not more than before: other descriptors of the process may close meanwhile (finalizers, children's pipes).
    const after = spawnSync('ls', [`/proc/${process.pid}/fd`]).stdout.toString().split('\n').length
    assert.ok(after <= fds.split('\n').length, `${after - fds.split('\n').length} descriptors left open`)
  })

  it('locksmith status and holders() agree (one implementation)', async () => {
    const path = fresh()
    const holder = new Running('locksmith', [path, process.execPath, CHILD])
    await holder.childPid()
    cleanup.push(() => holder.kill('SIGTERM'))
    const status = JSON.parse(spawnSync(process.execPath, [join(__dirname, '..', '..', 'bin', 'locksmith.js'), 'status', '--json', path], { encoding: 'utf8' }).stdout) as Array<{ processes: Array<{ pid: number }> }>
    assert.deepEqual(holders(path).map((h) => h.processes.map((p) => p.pid).sort()), status.map((s) => s.processes.map((p) => p.pid).sort()))
  })
})

describe('isLocked()', { skip: !haveFlock && 'needs Linux /proc/locks and util-linux flock(1)' }, () => {
  const cleanup: Array<() => Promise<void> | void> = []
  after(async () => { for (const fn of cleanup.reverse()) await fn() })

  it('sees a flock(1) holder by mode, and only flock locks by default', async () => {
    const path = fresh()
    assert.equal(isLocked(path), false)
    const holder = new Running('flock', ['-s', path, process.execPath, CHILD])
    const child = await holder.childPid()
    cleanup.push(() => { try { process.kill(child) } catch {} })
    assert.equal(isLocked(path), true, 'an exclusive request conflicts with a shared holder')
    assert.equal(isLocked(path, { mode: 'exclusive' }), true)
    assert.equal(isLocked(path, { mode: 'shared' }), false, 'a shared request does not')
    assert.equal(isLocked(path, { backend: 'ofd' }), false, 'fcntl locks do not see flock locks')
    assert.equal(isLocked(path, { backend: 'posix', range: { start: 0, length: 1 } }), false)
    // It took nothing: flock(1) can still take a shared lock beside the holder, and an exclusive one cannot.
    assert.equal(spawnSync('flock', ['-s', '-n', path, 'true']).status, 0)
    assert.equal(spawnSync('flock', ['-x', '-n', path, 'true']).status, 1)
  })

  it('fcntl locks: overlap decides, posix and ofd see each other', async () => {
    const path = fresh()
    const lockf = python(path, 'lockf', false, 100, 50)
    cleanup.push(() => { lockf.kill() })
    await lineFrom(lockf, 'locked')
    assert.equal(isLocked(path, { range: { start: 0, length: 100 } }), false)
    assert.equal(isLocked(path, { range: { start: 149, length: 1 } }), true)
    assert.equal(isLocked(path, { range: { start: 120, length: 0 } }), true, 'length 0 reaches to the end')
    assert.equal(isLocked(path, { backend: 'posix', range: { start: 0, length: 0 } }), true)
    assert.equal(isLocked(path, { backend: 'ofd', mode: 'shared', range: { start: 100, length: 1 } }), true)
    assert.equal(isLocked(path), false, 'the default (flock) does not see fcntl locks')
  })

  it("never drops this process's own classic POSIX lock (asking opens no descriptor)", async () => {
    const path = fresh()
    const file = LockFile.open(path, { backend: 'posix' })
    cleanup.push(() => { if (!file.closed) file.close() })
    assert.equal(file.tryLock({ range: { start: 0, length: 10 } }), true)
    for (let i = 0; i < 5; i++) assert.equal(isLocked(path, { backend: 'posix', range: { start: 0, length: 10 } }), true)
    assert.equal(holders(path).length, 1)
    // Still held: another process cannot take it.
    assert.equal(pythonCanLock(path, 'lockf', false, 0, 10), false)
    file.close()
    assert.equal(isLocked(path, { backend: 'posix', range: { start: 0, length: 10 } }), false)
  })

  it('counts locks of this process too (a new descriptor would conflict with them)', async () => {
    const path = fresh()
    const lock = await Lock.acquire(path, { mode: 'shared' })
    try {
      assert.equal(isLocked(path, { mode: 'shared' }), false)
      assert.equal(isLocked(path), true)
    } finally {
      lock.release()
    }
    assert.equal(isLocked(path), false)
  })

  it('a missing file is not locked; bad input is a typed error', () => {
    assert.equal(isLocked(join(dir, 'missing')), false)
    assert.throws(() => isLocked(fresh(), { mode: 'read' as 'shared' }), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => isLocked(fresh(), { shared: true } as object), { code: 'ERR_INVALID_ARG_VALUE', message: /did you mean 'mode'/ })
    assert.throws(() => isLocked(fresh(), { backend: 'flock', range: { start: 0, length: 1 } }), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => isLocked(fresh(), { range: { start: -1, length: 1 } }), { code: 'ERR_OUT_OF_RANGE' })
    assert.throws(() => isLocked(fresh(), { backend: 'nfs' as 'flock' }), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => isLocked(Symbol('x') as unknown as string), { code: 'ERR_INVALID_ARG_TYPE' })
  })
})
