// Lock beside Python's filelock (Debian's python3-filelock) on one file.
// FileLock is UnixFileLock on Linux: flock(LOCK_EX) on the path, which the
// default backend ('auto' = flock for whole files) excludes both ways; fcntl
// backends ('ofd', 'posix') do not see flock locks. SoftFileLock is the file's
// existence, not a kernel lock: it does not interoperate, and the tests show how.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Lock } from '../lib/index'
import { isLinux, sleep, tempDir } from './helpers'
import { PythonPeer, skipUnless, stillPending } from './interop-peer'

const skip = skipUnless(['filelock'])

describe('Lock and Python filelock', { skip }, () => {
  let py: PythonPeer
  const dir = tempDir('locksmith-filelock-')
  let counter = 0
  const fresh = (): string => join(dir, `file-${++counter}.lock`)

  before(async () => { py = await PythonPeer.start(['filelock']) })
  after(async () => { await py?.close() })

  for (const kind of ['FileLock', 'UnixFileLock'] as const) {
    test(`${kind} holds: Lock is kept out, waits, and gets it on release`, async (t) => {
      if (kind === 'FileLock') {
        const { versions } = await py.request('versions', { modules: ['filelock'] })
        t.diagnostic(`filelock ${(versions as Record<string, string>).filelock}`)
      }
      const path = fresh()
      const theirs = await py.take('filelock', { kind, path, blocking: false })
      assert.equal(theirs.event, 'acquired')
      const lock = new Lock(path)
      assert.equal(lock.tryAcquire(), false)
      assert.equal(await new Lock(path, { blocking: false }).acquire(), false)
      const waiting = lock.acquire()
      assert.equal(await stillPending(waiting, 300), true)
      await py.release(theirs.id)
      assert.equal(await waiting, true)
      lock.release()
    })

    test(`Lock holds: ${kind} is kept out, waits, and gets it on release`, async () => {
      const path = fresh()
      const lock = new Lock(path)
      await lock.acquire()
      assert.equal((await py.take('filelock', { kind, path, blocking: false })).event, 'busy')
      const waiting = py.start('filelock', { kind, path })
      await sleep(300)
      assert.deepEqual(py.events(waiting), [])
      lock.release()
      await py.waitFor(waiting, ['acquired'])
      assert.equal(new Lock(path).tryAcquire(), false)
      await py.release(waiting)
    })
  }

  test('fcntl backends (ofd, posix) do not see filelock\'s flock locks', { skip: !isLinux && 'Linux backends' }, async () => {
    const path = fresh()
    const theirs = await py.take('filelock', { kind: 'FileLock', path, blocking: false })
    for (const backend of ['ofd', 'posix'] as const) {
      const lock = new Lock(path, { backend })
      assert.equal(lock.tryAcquire(), true, backend)
      lock.release()
    }
    await py.release(theirs.id)
  })

  test('SoftFileLock does not interoperate: it only looks at whether the file exists', async () => {
    const path = fresh()
    // Its held "lock" is a file: a kernel lock on that file is free.
    const theirs = await py.take('filelock', { kind: 'SoftFileLock', path, blocking: false })
    assert.equal(theirs.event, 'acquired')
    const lock = new Lock(path)
    assert.equal(lock.tryAcquire(), true, 'Lock is not kept out by a SoftFileLock holder')
    lock.release()
    await py.release(theirs.id)
    assert.equal(existsSync(path), false)
    // A Lock's file stays after release, so SoftFileLock is kept out whether or not anyone holds it...
    const ours = new Lock(path)
    ours.tryAcquire()
    ours.release()
    assert.equal((await py.take('filelock', { kind: 'SoftFileLock', path, blocking: false })).event, 'busy')
    // ...unless the Lock deletes it on release (removeOnRelease).
    const removing = new Lock(path, { removeOnRelease: true })
    assert.equal(removing.tryAcquire(), true)
    assert.equal((await py.take('filelock', { kind: 'SoftFileLock', path, blocking: false })).event, 'busy')
    removing.release()
    const after = await py.take('filelock', { kind: 'SoftFileLock', path, blocking: false })
    assert.equal(after.event, 'acquired')
    await py.release(after.id)
  })
})
