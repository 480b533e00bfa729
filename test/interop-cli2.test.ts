// Lock beside cli2's Lock, the third library locksmith is modelled on: flock on
// a path opened 'w+', blocking, or non-blocking and then block(); on release it
// unlocks, closes and deletes the file. cli2 is not packaged for Debian, so a
// Python process makes exactly those calls (test/fixtures/interop/peer.py).
// The sequence is cli2's documented example: one process gets the lock, the
// other is told it is busy, waits with block(), and gets it once released.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Lock } from '../lib/index'
import { sleep, tempDir } from './helpers'
import { PythonPeer, skipUnless, stillPending } from './interop-peer'

const skip = skipUnless([])

describe("Lock and cli2's Lock (flock, non-blocking then block())", { skip }, () => {
  let py: PythonPeer
  const dir = tempDir('locksmith-cli2-')
  let counter = 0
  const fresh = (): string => join(dir, `cli2-${++counter}.lock`)

  before(async () => { py = await PythonPeer.start([]) })
  after(async () => { await py?.close() })

  test('cli2 holds: Lock acquired false, block() waits, acquired after cli2 releases', async (t) => {
    const path = fresh()
    const theirs = await py.take('cli2', { path, blocking: true })
    assert.equal(theirs.event, 'acquired')
    const lock = new Lock(path, { blocking: false })
    assert.equal(await lock.acquire(), false, 'busy: not acquired')
    assert.equal(lock.acquired, false)
    const blocked = lock.block()
    assert.equal(await stillPending(blocked, 300), true, 'waiting')
    await py.release(theirs.id) // unlock, close, delete the file
    assert.equal(await blocked, true)
    assert.equal(lock.acquired, true, 'acquired after release')
    // cli2 deletes the file after unlocking it. If the deletion came before our grant was
    // checked, the Lock noticed and locked the new file; if it came just after, we hold the
    // deleted file and a newcomer creates another: cli2's own race (two cli2 processes
    // meet it too), which no waiter can close. Either way the sequence above held.
    const next = await py.take('cli2', { path, blocking: false })
    if (existsSync(path) && next.event === 'busy') {
      assert.equal(lock.release(), true)
      await py.waitFor(next.id, ['acquired'])
    } else {
      t.diagnostic('cli2 deleted the file after the Lock was granted: a newcomer got a new file')
      assert.equal(next.event, 'acquired')
      lock.release()
    }
    await py.release(next.id)
  })

  test('Lock holds: cli2 is not acquired, block()s, and is acquired after release', async () => {
    const path = fresh()
    const lock = new Lock(path, { blocking: false })
    assert.equal(await lock.acquire(), true)
    const theirs = py.send('cli2', { path, blocking: false })
    await py.waitFor(theirs, ['waiting'])
    assert.deepEqual(py.events(theirs), ['busy', 'waiting'])
    await sleep(200)
    assert.equal(py.events(theirs).includes('acquired'), false)
    lock.release()
    await py.waitFor(theirs, ['acquired'])
    assert.equal(lock.tryAcquire(), false)
    await py.release(theirs)
    assert.equal(existsSync(path), false, 'cli2 deletes the file on release')
    assert.equal(lock.tryAcquire(), true)
    lock.release()
  })
})
