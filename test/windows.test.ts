// The Windows backend (LockFileEx) for real: run by scripts/test-wine.sh with
// node.exe under Wine, and on a Windows machine by `node --test`. Elsewhere
// every test skips itself.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import {
  closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, renameSync,
  rmSync, symlinkSync, writeFileSync, writeSync, chmodSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Worker } from 'node:worker_threads'
import { Lock, LockFile, LockTimeoutError } from '../lib/index'
import { native } from '../lib/native'

const onWindows = process.platform === 'win32'
const skip = !onWindows
/** Set by scripts/test-wine.sh: some checks depend on what Wine implements. */
const underWine = process.env.LOCKSMITH_UNDER_WINE === '1'
const WINDOWS = 3 // Backend::Windows in src/lock.h

let root = ''
function dir (): string {
  if (root === '') root = mkdtempSync(join(tmpdir(), 'locksmith-win-'))
  return root
}
let counter = 0
function lockPath (name = 'lock'): string {
  return join(dir(), `${name}-${++counter}.lock`)
}
after(() => {
  if (root !== '') rmSync(root, { recursive: true, force: true })
})

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A lock holder in another node.exe (test/fixtures/win-holder.ts). */
class Holder {
  readonly child: ChildProcess
  readonly #lines: string[] = []
  readonly #waiting: Array<(line: string) => void> = []
  readonly exited: Promise<number | null>

  constructor (args: string[]) {
    this.child = spawn(process.execPath, [join(__dirname, 'fixtures', 'win-holder.js'), ...args], {
      stdio: ['pipe', 'pipe', 'inherit']
    })
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)))
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const next = this.#waiting.shift()
      if (next !== undefined) next(line)
      else this.#lines.push(line)
    })
  }

  /** Starts a holder and waits until it holds the lock. */
  static async hold (path: string, mode = 'exclusive', range?: string): Promise<Holder> {
    const holder = new Holder([path, mode, 'hold', ...(range === undefined ? [] : [range])])
    assert.equal(await holder.next(), 'held')
    return holder
  }

  next (): Promise<string> {
    const line = this.#lines.shift()
    if (line !== undefined) return Promise.resolve(line)
    return new Promise((resolve, reject) => {
      this.#waiting.push(resolve)
      void this.exited.then((code) => reject(new Error(`holder exited (${code}) before replying`)))
    })
  }

  async release (): Promise<void> {
    this.child.stdin!.write('release\n')
    assert.equal(await this.next(), 'released')
  }

  async exit (): Promise<void> {
    this.child.stdin!.end('exit\n')
    await this.exited
  }

  async kill (): Promise<void> {
    this.child.kill() // TerminateProcess: no chance to unlock
    await this.exited
  }
}

/** What another process gets when it tries the lock once: 'acquired' or 'busy'. */
async function probe (path: string, mode = 'exclusive', range?: string): Promise<string> {
  const holder = new Holder([path, mode, 'probe', ...(range === undefined ? [] : [range])])
  const line = await holder.next()
  await holder.exited
  return line
}

function open (path: string): LockFile {
  return LockFile.open(path, { backend: 'windows' })
}

describe('windows backend (LockFileEx)', { skip, timeout: 120_000 }, () => {
  test('the prebuild was built from these sources', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { sourceHash } = require('../../scripts/source-hash.js') as { sourceHash: () => string }
    assert.equal(native.sourceHash, sourceHash(),
      'prebuilds/win32-x64/locksmith.node is stale: run `npm run prebuild:win32` and commit it')
  })

  test('only the windows backend is offered', () => {
    assert.deepEqual(native.backends, { flock: false, ofd: false, posix: false, windows: true })
    assert.throws(() => LockFile.open(lockPath(), { backend: 'flock' }), { code: 'ERR_LOCK_BACKEND_UNSUPPORTED' })
  })

  test('an exclusive lock excludes a second handle in the same process', () => {
    const path = lockPath()
    const a = open(path)
    const b = open(path)
    try {
      assert.equal(a.tryLock(), true)
      assert.equal(b.tryLock(), false)
      assert.equal(b.tryLock({ mode: 'shared' }), false)
      a.unlock()
      assert.equal(b.tryLock(), true)
      assert.equal(a.tryLock(), false)
    } finally {
      a.close()
      b.close()
    }
  })

  test('closing a handle releases its locks', () => {
    const path = lockPath()
    const a = open(path)
    const b = open(path)
    try {
      assert.equal(a.tryLock(), true)
      a.close()
      assert.equal(b.tryLock(), true)
    } finally {
      b.close()
    }
  })

  test('shared locks coexist; an exclusive lock excludes them and is excluded by them', () => {
    const path = lockPath()
    const [a, b, c] = [open(path), open(path), open(path)]
    try {
      assert.equal(a.tryLock({ mode: 'shared' }), true)
      assert.equal(b.tryLock({ mode: 'shared' }), true)
      assert.equal(c.tryLock({ mode: 'exclusive' }), false)
      a.unlock()
      assert.equal(c.tryLock({ mode: 'exclusive' }), false)
      b.unlock()
      assert.equal(c.tryLock({ mode: 'exclusive' }), true)
      assert.equal(a.tryLock({ mode: 'shared' }), false)
    } finally {
      for (const f of [a, b, c]) f.close()
    }
  })

  test('the whole-file lock leaves the data readable and writable through other handles', () => {
    const path = lockPath()
    const a = open(path)
    try {
      assert.equal(a.tryLock(), true)
      writeFileSync(path, 'payload written while locked')
      assert.equal(readFileSync(path, 'utf8'), 'payload written while locked')
      // Far into the file too, and through the same process's other descriptors.
      const fd = openSync(path, 'r+')
      try {
        assert.equal(writeSync(fd, 'x', 1 << 20), 1)
        const buffer = Buffer.alloc(1)
        assert.equal(readSync(fd, buffer, 0, 1, 1 << 20), 1)
        assert.equal(buffer.toString(), 'x')
      } finally {
        closeSync(fd)
      }
    } finally {
      a.close()
    }
  })

  test('a byte-range lock is mandatory for the bytes it covers (why the whole-file lock is far away)', (t) => {
    const path = lockPath()
    writeFileSync(path, '0123456789abcdef')
    const a = open(path)
    try {
      assert.equal(a.tryLock({ range: { start: 0, length: 8 } }), true)
      const fd = openSync(path, 'r+')
      try {
        let error: NodeJS.ErrnoException | undefined
        try {
          readSync(fd, Buffer.alloc(4), 0, 4, 0)
        } catch (caught) {
          error = caught as NodeJS.ErrnoException
        }
        if (error === undefined && underWine) {
          t.diagnostic('Wine does not enforce LockFileEx locks on reads and writes (real Windows does)')
        } else {
          assert.equal(error?.code, 'EBUSY') // ERROR_LOCK_VIOLATION, as libuv spells it
        }
        // Bytes outside the range stay readable.
        const buffer = Buffer.alloc(4)
        assert.equal(readSync(fd, buffer, 0, 4, 8), 4)
        assert.equal(buffer.toString(), '89ab')
      } finally {
        closeSync(fd)
      }
    } finally {
      a.close()
    }
  })

  test('byte ranges: disjoint ranges coexist, overlapping ones conflict, length 0 runs to the end', () => {
    const path = lockPath()
    const [a, b] = [open(path), open(path)]
    try {
      assert.equal(a.tryLock({ range: { start: 0, length: 10 } }), true)
      assert.equal(b.tryLock({ range: { start: 10, length: 10 } }), true)
      assert.equal(b.tryLock({ range: { start: 9, length: 1 } }), false)
      // The whole-file lock is its own sentinel byte, apart from small ranges...
      assert.equal(b.tryLock(), true)
      // ...but inside a range that runs to the end of the 64-bit space.
      assert.equal(a.tryLock({ range: { start: 100, length: 0 } }), false)
      b.unlock()
      assert.equal(a.tryLock({ range: { start: 100, length: 0 } }), true)
      assert.equal(b.tryLock({ range: { start: 2 ** 40, length: 1 } }), false)
      assert.equal(b.tryLock({ range: { start: 99, length: 1 } }), true)
    } finally {
      a.close()
      b.close()
    }
  })

  test('an exclusive lock excludes another node.exe process, and is released when it unlocks', async () => {
    const path = lockPath()
    const holder = await Holder.hold(path)
    const mine = open(path)
    try {
      assert.equal(mine.tryLock(), false)
      assert.equal(mine.tryLock({ mode: 'shared' }), false)
      await holder.release()
      assert.equal(mine.tryLock(), true)
      assert.equal(await probe(path), 'busy')
      assert.equal(await probe(path, 'shared'), 'busy')
      mine.unlock()
      assert.equal(await probe(path), 'acquired')
    } finally {
      mine.close()
      await holder.exit()
    }
  })

  test('shared locks coexist across processes', async () => {
    const path = lockPath()
    const holder = await Holder.hold(path, 'shared')
    const mine = open(path)
    try {
      assert.equal(mine.tryLock({ mode: 'shared' }), true)
      assert.equal(await probe(path, 'shared'), 'acquired')
      mine.unlock()
      assert.equal(mine.tryLock({ mode: 'exclusive' }), false)
    } finally {
      mine.close()
      await holder.exit()
    }
  })

  test('a blocking wait is granted when the holder releases', async () => {
    const path = lockPath()
    const holder = await Holder.hold(path)
    const mine = open(path)
    try {
      let granted = false
      const waiting = mine.lock().then(() => { granted = true })
      await sleep(300)
      assert.equal(granted, false)
      const released = Date.now()
      await holder.release()
      await waiting
      // Waits poll in slices of at most 50 ms (see src/lock_win.cc); allow for a slow machine.
      assert.ok(Date.now() - released < 3000, `granted ${Date.now() - released} ms after the release`)
      assert.equal(await probe(path), 'busy')
    } finally {
      mine.close()
      await holder.exit()
    }
  })

  test('a blocking wait is granted when the holder process is killed', async () => {
    const path = lockPath()
    const holder = await Holder.hold(path)
    const mine = open(path)
    try {
      const waiting = mine.lock({ timeout: 30_000 })
      await sleep(200)
      await holder.kill()
      await waiting
      assert.equal(mine.heldMode(), 'exclusive')
    } finally {
      mine.close()
    }
  })

  test('a wait in the same process is granted when the other handle unlocks', async () => {
    const path = lockPath()
    const [a, b] = [open(path), open(path)]
    try {
      assert.equal(a.tryLock(), true)
      const waiting = b.lock({ mode: 'shared' })
      await sleep(100)
      a.unlock()
      await waiting
      assert.equal(a.tryLock({ mode: 'shared' }), true)
      assert.equal(a.tryLock({ range: { start: 0, length: 1 } }), true) // data bytes untouched
    } finally {
      a.close()
      b.close()
    }
  })

  test('aborting a wait rejects while the holder still holds, and leaves nothing held', async () => {
    const path = lockPath()
    const holder = await Holder.hold(path)
    const mine = open(path)
    try {
      const controller = new AbortController()
      const waiting = mine.lock({ signal: controller.signal })
      await sleep(300)
      controller.abort(new Error('stop'))
      // Rejected while the holder still holds it: the wait was really stopped.
      await assert.rejects(waiting, { message: 'stop' })
      assert.equal(mine.heldMode(), undefined)
      // The holder lets go: if the cancelled wait had been granted behind our
      // back, another process would now find the lock busy.
      await holder.release()
      await sleep(200)
      assert.equal(await probe(path), 'acquired')
      // And the handle still works.
      assert.equal(mine.tryLock(), true)
    } finally {
      mine.close()
      await holder.exit()
    }
  })

  test('a wait with a timeout gives up with ETIMEDOUT', async () => {
    const path = lockPath()
    const holder = await Holder.hold(path)
    const mine = open(path)
    try {
      const started = Date.now()
      await assert.rejects(mine.lock({ timeout: 300 }), (error: unknown) => {
        assert.ok(error instanceof LockTimeoutError)
        assert.equal(error.code, 'ETIMEDOUT')
        return true
      })
      const took = Date.now() - started
      assert.ok(took >= 250 && took < 2000, `timed out after ${took} ms`)
      assert.throws(() => mine.lockSync({ timeout: 200 }), { code: 'ETIMEDOUT' })
      await holder.release()
      await sleep(100)
      assert.equal(await probe(path), 'acquired')
    } finally {
      mine.close()
      await holder.exit()
    }
  })

  test('lockSync waits for a release', async () => {
    const path = lockPath()
    const [a, b] = [open(path), open(path)]
    try {
      assert.equal(a.tryLock(), true)
      // The holder is in this thread and cannot let go while lockSync blocks it:
      // only the timeout ends this wait.
      assert.throws(() => b.lockSync({ timeout: 100 }), { code: 'ETIMEDOUT' })
      a.unlock()
      b.lockSync({ timeout: 1000 })
      assert.equal(b.heldMode(), 'exclusive')
    } finally {
      a.close()
      b.close()
    }
  })

  test('many waiters on one file are all served, one at a time', async () => {
    const path = lockPath()
    const holder = open(path)
    const waiters = Array.from({ length: 12 }, () => open(path))
    try {
      assert.equal(holder.tryLock(), true)
      let inside = 0
      let served = 0
      const runs = waiters.map(async (file) => {
        await file.lock({ timeout: 60_000 })
        inside++
        assert.equal(inside, 1)
        await sleep(5)
        inside--
        served++
        file.unlock()
      })
      await sleep(100)
      holder.unlock()
      await Promise.all(runs)
      assert.equal(served, waiters.length)
    } finally {
      holder.close()
      for (const file of waiters) file.close()
    }
  })

  test('closing a handle with a wait in progress cancels the wait', async () => {
    const path = lockPath()
    const [a, b] = [open(path), open(path)]
    try {
      assert.equal(a.tryLock(), true)
      const waiting = b.lock()
      waiting.catch(() => {}) // what it settles to is not the point
      await sleep(100)
      b.close()
      a.unlock()
      await sleep(200)
      const c = open(path)
      assert.equal(c.tryLock(), true)
      c.close()
    } finally {
      a.close()
    }
  })

  test('a worker that ends mid-wait leaves nothing held and nothing waiting', async () => {
    const path = lockPath()
    const mine = open(path)
    try {
      assert.equal(mine.tryLock(), true)
      const worker = new Worker(`
        const { parentPort, workerData } = require('node:worker_threads')
        const { LockFile } = require(workerData.lib)
        const file = LockFile.open(workerData.path, { backend: 'windows' })
        file.lock().then(() => parentPort.postMessage('acquired'))
        parentPort.postMessage('waiting')
      `, { eval: true, workerData: { path, lib: join(__dirname, '..', 'lib', 'index.js') } })
      const [message] = await new Promise<unknown[]>((resolve, reject) => {
        worker.once('message', (m) => resolve([m]))
        worker.once('error', reject)
      })
      assert.equal(message, 'waiting')
      await sleep(100)
      await worker.terminate()
      mine.unlock()
      await sleep(100)
      assert.equal(await probe(path), 'acquired')
    } finally {
      mine.close()
    }
  })

  test('Lock across processes, with removeOnRelease', async () => {
    const path = lockPath()
    const holder = await Holder.hold(path)
    const lock = new Lock(path, { removeOnRelease: true })
    try {
      assert.equal(await lock.acquire({ blocking: false }), false)
      const acquiring = lock.acquire({ blocking: 30_000 })
      await sleep(200)
      await holder.release()
      assert.equal(await acquiring, true)
      assert.equal(await probe(path), 'busy')
      await holder.exit()
      assert.equal(lock.release(), true)
      assert.equal(existsSync(path), false)
      const again = await Lock.acquire(path, { blocking: false })
      assert.equal(again.release(), true)
    } finally {
      lock.release()
      await holder.exit()
    }
  })

  test('the raw binding: busy is false, unlock of what is not locked is ENOLCK', () => {
    const path = lockPath()
    const a = native.open(path, false, 0o644)
    const b = native.open(path, false, 0o644)
    try {
      assert.equal(native.tryLock(a, WINDOWS, true), true)
      assert.equal(native.tryLock(b, WINDOWS, true), false)
      assert.equal(native.tryLock(b, WINDOWS, false, 2 ** 62, 1), false) // the whole-file sentinel byte
      assert.throws(() => native.unlock(b, WINDOWS), { code: 'ENOLCK', syscall: 'UnlockFileEx' })
      assert.throws(() => native.unlock(a, WINDOWS, 0, 1), { code: 'ENOLCK' }) // ranges must match exactly
      native.unlock(a, WINDOWS)
      assert.equal(native.tryLock(b, WINDOWS, true), true)
      assert.equal(native.fd(b), -1)
    } finally {
      native.close(a)
      native.close(b)
    }
  })

  test('errors: a missing directory is ENOENT, a directory is EISDIR', () => {
    const missing = join(dir(), 'no-such-dir', 'x.lock')
    assert.throws(() => open(missing), (error: NodeJS.ErrnoException) => {
      assert.equal(error.code, 'ENOENT')
      assert.equal(error.syscall, 'open')
      assert.equal(error.path, missing)
      return true
    })
    const directory = join(dir(), 'a-directory')
    mkdirSync(directory)
    assert.throws(() => open(directory), { code: 'EISDIR', syscall: 'open' })
    // A path through a file is not found either.
    const file = lockPath()
    writeFileSync(file, '')
    assert.throws(() => open(join(file, 'below.lock')), { code: 'ENOENT' })
  })

  test('opening never truncates and creates missing files', () => {
    const path = lockPath()
    writeFileSync(path, 'keep me')
    open(path).close()
    assert.equal(readFileSync(path, 'utf8'), 'keep me')
    const fresh = lockPath('fresh')
    assert.equal(existsSync(fresh), false)
    open(fresh).close()
    assert.equal(existsSync(fresh), true)
  })

  test('a read-only file can still be locked', () => {
    const path = lockPath()
    writeFileSync(path, '')
    chmodSync(path, 0o444)
    const [a, b] = [open(path), open(path)]
    try {
      assert.equal(a.tryLock(), true)
      assert.equal(b.tryLock(), false)
    } finally {
      a.close()
      b.close()
      chmodSync(path, 0o644)
    }
  })

  test('non-ASCII and long paths', () => {
    const unicode = join(dir(), 'verrou-ünïcødé-日本語.lock')
    const a = open(unicode)
    try {
      assert.equal(existsSync(unicode), true)
      assert.equal(a.tryLock(), true)
      const b = open(unicode)
      assert.equal(b.tryLock(), false)
      b.close()
    } finally {
      a.close()
    }
    let deep = dir()
    while (deep.length < 300) deep = join(deep, 'a-rather-long-directory-name')
    mkdirSync(deep, { recursive: true })
    const long = join(deep, 'long.lock')
    const c = open(long)
    try {
      assert.ok(long.length > 300)
      assert.equal(c.tryLock(), true)
      assert.equal(c.isCurrent(), true)
    } finally {
      c.close()
    }
  })

  test('isCurrent: false once the file was renamed away or replaced', () => {
    const path = lockPath()
    const a = open(path)
    try {
      assert.equal(a.isCurrent(), true)
      renameSync(path, path + '.moved')
      assert.equal(a.isCurrent(), false)
      writeFileSync(path, '')
      assert.equal(a.isCurrent(), false)
      const b = open(path)
      assert.equal(b.isCurrent(), true)
      b.close()
    } finally {
      a.close()
    }
  })

  test('noFollow refuses a symbolic link', (t) => {
    const target = lockPath('target')
    writeFileSync(target, '')
    const link = lockPath('link')
    try {
      symlinkSync(target, link, 'file')
    } catch (error) {
      // Creating symbolic links needs a privilege (or developer mode) on Windows.
      t.skip(`cannot create a symbolic link here: ${(error as NodeJS.ErrnoException).code}`)
      return
    }
    if (!existsSync(link) || !lstatSync(link).isSymbolicLink()) {
      // Wine 8 reports success for CreateSymbolicLinkW but creates nothing.
      t.skip('symbolic links are not implemented here')
      return
    }
    assert.throws(() => LockFile.open(link, { backend: 'windows', noFollow: true }), { code: 'ELOOP' })
    const followed = LockFile.open(link, { backend: 'windows' })
    const direct = open(target)
    try {
      assert.equal(followed.tryLock(), true)
      assert.equal(direct.tryLock(), false)
    } finally {
      followed.close()
      direct.close()
    }
  })
})
