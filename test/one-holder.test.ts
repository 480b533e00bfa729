// At most one exclusive holder on the less-travelled paths: removal under
// fcntl-lock holders, removal with shared or ranged locks, overlapping posix
// ranges within one thread, a replaced file under a posix range holder,
// ReaderWriterLock on posix, look-alike signals, and options that are not
// options. Each test crosses into another process where the promise is about
// other processes (Python fcntl, util-linux flock(1), a node child).
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  AcquireLockFailedError, externalLock, formatName, lock, Lock, LockFile, lockFileName, removeExternalLockFile,
  removeExternalLockFileSync, ReaderWriterLock, rwLock, withLock
} from '../lib/index'
import { holdWithPython, isLinux, pythonCanLock, sleep, tempDir } from './helpers'

const dir = tempDir()
let counter = 0
const newPath = (): string => join(dir, `one-${++counter}.lock`)
const packageMain = join(__dirname, '..', 'lib', 'index.js')

/** Asserts a coded error; `hint` must appear in the message. */
function refused (fn: () => unknown, code: string, hint?: string): void {
  assert.throws(fn, (error: NodeJS.ErrnoException) => {
    assert.equal(error.code, code, error.message)
    if (hint !== undefined) assert.ok(error.message.includes(hint), `"${hint}" not in: ${error.message}`)
    return true
  })
}

async function rejected (promise: Promise<unknown>, code: string, hint?: string): Promise<void> {
  await assert.rejects(promise, (error: NodeJS.ErrnoException) => {
    assert.equal(error.code, code, error.message)
    if (hint !== undefined) assert.ok(error.message.includes(hint), `"${hint}" not in: ${error.message}`)
    return true
  })
}

describe('removal takes the lock kind its holders use', { skip: !isLinux }, () => {
  for (const [backend, kind] of [['posix', 'lockf'], ['ofd', 'ofd']] as const) {
    test(`${backend}: removeExternalLockFile waits for a ${kind} holder in another process instead of unlinking under it`, async () => {
      const lockPath = tempDir()
      const name = `remove-${backend}`
      const path = join(lockPath, lockFileName(name))
      writeFileSync(path, '')
      const holder = await holdWithPython(path, kind)
      try {
        await assert.rejects(removeExternalLockFile(name, { lockPath, backend, blocking: false }), AcquireLockFailedError)
        assert.throws(() => removeExternalLockFileSync(name, { lockPath, backend, blocking: false }), AcquireLockFailedError)
        await rejected(removeExternalLockFile(name, { lockPath, backend, timeout: 50 }), 'ETIMEDOUT')
        assert.ok(existsSync(path), 'the held lock file is still there')
      } finally {
        await holder.kill()
      }
      await removeExternalLockFile(name, { lockPath, backend })
      assert.equal(existsSync(path), false, 'removed once nobody holds it')
    })
  }

  test('a named lock on posix excludes the removal of its own file by another process', async () => {
    const lockPath = tempDir()
    const held = await lock('named-posix', { external: true, lockPath, backend: 'posix' })
    const child = spawnSync(process.execPath, ['-e', `
      const { removeExternalLockFileSync } = require(${JSON.stringify(packageMain)})
      try { removeExternalLockFileSync('named-posix', { lockPath: ${JSON.stringify(lockPath)}, backend: 'posix', blocking: false }); console.log('removed') }
      catch (error) { console.log(error.code) }
    `], { encoding: 'utf8' })
    assert.equal(child.stdout.trim(), 'ELOCKED')
    assert.ok(existsSync(held.paths[0] as string))
    held.release()
  })

  test('unknown removal options are refused, with a hint', async () => {
    await rejected(removeExternalLockFile('x', { lockPath: dir, backnd: 'posix' } as never), 'ERR_INVALID_ARG_VALUE', "did you mean 'backend'")
    refused(() => removeExternalLockFileSync('x', { lockPath: dir, signal: new AbortController().signal } as never), 'ERR_INVALID_ARG_VALUE')
  })
})

describe('removeOnRelease only where unlinking is safe', () => {
  test('shared or byte-range locks with removeOnRelease are refused at construction', () => {
    const path = newPath()
    refused(() => new Lock(path, { removeOnRelease: true, mode: 'shared' }), 'ERR_LOCK_UNSAFE_OPTIONS', 'shared')
    refused(() => new Lock(path, { removeOnRelease: true, range: { start: 0, length: 1 } }), 'ERR_LOCK_UNSAFE_OPTIONS', 'range')
    refused(() => externalLock('x', { lockPath: dir, removeOnRelease: true, mode: 'shared' } as never), 'ERR_INVALID_ARG_VALUE')
    assert.equal(existsSync(path), false, 'nothing was opened')
  })

  test('an exclusive whole-file removeOnRelease lock still unlinks, and a reader elsewhere is not overtaken', { skip: !isLinux }, async () => {
    const path = newPath()
    const remover = new Lock(path, { removeOnRelease: true })
    assert.equal(await remover.acquire(), true)
    remover.release()
    assert.equal(existsSync(path), false)
    // A shared holder in another process: the exclusive remover waits for it.
    writeFileSync(path, '')
    const holder = await holdWithPython(path, 'lockf', true)
    try {
      const other = new Lock(path, { removeOnRelease: true, backend: 'posix' })
      assert.equal(await other.acquire({ blocking: false }), false)
      assert.ok(existsSync(path))
    } finally {
      await holder.kill()
    }
  })
})

describe('posix: overlapping ranges in one thread', { skip: !isLinux }, () => {
  test('two Locks with overlapping ranges exclude each other, and releasing one keeps the other\'s bytes locked', async () => {
    const path = newPath()
    const first = new Lock(path, { backend: 'posix', range: { start: 0, length: 10 } })
    const second = new Lock(path, { backend: 'posix', range: { start: 5, length: 10 } })
    assert.equal(await first.acquire(), true)
    assert.equal(second.tryAcquire(), false, 'overlapping bytes are held in this thread')
    assert.equal(await second.acquire({ blocking: false }), false)
    const waiting = second.acquire()
    await sleep(20)
    assert.equal(second.acquired, false)
    first.release()
    assert.equal(await waiting, true)
    assert.equal(pythonCanLock(path, 'lockf', false, 5, 10), false, "the second Lock's bytes stay locked for other processes")
    assert.equal(pythonCanLock(path, 'lockf', false, 0, 5), true, "the first Lock's own bytes are free")
    second.release()
    assert.equal(pythonCanLock(path, 'lockf', false, 0, 0), true)
  })

  test('shared overlapping ranges are serialized too; disjoint ranges run side by side', async () => {
    const path = newPath()
    const a = new Lock(path, { backend: 'posix', mode: 'shared', range: { start: 0, length: 4 } })
    const b = new Lock(path, { backend: 'posix', mode: 'shared', range: { start: 2, length: 4 } })
    const c = new Lock(path, { backend: 'posix', range: { start: 100, length: 1 } })
    assert.equal(a.tryAcquire(), true)
    assert.equal(c.tryAcquire(), true, 'disjoint bytes')
    assert.equal(b.tryAcquire(), false)
    a.release()
    assert.equal(b.tryAcquire(), true)
    assert.equal(pythonCanLock(path, 'lockf', true, 2, 4), true, 'shared stays shared')
    assert.equal(pythonCanLock(path, 'lockf', false, 2, 4), false)
    assert.equal(pythonCanLock(path, 'lockf', false, 100, 1), false)
    b.release()
    c.release()
  })

  test('a whole-file posix Lock waits for a posix range Lock of the same thread, and a sync wait on it is refused', async () => {
    const path = newPath()
    const range = new Lock(path, { backend: 'posix', range: { start: 3, length: 1 } })
    const whole = new Lock(path, { backend: 'posix' })
    assert.equal(range.tryAcquire(), true)
    assert.equal(whole.tryAcquire(), false)
    refused(() => whole.acquireSync(), 'EDEADLK')
    const waiting = whole.acquire()
    range.release()
    assert.equal(await waiting, true)
    assert.equal(pythonCanLock(path, 'lockf', false, 3, 1), false)
    whole.release()
    assert.equal(pythonCanLock(path, 'lockf', false, 0, 0), true)
  })

  for (const how of ['unlinked', 'renamed over'] as const) {
    test(`a posix range acquire on a file ${how} under a holder of another range completes, on the new file`, () => {
      const path = newPath()
      // In a child with a time limit: the failure was a synchronous spin of the event loop.
      const child = spawnSync(process.execPath, ['-e', `
        const { Lock } = require(${JSON.stringify(packageMain)})
        const fs = require('node:fs')
        const path = ${JSON.stringify(path)}
        ;(async () => {
          const first = new Lock(path, { backend: 'posix', range: { start: 0, length: 1 } })
          await first.acquire()
          if (${JSON.stringify(how)} === 'unlinked') fs.unlinkSync(path)
          else { fs.writeFileSync(path + '.new', ''); fs.renameSync(path + '.new', path) }
          const second = new Lock(path, { backend: 'posix', range: { start: 1, length: 1 } })
          console.log(second.tryAcquire())
          const third = new Lock(path, { backend: 'posix', range: { start: 2, length: 1 } })
          console.log(await third.acquire())
          first.release(); second.release(); third.release()
        })()
      `], { encoding: 'utf8', timeout: 10_000 })
      assert.equal(child.signal, null, `the child hung: ${child.stderr}`)
      assert.equal(child.stdout, 'true\ntrue\n', child.stderr)
    })
  }
})

describe('ReaderWriterLock needs OFD locks', () => {
  test("backend 'posix' is refused at construction: the kernel's per-process deadlock check fails ordinary waits", () => {
    refused(() => new ReaderWriterLock(newPath(), { backend: 'posix' }), 'ERR_LOCK_UNSAFE_OPTIONS', 'EDEADLK')
    refused(() => rwLock('rw', { lockPath: dir, backend: 'posix' }), 'ERR_LOCK_UNSAFE_OPTIONS')
  })
})

describe('only a real AbortSignal', () => {
  const fake = { aborted: false, reason: undefined, addEventListener () {}, removeEventListener () { throw new Error('boom') } }

  test('look-alike signals are refused everywhere before anything is opened', async () => {
    const path = newPath()
    refused(() => new Lock(path, { signal: fake as never }), 'ERR_INVALID_ARG_TYPE')
    await rejected(new Lock(path).acquire({ signal: fake as never }), 'ERR_INVALID_ARG_TYPE')
    await rejected(lock('fake-signal', { signal: fake as never }), 'ERR_INVALID_ARG_TYPE')
    await rejected(withLock(path, () => 1, { signal: fake as never }), 'ERR_INVALID_ARG_TYPE')
    const file = LockFile.open(path)
    await rejected(file.lock({ signal: fake as never }), 'ERR_INVALID_ARG_TYPE')
    file.close()
    assert.equal(new Lock(path).tryAcquire(), true, 'nothing left held')
  })
})

describe('options that are not options', () => {
  test('Lock: a misspelt or misplaced key is refused with a hint, not ignored', () => {
    const path = newPath()
    refused(() => new Lock(path, { shared: true } as never), 'ERR_INVALID_ARG_VALUE', "did you mean 'mode'")
    refused(() => new Lock(path, { blockng: false } as never), 'ERR_INVALID_ARG_VALUE', "did you mean 'blocking'")
    refused(() => new Lock(path, { removeOnrelease: true } as never), 'ERR_INVALID_ARG_VALUE', "did you mean 'removeOnRelease'")
    refused(() => new Lock(path).acquireSync({ signal: new AbortController().signal } as never), 'ERR_INVALID_ARG_VALUE')
    refused(() => new Lock(path, { blocking: false, timeout: 5 }), 'ERR_INVALID_ARG_VALUE', 'blocking: false')
    refused(() => new Lock(path, { blocking: 5, timeout: 5 }), 'ERR_INVALID_ARG_VALUE', 'one of them')
    refused(() => new ReaderWriterLock(path, { timout: 5 } as never), 'ERR_INVALID_ARG_VALUE', "did you mean 'timeout'")
    refused(() => externalLock('x', { lockPath: dir, lock_file_prefix: 'p' } as never), 'ERR_INVALID_ARG_VALUE', "did you mean 'lockFilePrefix'")
    refused(() => rwLock('x', { lockPath: dir, prefix: 'p' } as never), 'ERR_INVALID_ARG_VALUE', "did you mean 'lockFilePrefix'")
  })

  test('per-call options and the named-lock API refuse unknown keys too', async () => {
    const path = newPath()
    await rejected(new Lock(path).acquire({ timeot: 5 } as never), 'ERR_INVALID_ARG_VALUE', "did you mean 'timeout'")
    await rejected(new Lock(path).block({ wait: true } as never), 'ERR_INVALID_ARG_VALUE', "did you mean 'blocking'")
    await rejected(withLock(path, () => 1, { bogus: 1 } as never), 'ERR_INVALID_ARG_VALUE')
    await rejected(lock('n', { lock_path: dir } as never), 'ERR_INVALID_ARG_VALUE', "did you mean 'lockPath'")
    await rejected(new ReaderWriterLock(path).read({ shared: true } as never), 'ERR_INVALID_ARG_VALUE')
    assert.equal(new Lock(path).tryAcquire(), true, 'nothing left held')
  })

  test('timeout bounds a Lock\'s wait (it used to be ignored and wait for ever)', { skip: !isLinux }, async () => {
    const path = newPath()
    writeFileSync(path, '')
    const holder = spawnSync('flock', ['-x', path, '-c', 'true']) // flock(1) exists
    assert.equal(holder.status, 0)
    const child = spawnSync(process.execPath, ['-e', `
      const { Lock, lock } = require(${JSON.stringify(packageMain)})
      const { spawn } = require('node:child_process')
      const held = spawn('flock', ['-x', ${JSON.stringify(path)}, '-c', 'echo held; sleep 30'])
      held.stdout.once('data', async () => {
        for (const attempt of [() => new Lock(${JSON.stringify(path)}, { timeout: 100 }).acquire(), () => new Lock(${JSON.stringify(path)}).acquire({ timeout: 100 })]) {
          try { await attempt(); console.log('acquired') } catch (error) { console.log(error.code) }
        }
        held.kill()
      })
    `], { encoding: 'utf8', timeout: 15_000 })
    assert.equal(child.stdout, 'ETIMEDOUT\nETIMEDOUT\n', child.stderr)
  })
})

describe('smaller holes', () => {
  test('permissions refuse setuid, setgid and sticky bits (API and CLI)', () => {
    refused(() => new Lock(newPath(), { permissions: 0o4644 }), 'ERR_OUT_OF_RANGE')
    refused(() => LockFile.open(newPath(), { permissions: 0o1777 }), 'ERR_OUT_OF_RANGE')
    const path = newPath()
    const cli = spawnSync(process.execPath, [join(__dirname, '..', '..', 'bin', 'locksmith.js'), '--permissions', '7777', path, 'true'], { encoding: 'utf8' })
    assert.equal(cli.status, 64, cli.stderr)
    assert.equal(existsSync(path), false)
  })

  test('names with lone surrogates map to distinct files, which lock independently', async () => {
    assert.notEqual(lockFileName('a\uD800'), lockFileName('a\uDC00'))
    assert.equal(lockFileName('a\uD83D\uDE00'), 'a\uD83D\uDE00', 'a well-formed pair is kept as it is')
    assert.notEqual(lockFileName('x'.repeat(300) + '\uD800'), lockFileName('x'.repeat(300) + '\uDC00'), 'hashed names too')
    const lockPath = tempDir()
    const one = await lock('a\uD800', { external: true, lockPath, blocking: false })
    const two = await lock('a\uDC00', { external: true, lockPath, blocking: false })
    assert.notEqual(one.paths[0], two.paths[0])
    one.release()
    two.release()
  })

  test('name templates read own properties and class getters, never inherited members', () => {
    refused(() => formatName('{a.constructor}', { a: {} }), 'ERR_LOCK_NAME_FIELD')
    refused(() => formatName('{a.toString}', { a: {} }), 'ERR_LOCK_NAME_FIELD')
    refused(() => formatName('{a.__proto__}', { a: {} }), 'ERR_LOCK_NAME_FIELD')
    refused(() => formatName('{n.toFixed}', { n: 5 }), 'ERR_LOCK_NAME_FIELD')
    refused(() => formatName('{constructor}', {}), 'ERR_LOCK_NAME_FIELD')
    class Volume { readonly #id = 'v7'; get id (): string { return this.#id } describe (): string { return 'x' } }
    assert.equal(formatName('{v.id}', { v: new Volume() }), 'v7')
    refused(() => formatName('{v.describe}', { v: new Volume() }), 'ERR_LOCK_NAME_FIELD')
    assert.equal(formatName('{s.length}-{l[1]}', { s: 'abc', l: ['x', 'y'] }), '3-y')
  })
})

// Keep the linter quiet about helpers only some platforms use.
void renameSync
void unlinkSync
