// portable: also run under Windows (Wine) by scripts/test-wine.sh
// The rules the whole API follows: how "busy" is reported, how deadlocks of a
// synchronous wait are reported, and what errors look like.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { inspect } from 'node:util'
import { join } from 'node:path'
import {
  AcquireLockFailedError, Coordinator, CoordinationError, internalLock, lock, Lock, LockBusyError, LockError, LockFile,
  ReaderWriterLock, withLock, WouldDeadlockError
} from '../lib/index'
import { tempDir } from './helpers'

const dir = tempDir()
let counter = 0
const newPath = (): string => join(dir, `rules-${++counter}.lock`)

test('busy: methods that answer with a boolean resolve false; those that hand back a held lock throw LockBusyError (ELOCKED)', async () => {
  const path = newPath()
  const holder = await Lock.acquire(path)
  try {
    assert.equal(await new Lock(path).acquire({ blocking: false }), false)
    assert.equal(new Lock(path).tryAcquire(), false)
    await assert.rejects(Lock.acquire(path, { blocking: false }), (error) => error instanceof LockBusyError && error.code === 'ELOCKED')
  } finally {
    holder.release()
  }
  const rw = new ReaderWriterLock(newPath())
  const writing = await rw.write()
  await assert.rejects(rw.read({ blocking: false }), (error) => error instanceof LockBusyError && error.code === 'ELOCKED')
  assert.equal(rw.tryRead(), null, 'try methods never throw for busy')
  writing.release()

  const held = await lock('rules-busy')
  await assert.rejects(lock('rules-busy', { blocking: false }), (error) => error instanceof LockBusyError && error instanceof AcquireLockFailedError && error.code === 'ELOCKED')
  await assert.rejects(internalLock('rules-busy').acquire({ blocking: false }), (error) => error instanceof LockBusyError && error.code === 'ELOCKED')
  held.release()

  const coordinator = new Coordinator(new URL(`file://${tempDir()}`))
  await coordinator.start()
  const first = coordinator.getLock('x')
  assert.equal(await first.acquire(), true)
  assert.equal(await coordinator.getLock('x').acquire({ blocking: false }), false)
  await first.release()
  await coordinator.stop()
})

test('a synchronous wait on this thread\'s own lock throws WouldDeadlockError (EDEADLK) for Lock as for named locks', async () => {
  const path = newPath()
  const holder = new Lock(path)
  assert.equal(holder.tryAcquire(), true)
  assert.throws(() => new Lock(path).acquireSync(), (error) => error instanceof WouldDeadlockError && error.code === 'EDEADLK' &&
    error.path === holder.path && error.lockName === undefined)
  holder.release()
})

test('withLock checks its function before it takes the lock', async () => {
  const path = newPath()
  await assert.rejects(withLock(path, 'not a function' as never), { code: 'ERR_INVALID_ARG_TYPE' })
  const probe = new Lock(path)
  assert.equal(probe.tryAcquire(), true, 'nothing was left held')
  probe.release()
})

test('errors carry no property they have no value for (no `path: undefined`)', () => {
  const coordination = new CoordinationError('ERR_COORDINATOR_STOPPED', 'stopped')
  assert.equal('path' in coordination, false)
  assert.doesNotMatch(inspect(coordination), /path: undefined/)
  const plain = new LockError('ERR_LOCK_NOT_HELD', 'not held')
  assert.doesNotMatch(inspect(plain), /path: undefined/)
})

test('a refused Redis connection says so, with the address', { skip: process.platform === 'win32' }, async () => {
  const coordinator = new Coordinator('redis://127.0.0.1:1/0')
  await assert.rejects(coordinator.start(), (error: NodeJS.ErrnoException) => {
    assert.equal(error.code, 'ERR_COORDINATOR_CONNECT')
    assert.match(error.message, /ECONNREFUSED 127\.0\.0\.1:1\b/)
    return true
  })
})

// Compiled, never run: LockError.code is a union TypeScript narrows on, so a
// misspelt code is a compile error.
export function codesAreTyped (error: LockError): boolean {
  // @ts-expect-error 'ELOKED' is not a code any LockError has
  return error.code === 'ELOKED'
}

test('argument checks load no native code (the CLI parses its arguments before it needs the addon)', () => {
  const lib = join(__dirname, '..', 'lib')
  const probe = spawnSync(process.execPath, ['-e', `
    require(${JSON.stringify(join(lib, 'validate.js'))})
    require(${JSON.stringify(join(lib, 'wait-options.js'))})
    require(${JSON.stringify(join(lib, 'cli', 'run-args.js'))})
    console.log(Object.keys(require.cache).filter((f) => f.endsWith('.node') || f.endsWith('native.js') || f.includes('node-gyp-build')).join(',') || 'none')
  `], { encoding: 'utf8' })
  assert.equal(probe.stdout.trim(), 'none', probe.stderr)
})

test('mkdirs: missing parent directories are created on request, else ENOENT', async () => {
  const root = tempDir()
  const deep = join(root, 'a', 'b', 'c.lock')
  await assert.rejects(new Lock(deep).acquire(), { code: 'ENOENT' })
  assert.throws(() => LockFile.open(deep), { code: 'ENOENT' })
  const lock = new Lock(deep, { mkdirs: true })
  assert.equal(await lock.acquire(), true)
  if (process.platform !== 'win32') {
    assert.equal(statSync(join(root, 'a')).mode & 0o777, 0o755 & ~process.umask())
    assert.equal(spawnSync('flock', ['-n', deep, 'true']).status, 1, 'another process sees it held')
  }
  lock.release()
  const file = LockFile.open(join(root, 'x', 'y.lock'), { mkdirs: true })
  assert.equal(file.tryLock(), true)
  file.close()
  assert.throws(() => LockFile.open(join(root, 'z', 'y.lock'), { mkdir: true } as never), { code: 'ERR_INVALID_ARG_VALUE', message: /did you mean 'mkdirs'/ })
})
