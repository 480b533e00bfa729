// Asynchronous waits: native threads instead of the libuv pool, cancellation by
// timeout and AbortSignal, and what is left behind afterwards (nothing).
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { pbkdf2 } from 'node:crypto'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { LockFile, LockTimeoutError } from '../lib/index'
import { Holder, flockCommandCanLock, isLinux, openFdCount, sleep, tempDir, waiterThreadCount, waiterThreadCountSettled } from './helpers'

const dir = tempDir()
let counter = 0
const newPath = (): string => join(dir, `wait-${++counter}.lock`)

describe('waiting without the thread pool', { skip: !isLinux }, () => {
  let holder: Holder
  test('start holder', async () => { holder = await Holder.start() })
  after(async () => { await holder?.kill() })

  test('64 blocked waiters leave fs and crypto working, then all acquire in turn', async () => {
    const path = newPath()
    assert.equal((await holder.send({ cmd: 'lockfile', path, backend: 'flock', mode: 'exclusive' })).event, 'acquired')
    const files = Array.from({ length: 64 }, () => LockFile.open(path))
    const order: number[] = []
    const waits = files.map(async (file, i) => {
      await file.lock()
      order.push(i)
      await sleep(1)
      file.unlock()
    })
    await sleep(50)
    // With the libuv pool (4 threads) taken by waiters these would never finish
    // while the holder holds (the test would time out).
    await readFile(__filename)
    await promisify(pbkdf2)('secret', 'salt', 1000, 32, 'sha256')
    assert.equal(order.length, 0, 'fs and crypto finished while all 64 were still waiting')
    await holder.send({ cmd: 'unlock' })
    await Promise.all(waits)
    assert.equal(new Set(order).size, 64)
    for (const file of files) file.close()
  })

  test('abort while waiting: rejects with the reason, nothing held, no thread or descriptor left', async () => {
    const path = newPath()
    assert.equal((await holder.send({ cmd: 'lockfile', path, backend: 'flock', mode: 'exclusive' })).event, 'acquired')
    const threadsBefore = await waiterThreadCountSettled(0)
    const fdsBefore = openFdCount()
    const file = LockFile.open(path)
    const controller = new AbortController()
    const waited = file.lock({ signal: controller.signal })
    await sleep(20)
    assert.equal(await waiterThreadCountSettled(threadsBefore + 1), threadsBefore + 1, 'one native waiter thread')
    const reason = new Error('stop')
    controller.abort(reason)
    // Rejected while the other process still holds the lock: the kernel wait was interrupted.
    await assert.rejects(waited, (error) => error === reason)
    file.close()
    await holder.send({ cmd: 'unlock' })
    assert.equal(flockCommandCanLock(path), true)
    assert.equal(await waiterThreadCountSettled(threadsBefore), threadsBefore)
    assert.equal(openFdCount(), fdsBefore)
  })

  test('timeout: LockTimeoutError with code ETIMEDOUT, thread joined', async () => {
    const path = newPath()
    assert.equal((await holder.send({ cmd: 'lockfile', path, backend: 'ofd', mode: 'shared' })).event, 'acquired')
    const threadsBefore = await waiterThreadCountSettled(0)
    using file = LockFile.open(path, { backend: 'ofd' })
    await assert.rejects(file.lock({ timeout: 30 }), (error: LockTimeoutError) => {
      return error instanceof LockTimeoutError && error.code === 'ETIMEDOUT' && error.path === path
    })
    assert.equal(file.heldMode(), undefined)
    assert.equal(await waiterThreadCountSettled(threadsBefore), threadsBefore)
    await holder.send({ cmd: 'unlock' })
  })

  test('abort racing a grant: either we hold the lock or nobody does', async () => {
    const path = newPath()
    let granted = 0
    let cancelled = 0
    for (let round = 0; round < 40; round++) {
      assert.equal((await holder.send({ cmd: 'lockfile', path, backend: 'flock', mode: 'exclusive' })).event, 'acquired')
      const file = LockFile.open(path)
      const controller = new AbortController()
      const waited = file.lock({ signal: controller.signal }).then(() => true, () => false)
      await sleep(2)
      holder.post({ cmd: 'unlock' }) // release in the other process...
      await sleep(round % 4) // ...while we abort at about the same moment
      controller.abort()
      const got = await waited
      await holder.next()
      if (got) granted++
      else cancelled++
      assert.equal(flockCommandCanLock(path), !got, `round ${round}: lock state must match the outcome`)
      file.close()
    }
    assert.equal(granted + cancelled, 40)
  })

  test('synchronous wait with a timeout', async () => {
    const path = newPath()
    assert.equal((await holder.send({ cmd: 'lockfile', path, backend: 'posix', mode: 'exclusive' })).event, 'acquired')
    const threadsBefore = await waiterThreadCountSettled(0)
    using file = LockFile.open(path, { backend: 'posix' })
    assert.throws(() => file.lockSync({ timeout: 20 }), { code: 'ETIMEDOUT' })
    assert.equal(await waiterThreadCountSettled(threadsBefore), threadsBefore)
    await holder.send({ cmd: 'unlock' })
    file.lockSync({ timeout: 1000 })
    assert.equal(file.heldMode(), 'exclusive')
  })

  test('an uncontended acquire starts no thread', async () => {
    const path = newPath()
    const threadsBefore = await waiterThreadCountSettled(0)
    using file = LockFile.open(path)
    await file.lock()
    assert.equal(waiterThreadCount(), threadsBefore)
  })

  // Pitfall 5: a signal arriving during a blocking lock call can make it return
  // EINTR. Signals the process handles must not end a wait, blocking or not,
  // and its handlers must still run (the waiter threads block every signal but
  // their own, so the loop thread takes them).
  const waiterScript = `
const { LockFile } = require(${JSON.stringify(join(__dirname, '..', 'lib', 'index.js'))})
const [path, backend, how] = process.argv.slice(1)
let received = 0
process.on('SIGUSR2', () => { received++ })
const file = LockFile.open(path, { backend })
const report = (line) => process.stdout.write(line + '\\n')
report('waiting')
if (how === 'async') {
  file.lock().then(() => report('acquired, handler ran ' + received + ' times'), (error) => report('failed ' + error.code))
} else {
  try {
    file.lockSync(how === 'sync with timeout' ? { timeout: 30000 } : undefined)
    report('acquired')
  } catch (error) {
    report('failed ' + error.code)
  }
}
`
  const cases = [['flock', 'async'], ['posix', 'sync'], ['ofd', 'sync with timeout']] as const
  for (const [backend, how] of cases) {
    test(`${backend}, ${how}: signals to the waiting process do not end its wait`, async () => {
      const path = newPath()
      assert.equal((await holder.send({ cmd: 'lockfile', path, backend, mode: 'exclusive' })).event, 'acquired')
      const waiter = spawn(process.execPath, ['-e', waiterScript, path, backend, how], { stdio: ['ignore', 'pipe', 'inherit'] })
      let output = ''
      waiter.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
      try {
        while (!output.includes('waiting')) await sleep(5)
        await sleep(100) // in the kernel wait by now
        for (let i = 0; i < 5; i++) {
          waiter.kill('SIGUSR2')
          await sleep(20)
        }
        await sleep(50)
        assert.equal(output, 'waiting\n', 'still waiting after the signals')
        await holder.send({ cmd: 'unlock' })
        await once(waiter, 'exit')
        if (how === 'async') assert.match(output, /^waiting\nacquired, handler ran [1-5] times\n$/)
        else assert.equal(output, 'waiting\nacquired\n')
      } finally {
        waiter.kill('SIGKILL')
      }
    })
  }
})
