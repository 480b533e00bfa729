// Waiter threads are kept between waits: a bounded number stay idle, they end
// after a while, and an interrupt meant for one wait never costs a later wait
// on the same thread its lock.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { LockFile } from '../lib/index'
import { flockCommandCanLock, holdWithFlockCommand, isLinux, tempDir, waitFor, waiterThreadCount, waiterThreadCountSettled } from './helpers'

const MAX_IDLE = 4
const dir = tempDir()
let counter = 0
const newPath = (): string => join(dir, `thread-${++counter}.lock`)

describe('waiter threads are reused', { skip: !isLinux }, () => {
  test('after eight waits end at once, at most four threads stay idle, and none once their idle time is up', async () => {
    await waitFor(() => waiterThreadCount('idle') === 0 || undefined) // none left from other tests
    const paths = Array.from({ length: 8 }, newPath)
    const holders = await Promise.all(paths.map((path) => holdWithFlockCommand(path)))
    const files = paths.map((path) => LockFile.open(path))
    const waits = files.map((file) => file.lock())
    await waitFor(() => waiterThreadCount() === 8 || undefined)
    await Promise.all(holders.map((holder) => holder.kill()))
    await Promise.all(waits)
    assert.equal(await waiterThreadCountSettled(0), 0, 'no thread is still waiting')
    const idle = waiterThreadCount('idle')
    assert.ok(idle >= 1 && idle <= MAX_IDLE, `${idle} idle threads (1 to ${MAX_IDLE} expected)`)
    for (const file of files) {
      assert.equal(flockCommandCanLock(file.path), false, 'each wait holds its lock')
      file.close()
    }
    await waitFor(() => waiterThreadCount('idle') === 0 || undefined, 15_000)
  })

  test('a thread whose wait was just cancelled serves the next wait, which gets its lock (50 times)', async () => {
    const held = newPath()
    const holder = await holdWithFlockCommand(held)
    try {
      for (let i = 0; i < 50; i++) {
        const cancelled = LockFile.open(held)
        const controller = new AbortController()
        const first = cancelled.lock({ signal: controller.signal })
        await waitFor(() => waiterThreadCount() === 1 || undefined)
        controller.abort()
        await assert.rejects(first, { name: 'AbortError' })
        cancelled.close()
        // The next wait starts at once, on the thread the cancelled one just left.
        const next = newPath()
        const nextHolder = await holdWithFlockCommand(next)
        const file = LockFile.open(next)
        const wait = file.lock()
        await waitFor(() => waiterThreadCount() === 1 || undefined)
        await nextHolder.kill()
        await wait
        assert.equal(flockCommandCanLock(next), false, `round ${i}: the later wait holds its lock`)
        file.close()
      }
    } finally {
      await holder.kill()
    }
    assert.equal(await waiterThreadCountSettled(0), 0)
  })
})
