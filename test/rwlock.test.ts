// portable: also run under Windows (Wine) by scripts/test-wine.sh
// ReaderWriterLock: readers share, writers exclude, and a writer is not starved
// by a stream of overlapping readers from several processes.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { ReaderWriterLock, LockError } from '../lib/index'
import { isLinux, pythonCanLock, sleep, tempDir } from './helpers'

const scenarios = join(__dirname, 'fixtures', 'lock-scenarios.js')
const dir = tempDir()
let counter = 0
const newPath = (): string => join(dir, `rw-${++counter}.lock`)

describe('ReaderWriterLock', () => {
  test('readers share within a process; a writer excludes readers and writers', async () => {
    const rw = new ReaderWriterLock(newPath())
    const r1 = await rw.read()
    const r2 = rw.tryRead()
    assert.ok(r2 !== null)
    const other = new ReaderWriterLock(rw.path)
    assert.equal(other.tryWrite(), null)
    r1.release()
    r2.release()
    const w = other.tryWrite()
    assert.ok(w !== null)
    assert.equal(rw.tryRead(), null)
    assert.equal(rw.tryWrite(), null)
    w.release()
    assert.equal(w.release(), false)
  })

  test('upgrading a read lock is refused with a clear error, never a silent unlock-relock', async () => {
    const rw = new ReaderWriterLock(newPath())
    const read = await rw.read()
    await assert.rejects(rw.write(), (error) => error instanceof LockError && error.code === 'ERR_LOCK_UPGRADE')
    assert.throws(() => rw.tryWrite(), { code: 'ERR_LOCK_UPGRADE' })
    read.release()
    const write = await rw.write()
    write.release()
  })

  test('withRead/withWrite and await using', async () => {
    const rw = new ReaderWriterLock(newPath())
    assert.equal(await rw.withRead(() => 'read'), 'read')
    assert.equal(await rw.withWrite(async () => 'write'), 'write')
    {
      await using held = await rw.write()
      assert.equal(held.mode, 'exclusive')
    }
    const again = rw.tryWrite()
    assert.ok(again !== null)
    again.release()
  })

  test('readers share across processes, writers exclude them (seen from Python OFD locks)', { skip: !isLinux }, async () => {
    const path = newPath()
    const rw = new ReaderWriterLock(path)
    const read = await rw.read()
    assert.equal(pythonCanLock(path, 'ofd', true, 1, 1), true, 'another reader may read')
    assert.equal(pythonCanLock(path, 'ofd', false, 1, 1), false, 'a writer may not')
    read.release()
    const write = await rw.write()
    assert.equal(pythonCanLock(path, 'ofd', true, 1, 1), false)
    write.release()
  })

  test('no writer starvation: 3 reader processes with overlapping reads, the writer still gets in', { skip: !isLinux }, async () => {
    const path = newPath()
    // Under qemu (scripts/test-arm64.sh) starting three processes alone takes seconds.
    const until = Date.now() + (process.env.LOCKSMITH_UNDER_QEMU === '1' ? 30_000 : 6000)
    const readers = [0, 1, 2].map(() => fork(scenarios, ['reader', path, '40', String(until)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
    // Listened for from the start: on a slow machine (qemu) a reader can end before the writer is done.
    const exited = readers.map((reader) => once(reader, 'exit'))
    await Promise.all(readers.map((reader) => once(reader, 'message')))
    await sleep(300) // the readers are now overlapping continuously
    const rw = new ReaderWriterLock(path)
    const write = await rw.write()
    write.release()
    const readersStillRunning = Date.now() < until
    await Promise.all(exited)
    assert.ok(readersStillRunning, 'the writer got in while the readers were still reading')
  })
})
