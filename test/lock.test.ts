// portable: also run under Windows (Wine) by scripts/test-wine.sh
// Lock and withLock: the public API across real processes and within one.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync, renameSync, symlinkSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { Lock, LockBusyError, LockError, LockTimeoutError, withLock } from '../lib/index'
import { slotCounts } from '../lib/slot'
import { Holder, flockCommandCanLock, isLinux, sleep, tempDir, waiterThreadCount, waiterThreadCountSettled } from './helpers'

const run = promisify(execFile)
const scenarios = join(__dirname, 'fixtures', 'lock-scenarios.js')
const dir = tempDir()
let counter = 0
const newPath = (): string => join(dir, `lock-${++counter}.lock`)

describe('Lock in one process', () => {
  test('non-blocking acquire, then block() until the holder releases; release() really releases', async () => {
    const path = newPath()
    const first = new Lock(path)
    const second = new Lock(path, { blocking: false })
    assert.equal(await first.acquire(), true)
    assert.equal(await second.acquire(), false)
    assert.equal(second.acquired, false)
    const blocked = second.block()
    await sleep(10)
    assert.equal(first.release(), true)
    assert.equal(await blocked, true)
    assert.equal(second.acquired, true)
    assert.equal(second.release(), true)
    assert.equal(second.release(), false)
    if (isLinux) assert.equal(flockCommandCanLock(path), true, 'released for other processes too')
  })

  test('blocking: a number is a timeout (LockTimeoutError, ETIMEDOUT); per-call options override', async () => {
    const path = newPath()
    const holder = await Lock.acquire(path)
    const waiter = new Lock(path, { blocking: 20 })
    await assert.rejects(waiter.acquire(), (error) => error instanceof LockTimeoutError && error.code === 'ETIMEDOUT')
    assert.equal(await waiter.acquire({ blocking: false }), false)
    holder.release()
    assert.equal(await waiter.acquire(), true)
    // Infinity is "as long as it takes", not a timer that fires at once.
    const patient = new Lock(path, { blocking: Infinity })
    const pending = patient.acquire()
    await sleep(30)
    waiter.release()
    assert.equal(await pending, true)
    patient.release()
  })

  test('an AbortSignal rejects with its reason and leaves the queue', async () => {
    const path = newPath()
    const holder = await Lock.acquire(path)
    const controller = new AbortController()
    const waiter = new Lock(path, { signal: controller.signal })
    const pending = waiter.acquire()
    await sleep(5)
    controller.abort(new Error('changed my mind'))
    await assert.rejects(pending, /changed my mind/)
    assert.equal(waiter.acquired, false)
    // An aborted signal fails at once.
    await assert.rejects(new Lock(path).acquire({ signal: AbortSignal.abort('no') }), (reason) => reason === 'no')
    holder.release()
    const next = await Lock.acquire(path, { blocking: false })
    next.release()
  })

  test('Lock.acquire rejects with LockBusyError (ELOCKED) when non-blocking and busy', async () => {
    const path = newPath()
    const holder = await Lock.acquire(path)
    await assert.rejects(Lock.acquire(path, { blocking: false }), (error) => error instanceof LockBusyError && error.code === 'ELOCKED')
    holder.release()
  })

  test('no silent reentrancy: acquiring a held Lock rejects', async () => {
    const lock = await Lock.acquire(newPath())
    await assert.rejects(lock.acquire(), (error) => error instanceof LockError && error.code === 'ERR_LOCK_ALREADY_HELD')
    assert.throws(() => lock.tryAcquire(), { code: 'ERR_LOCK_ALREADY_HELD' })
    lock.release()
  })

  test('await using releases at the end of the scope, also on throw', async () => {
    const path = newPath()
    await assert.rejects((async () => {
      await using held = await Lock.acquire(path)
      assert.equal(held.acquired, true)
      throw new Error('boom')
    })(), /boom/)
    const again = new Lock(path)
    assert.equal(again.tryAcquire(), true)
    again.release()
  })

  test('withLock releases when fn throws and returns what fn returns', async () => {
    const path = newPath()
    await assert.rejects(withLock(path, () => { throw new Error('inside') }), /inside/)
    assert.equal(await withLock(path, async () => 42), 42)
    assert.equal(slotCounts().inUse, 0, 'nothing held, awaited or open')
  })

  test('idle slots kept for reuse stay bounded, and one made with other options is not reused', () => {
    for (let i = 0; i < 1000; i++) {
      const lock = new Lock(join(dir, `many-${i}.lock`))
      assert.equal(lock.tryAcquire(), true)
      lock.release()
    }
    const { inUse, kept } = slotCounts()
    assert.equal(inUse, 0)
    assert.ok(kept <= 256, `${kept} idle slots kept`)
    if (process.platform === 'win32') return
    const target = newPath()
    const link = `${target}.link`
    symlinkSync(target, link)
    const plain = new Lock(link)
    assert.equal(plain.tryAcquire(), true)
    plain.release()
    assert.throws(() => new Lock(link, { noFollow: true }).tryAcquire(), { code: 'ELOOP' })
    assert.equal(slotCounts().inUse, 0)
  })

  for (const backend of isLinux ? ['flock', 'ofd', 'posix'] as const : ['auto'] as const) {
    test(`two Lock objects on one path exclude each other in FIFO order (${backend})`, async () => {
      const path = newPath()
      const first = await Lock.acquire(path, { backend })
      assert.equal(new Lock(path, { backend }).tryAcquire(), false)
      const order: number[] = []
      const waits = [1, 2, 3, 4, 5].map((i) => withLock(path, async () => {
        order.push(i)
        await sleep(1)
      }, { backend }))
      await sleep(5)
      first.release()
      await Promise.all(waits)
      assert.deepEqual(order, [1, 2, 3, 4, 5])
    })
  }

  test('shared holders in one process coexist; an exclusive waiter keeps later shared ones behind it', async () => {
    const path = newPath()
    const a = await Lock.acquire(path, { mode: 'shared' })
    const b = await Lock.acquire(path, { mode: 'shared' })
    const order: string[] = []
    const writer = withLock(path, () => { order.push('writer') })
    const reader = withLock(path, () => { order.push('reader') }, { mode: 'shared' })
    await sleep(5)
    assert.deepEqual(order, [])
    a.release()
    b.release()
    await Promise.all([writer, reader])
    assert.deepEqual(order, ['writer', 'reader'])
  })

  test('acquireSync: timeout, and EDEADLK instead of waiting forever for this thread', async () => {
    const path = newPath()
    const held = await Lock.acquire(path)
    const other = new Lock(path)
    assert.throws(() => other.acquireSync(), { code: 'EDEADLK' })
    assert.equal(other.acquireSync({ blocking: false }), false)
    held.release()
    assert.equal(other.acquireSync({ blocking: 100 }), true)
    other.release()
  })

  test('1,000 waiters in one process use one native thread, and the event loop stays responsive', { skip: !isLinux }, async () => {
    const path = newPath()
    const holder = await Holder.start()
    try {
      assert.equal((await holder.send({ cmd: 'acquire', path })).event, 'acquired')
      const threadsBefore = await waiterThreadCountSettled(0)
      const histogram = monitorEventLoopDelay({ resolution: 10 })
      histogram.enable()
      const locks = Array.from({ length: 1000 }, () => new Lock(path))
      let done = 0
      const waits = locks.map(async (lock) => {
        await lock.acquire()
        done++
        lock.release()
      })
      await sleep(100)
      assert.equal(waiterThreadCount(), threadsBefore + 1, 'one native waiter thread for 1,000 waiting acquires')
      assert.equal(done, 0)
      await holder.send({ cmd: 'release' })
      await Promise.all(waits)
      histogram.disable()
      assert.equal(done, 1000)
      assert.ok(histogram.max / 1e6 < 1000, `event loop blocked for ${histogram.max / 1e6} ms`)
    } finally {
      await holder.kill()
    }
  })
})

describe('Lock across worker threads', () => {
  test('a Lock in a worker and one in the main thread exclude each other; the worker waits, then gets it', async () => {
    const path = newPath()
    const held = await Lock.acquire(path)
    const worker = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads')
      const { Lock } = require(workerData.index)
      ;(async () => {
        const lock = new Lock(workerData.path)
        parentPort.postMessage(await lock.acquire({ blocking: false }) ? 'acquired' : 'busy')
        await lock.block()
        parentPort.postMessage('acquired after waiting')
        lock.release()
        parentPort.postMessage('released')
      })()
    `, { eval: true, workerData: { path, index: join(__dirname, '..', 'lib', 'index.js') } })
    // Queue messages as they come: two can arrive in one turn of the event loop.
    const messages: string[] = []
    const waiting: Array<(message: string) => void> = []
    worker.on('message', (message: string) => {
      const waiter = waiting.shift()
      if (waiter !== undefined) waiter(message)
      else messages.push(message)
    })
    const nextMessage = async (): Promise<string> => {
      const queued = messages.shift()
      return queued ?? await new Promise<string>((resolve) => waiting.push(resolve))
    }
    assert.equal(await nextMessage(), 'busy')
    await sleep(20)
    held.release()
    assert.equal(await nextMessage(), 'acquired after waiting')
    assert.equal(await nextMessage(), 'released')
    await worker.terminate()
    const again = await Lock.acquire(path, { blocking: false })
    again.release()
  })
})

describe('Lock across processes', { skip: !isLinux }, () => {
  let holder: Holder
  test('start holder', async () => { holder = await Holder.start() })
  after(async () => { await holder?.kill() })

  test("cli2's sequence: one process downloads, the other blocks, then both upload", async () => {
    const path = newPath()
    const log = join(dir, 'cli2.log')
    writeFileSync(log, '')
    await Promise.all([run(process.execPath, [scenarios, 'cli2', path, log]), run(process.execPath, [scenarios, 'cli2', path, log])])
    const lines = readFileSync(log, 'utf8').trim().split('\n')
    assert.equal(lines.filter((l) => l.startsWith('download')).length, 1, lines.join('\n'))
    assert.equal(lines.filter((l) => l.startsWith('upload')).length, 2)
    // The loser may log "busy" before the winner logs "download"; what matters is
    // that no upload comes before the download.
    const firstUpload = lines.findIndex((l) => l.startsWith('upload'))
    assert.ok(lines.findIndex((l) => l.startsWith('download')) < firstUpload, 'the download happens before any upload')
    assert.equal(lines.filter((l) => l.startsWith('busy')).length, 1, 'the other process found the lock busy and blocked')
  })

  test('timeout and abort during a wait on another process', async () => {
    const path = newPath()
    assert.equal((await holder.send({ cmd: 'acquire', path })).event, 'acquired')
    await assert.rejects(new Lock(path).acquire({ blocking: 30 }), { code: 'ETIMEDOUT' })
    const controller = new AbortController()
    const pending = new Lock(path).acquire({ signal: controller.signal })
    setTimeout(() => controller.abort(new Error('abort')), 20)
    await assert.rejects(pending, /abort/)
    assert.equal((await holder.send({ cmd: 'release' })).released, true)
    assert.equal(flockCommandCanLock(path), true, 'the cancelled waits hold nothing')
  })

  test('abort racing a grant: the Lock either holds it or leaves it free, never stuck', async () => {
    const path = newPath()
    for (let round = 0; round < 30; round++) {
      assert.equal((await holder.send({ cmd: 'acquire', path })).event, 'acquired')
      const controller = new AbortController()
      const lock = new Lock(path, { signal: controller.signal })
      const outcome = lock.acquire().then(() => true, () => false)
      await sleep(2)
      holder.post({ cmd: 'release' })
      await sleep(round % 3)
      controller.abort()
      const got = await outcome
      await holder.next()
      assert.equal(lock.acquired, got)
      assert.equal(flockCommandCanLock(path), !got, `round ${round}`)
      lock.release()
      const next = new Lock(path)
      assert.equal(next.tryAcquire(), true, `round ${round}: the slot must not be left held by nobody`)
      next.release()
    }
  })

  test('a waiter in another process gets the lock when this one releases', async () => {
    const path = newPath()
    const lock = await Lock.acquire(path)
    holder.post({ cmd: 'acquire', path })
    await sleep(30)
    lock.release()
    assert.equal((await holder.next()).event, 'acquired')
    assert.equal(await new Lock(path).acquire({ blocking: false }), false)
    await holder.send({ cmd: 'release' })
  })

  test('the file replaced during a wait: the granted lock on the old file is dropped, the new file is locked', async () => {
    const path = newPath()
    assert.equal((await holder.send({ cmd: 'acquire', path })).event, 'acquired')
    const threadsBefore = await waiterThreadCountSettled(0)
    const lock = new Lock(path)
    const acquired = lock.acquire()
    assert.equal(await waiterThreadCountSettled(threadsBefore + 1), threadsBefore + 1, 'in the kernel wait now')
    renameSync(path, `${path}.old`)
    writeFileSync(path, '')
    assert.equal((await holder.send({ cmd: 'release' })).released, true)
    assert.equal(await acquired, true)
    assert.equal(flockCommandCanLock(path), false, 'the file the path names is the one held')
    assert.equal(flockCommandCanLock(`${path}.old`), true, 'the grant on the replaced file was given back')
    lock.release()
    assert.equal(flockCommandCanLock(path), true)
  })

  test('removeOnRelease: 4 processes x 150 increments under a lock whose file is removed each time, no lost update', async () => {
    const path = newPath()
    const counterFile = join(dir, 'counter')
    writeFileSync(counterFile, '0')
    const rounds = 150
    await Promise.all([1, 2, 3, 4].map(() => run(process.execPath, [scenarios, 'counter', path, counterFile, String(rounds)])))
    assert.equal(Number(readFileSync(counterFile, 'utf8')), 4 * rounds)
    assert.equal(existsSync(path), false, 'the last release removed the file')
  })
})
