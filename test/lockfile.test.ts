// The low-level LockFile across real processes: exclusion per backend and mode,
// descriptor semantics, and interoperability with programs nobody here wrote.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LockError, LockFile, LockSystemError } from '../lib/index'
import {
  Holder, flockCommandCanLock, holdWithFlockCommand, holdWithPython, isLinux, pythonCanLock, sleep, tempDir,
  waiterThreadCount, waiterThreadCountSettled
} from './helpers'

const dir = tempDir()
let counter = 0
const newPath = (): string => join(dir, `file-${++counter}.lock`)

const unixBackends = ['flock', 'ofd', 'posix'] as const

describe('LockFile across processes', { skip: !isLinux }, () => {
  let holder: Holder
  test('start holder', async () => { holder = await Holder.start() })
  after(async () => { await holder?.kill() })

  for (const backend of unixBackends) {
    test(`${backend}: an exclusive holder excludes exclusive and shared`, async () => {
      const path = newPath()
      assert.equal((await holder.send({ cmd: 'lockfile', path, backend, mode: 'exclusive' })).event, 'acquired')
      using file = LockFile.open(path, { backend })
      assert.equal(file.tryLock({ mode: 'exclusive' }), false)
      assert.equal(file.tryLock({ mode: 'shared' }), false)
      await holder.send({ cmd: 'unlock' })
      assert.equal(file.tryLock({ mode: 'exclusive' }), true)
      // and the other way round
      assert.equal((await holder.send({ cmd: 'lockfile', path, backend, mode: 'shared' })).event, 'busy')
      await holder.send({ cmd: 'unlock' })
    })

    test(`${backend}: shared holders coexist, exclusive waits for them`, async () => {
      const path = newPath()
      assert.equal((await holder.send({ cmd: 'lockfile', path, backend, mode: 'shared' })).event, 'acquired')
      using file = LockFile.open(path, { backend })
      assert.equal(file.tryLock({ mode: 'shared' }), true)
      file.unlock()
      assert.equal(file.tryLock({ mode: 'exclusive' }), false)
      const waited = file.lock({ mode: 'exclusive' })
      await holder.send({ cmd: 'unlock' })
      await waited
      assert.equal(file.heldMode(), 'exclusive')
    })
  }

  test('a SIGKILLed holder: the waiter gets the lock at once', async () => {
    const path = newPath()
    const victim = await Holder.start()
    assert.equal((await victim.send({ cmd: 'lockfile', path, backend: 'flock', mode: 'exclusive' })).event, 'acquired')
    using file = LockFile.open(path)
    const waited = file.lock()
    const killedAt = performance.now()
    await victim.kill('SIGKILL')
    await waited
    // Kernel release on process death: no stale-lock timeout to sit out.
    assert.ok(performance.now() - killedAt < 2000)
  })
})

// A lock file opened without O_CLOEXEC would reach every program the holder
// starts, and a flock or OFD lock lives as long as any descriptor of it: the
// lock would outlive its holder in a stray child (pitfall 7).
describe('programs the holder starts do not inherit its lock', { skip: !isLinux }, () => {
  const holderScript = `
const { LockFile } = require(${JSON.stringify(join(__dirname, '..', 'lib', 'index.js'))})
const { spawn } = require('node:child_process')
const file = LockFile.open(process.argv[1], { backend: process.argv[2] })
if (!file.tryLock()) process.exit(3)
const child = spawn('sleep', ['60'], { stdio: 'ignore', detached: true })
child.unref()
process.stdout.write(child.pid + '\\n')
setInterval(() => {}, 1000)
`
  for (const backend of ['flock', 'ofd'] as const) {
    test(`${backend}: the spawned program has no descriptor of the lock file, and the lock ends with its holder`, async () => {
      const path = newPath()
      const canLock = (): boolean => backend === 'flock' ? flockCommandCanLock(path) : pythonCanLock(path, 'ofd')
      const holder = spawn(process.execPath, ['-e', holderScript, path, backend], { stdio: ['ignore', 'pipe', 'inherit'] })
      const [line] = await once(holder.stdout, 'data') as [Buffer]
      const pid = Number.parseInt(line.toString(), 10)
      try {
        assert.equal(canLock(), false, 'the holder holds it')
        const targets = readdirSync(`/proc/${pid}/fd`).map((fd) => {
          try { return readlinkSync(`/proc/${pid}/fd/${fd}`) } catch { return '' }
        })
        assert.ok(!targets.includes(path), `the spawned program has the lock file open: ${targets.join(', ')}`)
        holder.kill('SIGKILL')
        await once(holder, 'exit')
        process.kill(pid, 0) // the spawned program still runs
        assert.equal(canLock(), true, 'the lock outlived its holder')
      } finally {
        holder.kill('SIGKILL')
        try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
      }
    })
  }
})

describe('descriptor semantics within one process', { skip: !isLinux }, () => {
  for (const backend of ['flock', 'ofd'] as const) {
    test(`${backend}: two handles on one file exclude each other`, () => {
      const path = newPath()
      using a = LockFile.open(path, { backend })
      using b = LockFile.open(path, { backend })
      assert.equal(a.tryLock(), true)
      assert.equal(b.tryLock(), false)
      assert.equal(b.tryLock({ mode: 'shared' }), false)
      a.unlock()
      assert.equal(b.tryLock(), true)
    })

    test(`${backend}: closing an unrelated descriptor of the file keeps the lock`, async () => {
      const path = newPath()
      using file = LockFile.open(path, { backend })
      assert.equal(file.tryLock(), true)
      readFileSync(path) // opens and closes another descriptor of the same file
      const other = await Holder.start()
      try {
        assert.equal((await other.send({ cmd: 'lockfile', path, backend, mode: 'exclusive' })).event, 'busy')
      } finally {
        await other.kill()
      }
    })
  }

  test('posix: process-wide, as documented: two handles do not exclude, and any close drops the lock', async () => {
    const path = newPath()
    using a = LockFile.open(path, { backend: 'posix' })
    using b = LockFile.open(path, { backend: 'posix' })
    assert.equal(a.tryLock(), true)
    assert.equal(b.tryLock(), true) // the same process never conflicts with itself
    assert.equal(pythonCanLock(path, 'lockf'), false)
    readFileSync(path) // closing any descriptor of the file drops all the process's locks on it
    assert.equal(pythonCanLock(path, 'lockf'), true)
  })
})

describe('interoperability with other programs', { skip: !isLinux }, () => {
  test('flock backend excludes util-linux flock(1)', () => {
    const path = newPath()
    using file = LockFile.open(path, { backend: 'flock' })
    file.tryLock({ mode: 'shared' })
    assert.equal(flockCommandCanLock(path), false)
    assert.equal(flockCommandCanLock(path, true), true)
    file.unlock()
    file.tryLock({ mode: 'exclusive' })
    assert.equal(flockCommandCanLock(path, true), false)
    file.unlock()
    assert.equal(flockCommandCanLock(path), true)
  })

  test('a directory takes flock locks, as with flock(1), and shared fcntl locks', () => {
    const directory = tempDir('locksmith-dir-lock-')
    using file = LockFile.open(directory)
    assert.equal(file.tryLock(), true)
    assert.equal(flockCommandCanLock(directory, true), false)
    file.unlock()
    assert.equal(flockCommandCanLock(directory), true)
    using ofd = LockFile.open(directory, { backend: 'ofd' })
    using other = LockFile.open(directory, { backend: 'ofd' })
    assert.equal(ofd.tryLock({ mode: 'shared' }), true)
    assert.equal(other.tryLock({ mode: 'shared' }), true)
  })

  test('util-linux flock(1) excludes the flock backend (and auto)', async () => {
    const path = newPath()
    const external = await holdWithFlockCommand(path)
    try {
      using file = LockFile.open(path)
      assert.equal(file.tryLock({ mode: 'shared' }), false)
      const waited = file.lock()
      await external.kill()
      await waited
    } finally {
      await external.kill()
    }
  })

  test('posix backend and Python fcntl.lockf exclude each other', async () => {
    const path = newPath()
    {
      using file = LockFile.open(path, { backend: 'posix' })
      file.tryLock({ range: { start: 10, length: 5 } })
      assert.equal(pythonCanLock(path, 'lockf', false, 12, 1), false)
      assert.equal(pythonCanLock(path, 'lockf', false, 15, 1), true)
    }
    const external = await holdWithPython(path, 'lockf', true)
    try {
      using file = LockFile.open(path, { backend: 'posix' })
      assert.equal(file.tryLock({ mode: 'exclusive' }), false)
      assert.equal(file.tryLock({ mode: 'shared' }), true)
    } finally {
      await external.kill()
    }
  })

  test('posix: a cycle with another process is EDEADLK (pitfall 6), async and sync, nothing taken', async () => {
    const path = newPath()
    using ours = LockFile.open(path, { backend: 'posix' })
    const byte0 = { start: 0, length: 1 }
    const byte1 = { start: 1, length: 1 }
    assert.equal(ours.tryLock({ range: byte1 }), true)
    // Python takes byte 0, then waits for our byte 1.
    const script = 'import fcntl,sys\nf=open(sys.argv[1],"a+")\nfcntl.lockf(f,fcntl.LOCK_EX,1,0)\nprint("locked",flush=True)\nfcntl.lockf(f,fcntl.LOCK_EX,1,1)\nprint("got byte 1",flush=True)\n'
    const python = spawn('python3', ['-c', script, path], { stdio: ['ignore', 'pipe', 'inherit'] })
    let output = ''
    python.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
    try {
      while (!output.includes('locked')) await sleep(5)
      await sleep(100) // Python is in F_SETLKW for byte 1 by now
      // Waiting for byte 0 would close the cycle: the kernel refuses.
      await assert.rejects(ours.lock({ range: byte0 }), (error: unknown) =>
        error instanceof LockSystemError && error.code === 'EDEADLK' && error.syscall === 'fcntl' && error.path === path)
      assert.throws(() => ours.lockSync({ range: byte0 }), { code: 'EDEADLK' })
      assert.equal(ours.heldMode(byte0), undefined)
      ours.unlock({ range: byte1 })
      await once(python, 'exit')
      assert.equal(output, 'locked\ngot byte 1\n')
    } finally {
      python.kill('SIGKILL')
    }
  })

  test('ofd backend and Python OFD fcntl calls exclude each other; OFD also meets classic POSIX locks', async () => {
    const path = newPath()
    {
      using file = LockFile.open(path, { backend: 'ofd' })
      file.tryLock({ range: { start: 0, length: 100 } })
      assert.equal(pythonCanLock(path, 'ofd', false, 50, 1), false)
      assert.equal(pythonCanLock(path, 'ofd', false, 100, 1), true)
      assert.equal(pythonCanLock(path, 'lockf', false, 50, 1), false)
    }
    const external = await holdWithPython(path, 'ofd', false, 4, 4)
    try {
      using file = LockFile.open(path, { backend: 'ofd' })
      assert.equal(file.tryLock({ mode: 'shared', range: { start: 7, length: 1 } }), false)
      assert.equal(file.tryLock({ range: { start: 8, length: 0 } }), true)
    } finally {
      await external.kill()
    }
  })

  test('auto picks flock for whole files and OFD for byte ranges', async () => {
    const path = newPath()
    using file = LockFile.open(path)
    file.tryLock()
    assert.equal(flockCommandCanLock(path), false)
    assert.equal(pythonCanLock(path, 'ofd'), true)
    file.unlock()
    file.tryLock({ range: { start: 0, length: 1 } })
    assert.equal(flockCommandCanLock(path), true)
    assert.equal(pythonCanLock(path, 'ofd', false, 0, 1), false)
  })
})

/** Whether another process could take an exclusive lock of this kind on the whole file now. */
function othersCanLock (path: string, backend: typeof unixBackends[number]): boolean {
  if (backend === 'flock') return flockCommandCanLock(path)
  return pythonCanLock(path, backend === 'ofd' ? 'ofd' : 'lockf')
}

describe('close() during a pending lock()', { skip: !isLinux }, () => {
  let holder: Holder
  test('start holder', async () => { holder = await Holder.start() })
  after(async () => { await holder?.kill() })

  for (const backend of unixBackends) {
    test(`${backend}: the wait is cancelled and lock() rejects with ERR_LOCK_CLOSED; nothing held, no thread left`, async () => {
      const path = newPath()
      assert.equal((await holder.send({ cmd: 'lockfile', path, backend, mode: 'exclusive' })).event, 'acquired')
      // A thread joined by an earlier test can stay listed for a moment: wait for it to go.
      const threadsBefore = await waiterThreadCountSettled(0)
      const file = LockFile.open(path, { backend })
      const pending = file.lock()
      let settled = false
      pending.then(() => { settled = true }, () => { settled = true })
      await sleep(20)
      assert.equal(waiterThreadCount(), threadsBefore + 1, 'the wait is on its thread')
      file.close()
      const outcome = await Promise.race([pending.then(() => 'resolved', (error: unknown) => error), sleep(2000).then(() => 'still pending')])
      assert.ok(outcome instanceof LockError, `lock() ${String(outcome)}`)
      assert.equal(outcome.code, 'ERR_LOCK_CLOSED')
      assert.equal(settled, true)
      await holder.send({ cmd: 'unlock' })
      assert.equal(othersCanLock(path, backend), true, 'the cancelled wait took nothing')
      assert.equal(await waiterThreadCountSettled(threadsBefore), threadsBefore, 'no waiter thread left')
    })
  }

  test('the timer and abort listener of the closed wait are gone: no late rejection, the process may exit', async () => {
    const path = newPath()
    assert.equal((await holder.send({ cmd: 'lockfile', path, backend: 'flock', mode: 'exclusive' })).event, 'acquired')
    const controller = new AbortController()
    const file = LockFile.open(path)
    const pending = file.lock({ timeout: 50, signal: controller.signal })
    file.close()
    await assert.rejects(pending, { code: 'ERR_LOCK_CLOSED' })
    controller.abort()
    await sleep(80)
    await holder.send({ cmd: 'unlock' })
  })
})

// flock(2) changes a lock's mode by releasing it first, even with LOCK_NB, so a
// failed shared -> exclusive change leaves nothing held; fcntl changes (ofd,
// posix) are atomic and keep the shared lock. heldMode() must say what the
// kernel holds: another process tells.
describe('a failed shared -> exclusive conversion', { skip: !isLinux }, () => {
  let holder: Holder
  test('start holder', async () => { holder = await Holder.start() })
  after(async () => { await holder?.kill() })

  const attempts: Array<[string, (file: LockFile) => Promise<void>]> = [
    ['tryLock busy', async (file) => assert.equal(file.tryLock({ mode: 'exclusive' }), false)],
    ['lock() timeout', async (file) => { await assert.rejects(file.lock({ mode: 'exclusive', timeout: 30 }), { code: 'ETIMEDOUT' }) }],
    ['lock() aborted', async (file) => {
      const controller = new AbortController()
      const pending = file.lock({ mode: 'exclusive', signal: controller.signal })
      await sleep(20)
      controller.abort(new Error('stop'))
      await assert.rejects(pending, { message: 'stop' })
    }],
    ['lockSync timeout', async (file) => assert.throws(() => file.lockSync({ mode: 'exclusive', timeout: 30 }), { code: 'ETIMEDOUT' })]
  ]

  for (const backend of unixBackends) {
    for (const [name, attempt] of attempts) {
      const keeps = backend !== 'flock'
      test(`${backend}: ${name} ${keeps ? 'keeps the shared lock' : 'leaves nothing held'}, and heldMode() says so`, async () => {
        const path = newPath()
        assert.equal((await holder.send({ cmd: 'lockfile', path, backend, mode: 'shared' })).event, 'acquired')
        using file = LockFile.open(path, { backend })
        assert.equal(file.tryLock({ mode: 'shared' }), true)
        await attempt(file)
        await holder.send({ cmd: 'unlock' })
        assert.equal(othersCanLock(path, backend), !keeps, 'what the kernel holds for this descriptor')
        assert.equal(file.heldMode(), keeps ? 'shared' : undefined)
        if (keeps) file.unlock()
        else assert.throws(() => file.unlock(), { code: 'ERR_LOCK_NOT_HELD' })
        assert.equal(othersCanLock(path, backend), true)
      })
    }
  }
})

describe('an exclusive fcntl lock on a file opened read-only', { skip: !isLinux }, () => {
  const expectReadOnlyMessage = (error: NodeJS.ErrnoException): boolean => {
    assert.equal(error.code, 'EBADF')
    assert.match(error.message, /could only be opened read-only/)
    assert.match(error.message, /flock/)
    return error instanceof LockSystemError
  }

  for (const backend of ['ofd', 'posix'] as const) {
    test(`${backend}: a directory (opened read-only) says why it fails, in tryLock, lockSync and lock`, async () => {
      const directory = join(dir, `directory-${backend}`)
      mkdirSync(directory)
      using file = LockFile.open(directory, { backend })
      assert.throws(() => file.tryLock(), expectReadOnlyMessage)
      assert.throws(() => file.lockSync({ timeout: 10 }), expectReadOnlyMessage)
      await assert.rejects(file.lock(), expectReadOnlyMessage)
      assert.equal(file.tryLock({ mode: 'shared' }), true, 'shared fcntl locks work read-only')
    })
  }

  test('a 0444 file this user may not write (as nobody when run as root)', () => {
    const shared = mkdtempSync(join(tmpdir(), 'locksmith-ro-'))
    process.on('exit', () => rmSync(shared, { recursive: true, force: true }))
    chmodSync(shared, 0o755) // nobody must reach the file
    const path = join(shared, 'read-only.lock')
    writeFileSync(path, '')
    chmodSync(path, 0o444)
    const script = `
const { LockFile } = require(${JSON.stringify(join(__dirname, '..', 'lib', 'index.js'))})
const out = {}
for (const backend of ['ofd', 'posix', 'flock']) {
  const file = LockFile.open(process.argv[1], { backend })
  try { out[backend] = file.tryLock() } catch (error) { out[backend] = { code: error.code, message: error.message } }
  file.close()
}
process.stdout.write(JSON.stringify(out))
`
    const asRoot = process.getuid?.() === 0
    const result = spawnSync(process.execPath, ['-e', script, path], { encoding: 'utf8', ...(asRoot ? { uid: 65534, gid: 65534 } : {}) })
    assert.equal(result.status, 0, result.stderr)
    const out = JSON.parse(result.stdout) as Record<string, true | { code: string, message: string }>
    for (const backend of ['ofd', 'posix']) {
      const error = out[backend] as { code: string, message: string }
      assert.equal(error.code, 'EBADF')
      assert.match(error.message, /could only be opened read-only/)
    }
    assert.equal(out.flock, true, 'flock locks work on a read-only descriptor')
  })

  test('a writable file takes exclusive fcntl locks as before', () => {
    using file = LockFile.open(newPath(), { backend: 'ofd' })
    assert.equal(file.tryLock(), true)
  })
})

describe('unknown option keys are refused with a hint', () => {
  const path = newPath()
  const refused = (key: string, hint?: string) => (error: NodeJS.ErrnoException): boolean => {
    assert.equal(error.code, 'ERR_INVALID_ARG_VALUE')
    assert.match(error.message, new RegExp(`options\\.${key}`))
    if (hint !== undefined) assert.match(error.message, new RegExp(`did you mean '${hint}'`))
    return true
  }

  test('LockFile.open', () => {
    assert.throws(() => LockFile.open(path, { nofollow: true } as object), refused('nofollow', 'noFollow'))
    assert.throws(() => LockFile.open(path, { mode: 0o600 } as object), refused('mode', 'permissions'))
    assert.throws(() => LockFile.open(path, { backnd: 'flock' } as object), refused('backnd', 'backend'))
  })

  test('tryLock, lockSync, lock and unlock', async () => {
    using file = LockFile.open(path)
    assert.throws(() => file.tryLock({ exclusive: true } as object), refused('exclusive', 'mode'))
    assert.throws(() => file.tryLock({ timeout: 5 } as object), refused('timeout'))
    assert.throws(() => file.lockSync({ timout: 5 } as object), refused('timout', 'timeout'))
    assert.throws(() => file.lockSync({ signal: new AbortController().signal } as object), refused('signal'))
    await assert.rejects(file.lock({ singal: new AbortController().signal } as object), refused('singal', 'signal'))
    await assert.rejects(file.lock({ blocking: false } as object), refused('blocking', 'timeout'))
    assert.equal(file.heldMode(), undefined, 'nothing was attempted')
    await file.lock({ mode: 'shared', timeout: 10, signal: new AbortController().signal })
    assert.throws(() => file.unlock({ mode: 'shared' } as object), refused('mode'))
    file.unlock({})
  })
})
