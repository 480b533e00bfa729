// portable: also run under Windows (Wine) by scripts/test-wine.sh
// The addon itself: the committed prebuild matches the sources, it loads in
// worker threads and cleans up after them, bad input is refused with a code and
// leaks nothing, and long runs stay flat.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, symlinkSync, chmodSync, existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { LockFile, Lock, LockError } from '../lib/index'
import { native, packageRoot } from '../lib/native'
import { flockCommandCanLock, isLinux, openFdCount, sleep, tempDir, waiterThreadCountSettled } from './helpers'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { sourceHash, ALL_FILES } = require(join(packageRoot, 'scripts', 'source-hash.js')) as { sourceHash: () => string, ALL_FILES: string[] }

const dir = tempDir()
let counter = 0
const newPath = (): string => join(dir, `native-${++counter}.lock`)

describe('prebuilds', () => {
  test('the source hash covers every native source file', () => {
    for (const file of readdirSync(join(packageRoot, 'src'))) {
      assert.ok(ALL_FILES.includes(`src/${file}`), `src/${file} is not in scripts/source-hash.js`)
    }
  })

  test('the loaded addon was built from the sources in this tree', () => {
    assert.equal(native.sourceHash, sourceHash(), 'rebuild the addon and prebuilds/ (npm run prebuilds)')
  })

  test('the committed prebuild for this platform matches the sources', () => {
    // The file node-gyp-build picks here: on musl (Alpine, or LIBC=musl) the tagged one.
    const musl = process.platform === 'linux' && (process.env.LIBC || (existsSync('/etc/alpine-release') ? 'musl' : 'glibc')) === 'musl'
    const prebuild = join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`, musl ? 'locksmith.musl.node' : 'locksmith.node')
    assert.ok(existsSync(prebuild), `missing ${prebuild}`)
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loaded = require(prebuild) as { sourceHash: string }
    assert.equal(loaded.sourceHash, sourceHash(), 'prebuilds/ is stale: run npm run prebuilds and commit it')
  })
})

describe('the table of open files', () => {
  test('a closed id is EBADF and never names a file opened later', () => {
    const backend = process.platform === 'win32' ? 3 : 0 // windows or flock (src/lock.h)
    const first = native.open(newPath(), false, 0o644)
    native.close(first)
    const second = native.open(newPath(), false, 0o644)
    try {
      assert.notEqual(second, first)
      assert.throws(() => native.tryLock(first, backend, true), { code: 'EBADF' })
      assert.throws(() => native.close(first), { code: 'EBADF' })
      assert.equal(native.tryLockWhole(first, backend, true), -9) // -EBADF
      assert.equal(native.tryLockWhole(second, backend, true), 1)
      assert.equal(native.cancel(second), false, 'nothing to cancel')
    } finally {
      native.close(second)
    }
  })
})

describe('worker threads', { skip: !isLinux }, () => {
  const runWorker = (path: string, wait: boolean): { worker: Worker, messages: string[], next: () => Promise<string> } => {
    const worker = new Worker(join(__dirname, 'fixtures', 'worker-lock.js'), { workerData: { path, wait } })
    const messages: string[] = []
    const next = async (): Promise<string> => {
      const [message] = await once(worker, 'message') as [string]
      messages.push(message)
      return message
    }
    return { worker, messages, next }
  }

  test('locks in a worker exclude the main thread; terminating the worker releases them', async () => {
    const path = newPath()
    const { worker, next } = runWorker(path, false)
    assert.equal(await next(), 'acquired')
    using file = LockFile.open(path)
    assert.equal(file.tryLock(), false)
    await worker.terminate()
    // Node frees a worker's environment before terminate() resolves; Bun and
    // Deno resolve first and free it a few milliseconds later.
    if (process.versions.bun === undefined && process.versions.deno === undefined) {
      assert.equal(file.tryLock(), true, 'released by the time terminate() resolves')
      return
    }
    let free = file.tryLock()
    for (let waited = 0; !free && waited < 2000; waited += 5) {
      await sleep(5)
      free = file.tryLock()
    }
    assert.equal(free, true, 'released within 2 s of terminate()')
  })

  test('a worker terminated mid-wait: no crash, its thread joined, nothing held', async () => {
    const path = newPath()
    using file = LockFile.open(path)
    file.tryLock()
    const threadsBefore = await waiterThreadCountSettled(0)
    const { worker, next } = runWorker(path, true)
    assert.equal(await next(), 'waiting')
    await sleep(30)
    await worker.terminate()
    file.unlock()
    await sleep(30)
    assert.equal(flockCommandCanLock(path), true, 'the cancelled wait must not have taken the lock')
    assert.equal(await waiterThreadCountSettled(threadsBefore), threadsBefore, 'no waiter thread left behind')
  })
})

describe('bad input gets a typed error and leaks nothing', { skip: !isLinux }, () => {
  // Only descriptors of this test's files: the addon opens nothing else, and
  // Bun opens and closes descriptors of its own at any time.
  const fdsBefore = openFdCount(dir)
  const blocked = join(dir, 'no-access')
  mkdirSync(blocked, { mode: 0o000 })
  const loop = join(dir, 'loop')
  symlinkSync(loop, loop)
  const link = join(dir, 'link.lock')
  symlinkSync(newPath(), link)
  const regular = newPath()
  const asRoot = process.getuid?.() === 0

  const openCases: Array<[string, () => unknown, string]> = [
    ['empty path', () => LockFile.open(''), 'ERR_INVALID_ARG_VALUE'],
    ['NUL byte in path', () => LockFile.open('a\0b'), 'ERR_INVALID_ARG_VALUE'],
    ['path of the wrong type', () => LockFile.open(42 as unknown as string), 'ERR_INVALID_ARG_TYPE'],
    ['an exclusive fcntl lock on a directory (opened read-only)', () => {
      using file = LockFile.open(dir, { backend: 'ofd' })
      file.tryLock()
    }, 'EBADF'],
    ['missing parent directory', () => LockFile.open(join(dir, 'missing', 'x.lock')), 'ENOENT'],
    ['path too long', () => LockFile.open(join(dir, 'x'.repeat(300))), 'ENAMETOOLONG'],
    ['symlink loop', () => LockFile.open(loop), 'ELOOP'],
    ['symlink refused by noFollow', () => LockFile.open(link, { noFollow: true }), 'ELOOP'],
    ['unknown backend', () => LockFile.open(regular, { backend: 'nfs' as 'flock' }), 'ERR_INVALID_ARG_VALUE'],
    ['backend of another platform', () => LockFile.open(regular, { backend: 'windows' }), 'ERR_LOCK_BACKEND_UNSUPPORTED'],
    ['options not an object', () => LockFile.open(regular, 'flock' as unknown as object), 'ERR_INVALID_ARG_TYPE'],
    ['permissions out of range', () => LockFile.open(regular, { permissions: 0o17777 }), 'ERR_OUT_OF_RANGE'],
    ['noFollow not a boolean', () => LockFile.open(regular, { noFollow: 1 as unknown as boolean }), 'ERR_INVALID_ARG_TYPE']
  ]
  if (!asRoot) openCases.push(['no permission', () => LockFile.open(join(blocked, 'x.lock')), 'EACCES'])

  for (const [name, fn, code] of openCases) {
    test(name, () => {
      assert.throws(fn, (error: NodeJS.ErrnoException) => {
        assert.equal(error.code, code)
        assert.ok(error.message.length > 0)
        return true
      })
    })
  }

  test('system errors carry errno, syscall and path like fs errors', () => {
    const missing = join(dir, 'missing', 'x.lock')
    assert.throws(() => LockFile.open(missing), (error: NodeJS.ErrnoException) => {
      assert.equal(error.code, 'ENOENT')
      assert.equal(error.errno, -2)
      assert.equal(error.syscall, 'open')
      assert.equal(error.path, missing)
      assert.match(error.message, /^ENOENT: no such file or directory, open '/)
      return error instanceof LockError
    })
  })

  const lockCases: Array<[string, (file: LockFile) => unknown, string]> = [
    ['bad mode name', (f) => f.tryLock({ mode: 'write' as 'shared' }), 'ERR_INVALID_ARG_VALUE'],
    ['negative range start', (f) => f.tryLock({ range: { start: -1, length: 1 } }), 'ERR_OUT_OF_RANGE'],
    ['unsafe range length', (f) => f.tryLock({ range: { start: 0, length: 2 ** 53 } }), 'ERR_OUT_OF_RANGE'],
    ['fractional range', (f) => f.tryLock({ range: { start: 0.5, length: 1 } }), 'ERR_OUT_OF_RANGE'],
    ['range end past 2^53', (f) => f.tryLock({ range: { start: 2 ** 52, length: 2 ** 52 } }), 'ERR_OUT_OF_RANGE'],
    ['range of the wrong type', (f) => f.tryLock({ range: '0-1' as unknown as { start: number, length: number } }), 'ERR_INVALID_ARG_TYPE'],
    ['range on the flock backend', (f) => f.tryLock({ range: { start: 0, length: 1 } }), 'ERR_INVALID_ARG_VALUE'],
    ['negative timeout', (f) => f.lockSync({ timeout: -5 }), 'ERR_OUT_OF_RANGE'],
    ['unlock without a lock', (f) => f.unlock(), 'ERR_LOCK_NOT_HELD'],
    ['unlocking twice', (f) => { f.tryLock(); f.unlock(); f.unlock() }, 'ERR_LOCK_NOT_HELD'],
    ['using a closed handle', (f) => { f.close(); f.tryLock() }, 'EBADF'],
    ['closing twice', (f) => { f.close(); f.close() }, 'EBADF']
  ]
  for (const [name, fn, code] of lockCases) {
    test(name, () => {
      const file = LockFile.open(regular, { backend: 'flock' })
      try {
        assert.throws(() => fn(file), { code })
      } finally {
        if (!file.closed) file.close()
      }
    })
  }

  test('async misuse rejects rather than throws', async () => {
    using file = LockFile.open(regular)
    await assert.rejects(file.lock({ signal: 'no' as unknown as AbortSignal }), { code: 'ERR_INVALID_ARG_TYPE' })
    await assert.rejects(new Lock(regular).acquire({ blocking: 'yes' as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' })
  })

  test('no descriptor leaked by any of the above', () => {
    chmodSync(blocked, 0o700)
    assert.equal(openFdCount(dir), fdsBefore)
  })
})

describe('long runs stay flat', { skip: !isLinux }, () => {
  test('100,000 lock/unlock cycles: descriptors and RSS do not grow', () => {
    const path = newPath()
    const fdsBefore = openFdCount()
    using file = LockFile.open(path)
    const cycle = (n: number): void => {
      for (let i = 0; i < n; i++) {
        file.tryLock()
        file.unlock()
      }
    }
    cycle(20_000) // warm up: let the heap reach its working size
    global.gc?.()
    const rssBefore = process.memoryUsage().rss
    cycle(100_000)
    global.gc?.()
    const growth = process.memoryUsage().rss - rssBefore
    assert.ok(growth < 16 * 1024 * 1024, `RSS grew by ${growth} bytes`)
    assert.equal(openFdCount(), fdsBefore + 1)
  })

  test('10,000 open/lock/close cycles with Lock: no descriptor left', () => {
    const path = newPath()
    const fdsBefore = openFdCount()
    for (let i = 0; i < 10_000; i++) {
      const lock = new Lock(path)
      lock.tryAcquire()
      lock.release()
    }
    assert.equal(openFdCount(), fdsBefore)
  })
})
