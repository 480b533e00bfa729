// LockFile.fromFd: locking a descriptor the program opened itself, without
// taking it over, checked against other processes (util-linux flock(1), Python).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs'
import { open as openHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { LockFile, LockTimeoutError } from '../lib/index'
import { native } from '../lib/native'
import { flockCommandCanLock, isLinux, pythonCanLock, tempDir, waiterThreadCountSettled } from './helpers'

const dir = tempDir('locksmith-fromfd-')
let n = 0
const fresh = (): string => {
  const path = join(dir, `lock-${++n}`)
  writeFileSync(path, '')
  return path
}

describe('LockFile.fromFd', { skip: !isLinux && 'checked against flock(1) and Python on Linux' }, () => {
  it('locks a descriptor the program opened, writes through it, and leaves it open on close()', () => {
    const path = fresh()
    const fd = openSync(path, 'r+')
    try {
      const file = LockFile.fromFd(fd)
      assert.equal(file.fd, fd)
      assert.equal(file.path, path)
      assert.equal(file.tryLock(), true)
      assert.equal(flockCommandCanLock(path), false, 'another process is excluded')
      writeSync(fd, 'written under the lock')
      file.close()
      assert.equal(flockCommandCanLock(path), true, 'close() released the lock')
      assert.doesNotThrow(() => fstatSync(fd), 'the descriptor is still open')
      writeSync(fd, ', and after')
      assert.equal(readFileSync(path, 'utf8'), 'written under the lock, and after')
    } finally {
      closeSync(fd)
    }
  })

  it('a FileHandle: waits on a native waiter thread, cancellable, then holds', async () => {
    const path = fresh()
    const other = LockFile.open(path)
    other.tryLock()
    const handle = await openHandle(path, 'r+')
    try {
      const file = LockFile.fromFd(handle)
      const controller = new AbortController()
      const waiting = file.lock({ signal: controller.signal })
      assert.equal(await waiterThreadCountSettled(1), 1)
      controller.abort()
      await assert.rejects(waiting, { name: 'AbortError' })
      assert.equal(await waiterThreadCountSettled(0), 0)
      await assert.rejects(file.lock({ timeout: 50 }), LockTimeoutError)
      const granted = file.lock()
      setTimeout(() => other.unlock(), 50)
      await granted
      assert.equal(flockCommandCanLock(path), false)
      await handle.write('through the FileHandle')
      file.close()
      assert.equal(flockCommandCanLock(path), true)
    } finally {
      other.close()
      await handle.close()
    }
    assert.equal(readFileSync(path, 'utf8'), 'through the FileHandle')
  })

  it('close() gives back byte ranges on a borrowed descriptor (posix and ofd), which stays open', () => {
    const path = fresh()
    const fd = openSync(path, 'r+')
    try {
      const posix = LockFile.fromFd(fd, { backend: 'posix' })
      assert.equal(posix.tryLock({ range: { start: 0, length: 10 } }), true)
      assert.equal(posix.tryLock({ range: { start: 20, length: 5 }, mode: 'shared' }), true)
      assert.equal(pythonCanLock(path, 'lockf', false, 0, 10), false)
      assert.equal(pythonCanLock(path, 'lockf', false, 20, 1), false)
      posix.close()
      assert.equal(pythonCanLock(path, 'lockf', false, 0, 30), true)
      const ofd = LockFile.fromFd(fd, { backend: 'ofd' })
      assert.equal(ofd.tryLock({ range: { start: 5, length: 1 } }), true)
      assert.equal(pythonCanLock(path, 'ofd', false, 5, 1), false)
      ofd.close()
      assert.equal(pythonCanLock(path, 'ofd', false, 5, 1), true)
      assert.doesNotThrow(() => fstatSync(fd))
    } finally {
      closeSync(fd)
    }
  })

  it('autoClose: close() closes the descriptor (and with it, its locks)', () => {
    const path = fresh()
    const fd = openSync(path, 'r')
    const file = LockFile.fromFd(fd, { autoClose: true })
    assert.equal(file.tryLock({ mode: 'shared' }), true)
    assert.equal(flockCommandCanLock(path), false)
    file.close()
    assert.throws(() => fstatSync(fd), { code: 'EBADF' })
    assert.equal(flockCommandCanLock(path), true)
  })

  it('a read-only descriptor: an exclusive fcntl lock says why it cannot be had', () => {
    const path = fresh()
    const fd = openSync(path, 'r')
    try {
      const file = LockFile.fromFd(fd, { backend: 'ofd' })
      assert.throws(() => file.tryLock(), { code: 'EBADF', message: /read-only/ })
      assert.equal(file.tryLock({ mode: 'shared' }), true)
      file.close()
    } finally {
      closeSync(fd)
    }
  })

  it('bad input: typed errors, nothing entered or left open', async () => {
    const before = native.openCount()
    assert.throws(() => LockFile.fromFd(-1), { code: 'ERR_OUT_OF_RANGE' })
    assert.throws(() => LockFile.fromFd(1.5), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => LockFile.fromFd('3' as unknown as number), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => LockFile.fromFd(987_654), { code: 'EBADF', name: 'LockSystemError' })
    assert.throws(() => LockFile.fromFd(0, { close: true } as object), { code: 'ERR_INVALID_ARG_VALUE', message: /autoClose/ })
    assert.throws(() => LockFile.fromFd(0, { backend: 'nope' as 'flock' }), { code: 'ERR_INVALID_ARG_VALUE' })
    const handle = await openHandle(fresh(), 'r')
    assert.throws(() => LockFile.fromFd(handle, { autoClose: true }), { code: 'ERR_INVALID_ARG_VALUE' })
    await handle.close()
    assert.throws(() => LockFile.fromFd(handle), { code: 'EBADF' })
    assert.equal(native.openCount(), before)
  })
})
