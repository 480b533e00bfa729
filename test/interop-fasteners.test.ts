// ReaderWriterLock beside fasteners' InterProcessReaderWriterLock (Debian's
// python3-fasteners) on one file. fasteners takes fcntl.lockf on the whole file,
// shared to read and exclusive to write; ReaderWriterLock takes OFD locks on
// bytes 0 and 1 ('auto' on Linux). OFD and classic POSIX locks conflict, and a
// whole-file lock covers both bytes, so readers share and a writer excludes
// everyone, across the two.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { ReaderWriterLock } from '../lib/index'
import { isLinux, sleep, tempDir } from './helpers'
import { PythonPeer, skipUnless, stillPending } from './interop-peer'

const skip = skipUnless(['fasteners']) || (!isLinux && 'OFD locks (Linux) are what ReaderWriterLock shares with lockf')

describe('ReaderWriterLock and fasteners.InterProcessReaderWriterLock', { skip }, () => {
  // Two Python processes: classic POSIX locks never conflict within one process.
  let py1: PythonPeer
  let py2: PythonPeer
  const dir = tempDir('locksmith-fasteners-')
  let counter = 0
  const fresh = (): string => join(dir, `rw-${++counter}.lock`)

  before(async () => { [py1, py2] = await Promise.all([PythonPeer.start(['fasteners']), PythonPeer.start(['fasteners'])]) })
  after(async () => { await Promise.all([py1?.close(), py2?.close()]) })

  test('readers share across the two; a Python writer is kept out, then waits for both', async (t) => {
    const { versions } = await py1.request('versions', { modules: ['fasteners'] })
    t.diagnostic(`fasteners ${(versions as Record<string, string>).fasteners}`)
    const path = fresh()
    const rw = new ReaderWriterLock(path)
    const theirs = await py1.take('rw', { path, mode: 'read', blocking: false })
    assert.equal(theirs.event, 'acquired')
    const ours = rw.tryRead()
    assert.notEqual(ours, null, 'a locksmith reader shares with a fasteners reader')
    const third = await py2.take('rw', { path, mode: 'read', blocking: false })
    assert.equal(third.event, 'acquired', 'and a second fasteners reader with both')
    // (A process's classic POSIX locks never conflict with each other: py2 reads no more before it writes.)
    await py2.release(third.id)
    assert.equal((await py2.take('rw', { path, mode: 'write', blocking: false })).event, 'busy')
    const writer = py2.start('rw', { path, mode: 'write' })
    await sleep(200)
    ours?.release()
    await sleep(200)
    assert.deepEqual(py2.events(writer), [], 'the Python writer still waits for the Python reader')
    await py1.release(theirs.id)
    await py2.waitFor(writer, ['acquired'])
    await py2.release(writer)
  })

  test('a Python writer excludes locksmith readers and writers, which wait and then get in', async () => {
    const path = fresh()
    const rw = new ReaderWriterLock(path)
    const theirs = await py1.take('rw', { path, mode: 'write', blocking: false })
    assert.equal(theirs.event, 'acquired')
    assert.equal(rw.tryRead(), null)
    assert.equal(rw.tryWrite(), null)
    const reading = rw.read()
    assert.equal(await stillPending(reading, 300), true)
    await py1.release(theirs.id)
    const held = await reading
    assert.equal(held.mode, 'shared')
    held.release()
  })

  test('a locksmith writer excludes Python readers and writers; a waiting one gets in after the Python readers, new ones included', async () => {
    const path = fresh()
    const rw = new ReaderWriterLock(path)
    const ours = rw.tryWrite()
    assert.notEqual(ours, null)
    assert.equal((await py1.take('rw', { path, mode: 'read', blocking: false })).event, 'busy')
    assert.equal((await py1.take('rw', { path, mode: 'write', blocking: false })).event, 'busy')
    const reader = py1.start('rw', { path, mode: 'read' })
    await sleep(200)
    assert.deepEqual(py1.events(reader), [])
    ours?.release()
    await py1.waitFor(reader, ['acquired'])
    // The Python reader inside: a locksmith writer waits for it.
    const writing = rw.write()
    assert.equal(await stillPending(writing, 300), true)
    // A fasteners reader's whole-file lock covers the gate byte too, so the writer waits at the
    // gate without holding it, and new fasteners readers still get in: no writer preference here.
    const late = await py2.take('rw', { path, mode: 'read', blocking: false })
    assert.equal(late.event, 'acquired', 'a new fasteners reader gets in while a locksmith writer waits')
    await py1.release(reader)
    assert.equal(await stillPending(writing, 200), true)
    await py2.release(late.id)
    const writer = await writing
    assert.equal((await py2.take('rw', { path, mode: 'read', blocking: false })).event, 'busy')
    writer.release()
    const after = await py2.take('rw', { path, mode: 'read', blocking: false })
    assert.equal(after.event, 'acquired')
    await py2.release(after.id)
  })

  test('flock cannot be chosen; posix is refused (ERR_LOCK_UNSAFE_OPTIONS)', () => {
    assert.throws(() => new ReaderWriterLock(fresh(), { backend: 'flock' }), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => new ReaderWriterLock(fresh(), { backend: 'posix' }), { code: 'ERR_LOCK_UNSAFE_OPTIONS' })
  })
})
