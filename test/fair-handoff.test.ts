// A process that releases a lock and at once asks for it again must not keep it
// from a waiter in another process (flock and fcntl wake waiters in no order:
// trying on the spot would win every time). See lib/retake.ts.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { setImmediate as turn } from 'node:timers/promises'
import { holders, Lock, type LockOptions } from '../lib/index'
import { Holder, isLinux, tempDir, waitFor } from './helpers'

const dir = tempDir()
let counter = 0

/**
 * The most re-takes a waiter elsewhere may see before it gets in: 0 observed on
 * a quiet machine; with both CPUs kept busy by other processes, up to 8 (the
 * waiter's process has to be scheduled to take its turn).
 */
const MAX_RETAKES = 20
const GIVE_UP = 300

/** Acquires; resolves once held, to whether acquire() resolved on the spot (before one turn of the microtask queue). */
async function acquireOnSpot (lock: Lock): Promise<boolean> {
  let settled = false
  const held = lock.acquire().then(() => { settled = true })
  const onSpot = Promise.resolve().then(() => settled)
  await held
  return await onSpot
}

/**
 * This process holds the lock while another one waits for it, then releases
 * and re-acquires in a loop (a new Lock each time with `fresh`). Returns how
 * many times it got the lock back before the other process got it, and
 * whether its first re-take resolved on the spot.
 */
async function retakesBeforeTheWaiter (options: LockOptions, fresh: boolean): Promise<{ retakes: number, firstOnSpot: boolean }> {
  const path = join(dir, `fair-${++counter}.lock`)
  const waiter = await Holder.start()
  let lock = new Lock(path, options)
  await lock.acquire()
  try {
    let inside = false
    const got = waiter.send({ cmd: 'acquire', path, options }).then(async (reply) => {
      assert.equal(reply.event, 'acquired')
      inside = true
      await waiter.send({ cmd: 'release' })
    })
    await waitFor(() => holders(path).some((h) => h.waiting && h.pid === waiter.child.pid) || undefined)
    let retakes = 0
    let firstOnSpot: boolean | undefined
    while (retakes < GIVE_UP) {
      lock.release()
      if (fresh) lock = new Lock(path, options)
      const onSpot = await acquireOnSpot(lock) // once the waiter is in, this waits until it lets go
      firstOnSpot ??= onSpot
      if (inside) break
      retakes++
      await turn() // let the waiter's reply in
    }
    if (!inside) lock.release() // gave up: let the waiter in, so the assertion below reports the count
    await got
    return { retakes, firstOnSpot: firstOnSpot ?? false }
  } finally {
    lock.release()
    await waiter.kill()
  }
}

describe('a process re-taking a lock in a loop lets a waiter of another process in', { skip: !isLinux }, () => {
  for (const backend of ['flock', 'ofd', 'posix'] as const) {
    test(`${backend}: the same Lock, released and acquired again at once`, async () => {
      const { retakes, firstOnSpot } = await retakesBeforeTheWaiter({ backend }, false)
      assert.equal(firstOnSpot, false, 'the re-take waited its turn in the kernel')
      assert.ok(retakes <= MAX_RETAKES, `the waiter got in after ${retakes} re-takes`)
    })
  }

  test('a new Lock for each acquire (as withLock does)', async () => {
    const { retakes, firstOnSpot } = await retakesBeforeTheWaiter({}, true)
    assert.equal(firstOnSpot, false, 'the re-take waited its turn in the kernel')
    assert.ok(retakes <= MAX_RETAKES, `the waiter got in after ${retakes} re-takes`)
  })

  test('an uncontended loop still takes the lock on the spot: the waiter thread is used once per many acquires', async () => {
    const path = join(dir, `fair-${++counter}.lock`)
    const lock = new Lock(path)
    let spot = 0
    for (let i = 0; i < 2000; i++) {
      if (await acquireOnSpot(lock)) spot++
      lock.release()
    }
    assert.ok(spot >= 1900, `${spot} of 2000 acquires on the spot`)
  })
})
