// Named locks beside the real oslo.concurrency (Debian's python3-oslo.concurrency):
// with `compat: 'oslo'` both name the same file and exclude each other, in both
// directions, blocking and not, through lock(), lockSync() and synchronized; the
// default (flock) does not. Lock file removal on either side, and what it does
// not protect against.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import {
  AcquireLockFailedError, externalLock, lock, lockSync, lockWithPrefix, removeExternalLockFile, synchronized
} from '../lib/index'
import { lockFileName } from '../lib/lockpath'
import { isLinux, sleep, tempDir } from './helpers'
import { PythonPeer, skipUnless, stillPending } from './interop-peer'

const skip = skipUnless(['oslo_concurrency'])

describe('named locks and oslo.concurrency lockutils', { skip }, () => {
  let oslo: PythonPeer
  let other: PythonPeer
  const lockPath = tempDir('locksmith-oslo-')
  let counter = 0
  let versions: Record<string, string> = {}
  const fresh = (base: string): string => `${base}-${++counter}`

  before(async () => {
    // Two Python processes: classic POSIX locks never conflict within one process.
    [oslo, other] = await Promise.all([PythonPeer.start(['oslo_concurrency']), PythonPeer.start(['oslo_concurrency'])])
    versions = (await oslo.request('versions', { modules: ['oslo_concurrency', 'fasteners'] })).versions as Record<string, string>
  })
  after(async () => { await Promise.all([oslo?.close(), other?.close()]) })

  test("compat: 'oslo' names the file oslo's _get_lock_path names", async (t) => {
    t.diagnostic(`oslo.concurrency ${versions.oslo_concurrency}, fasteners ${versions.fasteners}`)
    const names = ['compute', 'a b', 'vol/1', 'a%2Fb', 'back\\slash', 'üñï', 'x:y*?<>|"', '.hidden', 'tab\tname', 'nova-', 'n'.repeat(240)]
    for (const prefix of [undefined, '', 'nova', 'nova-']) {
      for (const name of names) {
        const { path } = await oslo.request('oslo_path', { name, prefix, lock_path: lockPath })
        assert.equal(externalLock(name, { compat: 'oslo', lockPath, lockFilePrefix: prefix }).path, path, `name ${JSON.stringify(name)}, prefix ${String(prefix)}`)
      }
    }
    // The default mapping keeps distinct names distinct, which oslo's does not ('vol/1' and 'vol_1').
    assert.equal(lockFileName('vol/1'), 'vol%2F1')
    assert.equal(externalLock('vol/1', { compat: 'oslo', lockPath }).path, join(lockPath, 'vol_1'))
  })

  test("compat: 'oslo' refuses what oslo cannot map to a lock file of the directory", async () => {
    assert.throws(() => externalLock('..', { compat: 'oslo', lockPath }), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => externalLock('x', { compat: 'oslo', lockPath, lockFilePrefix: 'a/b' }), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => lockSync('x', { compat: 'oslo', external: true, lockPath, backend: 'flock' }), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => lockSync('x', { compat: 'tooz' as 'oslo', external: true, lockPath }), { code: 'ERR_INVALID_ARG_VALUE' })
    await assert.rejects(removeExternalLockFile('x', { compat: 'oslo', lockPath, backend: 'flock' }), { code: 'ERR_INVALID_ARG_VALUE' })
    // oslo itself fails on '..' (it opens the parent directory as its lock file).
    await assert.rejects(oslo.take('oslo', { name: '..', lock_path: lockPath, blocking: false }), /IsADirectoryError|Errno/)
  })

  test('oslo holds: locksmith is kept out (non-blocking), waits (blocking) and gets it on release', async () => {
    const name = fresh('vol/ü 1')
    const held = await oslo.take('oslo', { name, prefix: 'nova', lock_path: lockPath, blocking: false })
    assert.equal(held.event, 'acquired')
    await assert.rejects(lock(name, { compat: 'oslo', external: true, lockPath, lockFilePrefix: 'nova-', blocking: false }), AcquireLockFailedError)
    const waiting = lock(name, { compat: 'oslo', external: true, lockPath, lockFilePrefix: 'nova' })
    assert.equal(await stillPending(waiting, 300), true)
    await oslo.release(held.id)
    const ours = await waiting
    assert.equal(ours.paths[0], join(lockPath, `nova-${name.replace('/', '_')}`))
    ours.release()
  })

  test('locksmith holds: oslo is kept out (non-blocking), waits (blocking) and gets it on release', async () => {
    const name = fresh('vol/ü 2')
    const ours = await lock(name, { compat: 'oslo', external: true, lockPath, lockFilePrefix: 'nova' })
    assert.equal((await oslo.take('oslo', { name, prefix: 'nova-', lock_path: lockPath, blocking: false })).event, 'busy')
    const waiting = oslo.start('oslo', { name, prefix: 'nova', lock_path: lockPath })
    await sleep(300)
    assert.deepEqual(oslo.events(waiting), [])
    ours.release()
    await oslo.waitFor(waiting, ['acquired'])
    await oslo.release(waiting)
  })

  test("each backend compat: 'oslo' allows excludes oslo; the default (flock) does not", { skip: !isLinux && 'Linux backends' }, async () => {
    const name = fresh('backends')
    for (const backend of ['ofd', 'posix'] as const) {
      const theirs = await oslo.take('oslo', { name, lock_path: lockPath, blocking: false })
      assert.equal(theirs.event, 'acquired')
      await assert.rejects(lock(name, { compat: 'oslo', backend, external: true, lockPath, blocking: false }), AcquireLockFailedError, backend)
      await oslo.release(theirs.id)
      const ours = await lock(name, { compat: 'oslo', backend, external: true, lockPath, blocking: false })
      assert.equal((await oslo.take('oslo', { name, lock_path: lockPath, blocking: false })).event, 'busy', backend)
      ours.release()
    }
    // Same file (a plain name), default backend: both hold at once.
    const theirs = await oslo.take('oslo', { name, lock_path: lockPath, blocking: false })
    const ours = await lock(name, { external: true, lockPath, blocking: false })
    assert.equal(ours.paths[0], join(lockPath, name))
    ours.release()
    await oslo.release(theirs.id)
  })

  test('lockSync and a synchronous synchronized function: kept out, or wait in the kernel', async () => {
    const name = fresh('sync')
    const theirs = await oslo.take('oslo', { name, lock_path: lockPath, blocking: false })
    assert.throws(() => lockSync(name, { compat: 'oslo', external: true, lockPath, blocking: false }), AcquireLockFailedError)
    const fn = synchronized(name, { compat: 'oslo', external: true, lockPath, blocking: 200 })(() => 'ran')
    assert.throws(() => fn(), { code: 'ETIMEDOUT' })
    await oslo.release(theirs.id)
    assert.equal(fn(), 'ran')
  })

  test('synchronized on both sides: @lockutils.synchronized and synchronized() exclude each other', async () => {
    const name = fresh('inventory')
    const options = { compat: 'oslo' as const, external: true, lockPath, lockFilePrefix: 'nova' }
    // Python inside its decorated function: ours waits, then runs.
    const theirs = await oslo.take('oslo_synchronized', { name, prefix: 'nova-', lock_path: lockPath, blocking: false })
    assert.equal(theirs.event, 'acquired')
    const entered: string[] = []
    const refresh = synchronized(name, options)(async () => { entered.push('node') })
    const running = refresh()
    assert.equal(await stillPending(running, 300), true)
    entered.push('python left')
    await oslo.release(theirs.id)
    await running
    assert.deepEqual(entered, ['python left', 'node'])
    // Ours inside: theirs is refused (blocking=False), then waits and runs after us.
    let leave = (): void => {}
    const inside = new Promise<void>((resolve) => { leave = resolve })
    const holding = synchronized(name, options)(async () => { await inside })()
    await sleep(50)
    assert.equal((await oslo.take('oslo_synchronized', { name, prefix: 'nova', lock_path: lockPath, blocking: false })).event, 'busy')
    const waiting = oslo.start('oslo_synchronized', { name, prefix: 'nova', lock_path: lockPath })
    await sleep(300)
    assert.deepEqual(oslo.events(waiting), [])
    leave()
    await holding
    await oslo.waitFor(waiting, ['acquired'])
    await oslo.release(waiting)
    // lockWithPrefix (lock_with_prefix) takes the same file.
    const novaLock = lockWithPrefix('nova')
    const ours = await novaLock(name, { compat: 'oslo', external: true, lockPath })
    assert.equal((await oslo.take('oslo', { name, prefix: 'nova', lock_path: lockPath, blocking: false })).event, 'busy')
    ours.release()
  })

  test('removal: either side removes the files the other made; locksmith waits for an oslo holder', async () => {
    const name = fresh('removed/1')
    const file = join(lockPath, `nova-${name.replace('/', '_')}`)
    const options = { compat: 'oslo' as const, lockPath, lockFilePrefix: 'nova' }
    // oslo removes a file locksmith made and released; locking still works afterwards.
    ;(await lock(name, { ...options, external: true })).release()
    assert.equal(existsSync(file), true)
    await oslo.request('oslo_remove', { name, prefix: 'nova', lock_path: lockPath })
    assert.equal(existsSync(file), false)
    const ours = await lock(name, { ...options, external: true })
    assert.equal((await oslo.take('oslo', { name, prefix: 'nova', lock_path: lockPath, blocking: false })).event, 'busy')
    ours.release()
    // locksmith removes a file oslo holds: not while held (it takes oslo's kind of lock), at once after.
    const theirs = await oslo.take('oslo', { name, prefix: 'nova', lock_path: lockPath, blocking: false })
    await assert.rejects(removeExternalLockFile(name, { ...options, blocking: false }), AcquireLockFailedError)
    const removing = removeExternalLockFile(name, options)
    assert.equal(await stillPending(removing, 300), true)
    assert.equal(existsSync(file), true)
    await oslo.release(theirs.id)
    await removing
    assert.equal(existsSync(file), false)
    // And oslo locks again on a new file, which excludes locksmith.
    const again = await oslo.take('oslo', { name, prefix: 'nova', lock_path: lockPath, blocking: false })
    await assert.rejects(lock(name, { ...options, external: true, blocking: false }), AcquireLockFailedError)
    await oslo.release(again.id)
  })

  test('removal limits (documented): oslo removes under a holder; an oslo waiter keeps the removed file', async () => {
    const name = fresh('unsafe')
    const options = { compat: 'oslo' as const, lockPath }
    // remove_external_lock_file takes no file lock: it unlinks a held file, and the next locker gets a new one.
    const ours = await lock(name, { ...options, external: true })
    await oslo.request('oslo_remove', { name, lock_path: lockPath })
    const second = await oslo.take('oslo', { name, lock_path: lockPath, blocking: false })
    assert.equal(second.event, 'acquired', 'oslo got a lock while locksmith held the removed file')
    ours.release()
    await oslo.release(second.id)
    // An oslo waiter polls on the descriptor it opened before the removal, and never checks the path
    // again: once locksmith removes the file, the waiter locks the removed file while others lock the new one.
    const holder = await lock(name, { ...options, external: true })
    const waiter = oslo.start('oslo', { name, lock_path: lockPath })
    await sleep(200)
    const removing = removeExternalLockFile(name, options) // queued behind our own holder
    holder.release()
    await removing
    await oslo.waitFor(waiter, ['acquired'])
    const newcomer = await other.take('oslo', { name, lock_path: lockPath, blocking: false })
    assert.equal(newcomer.event, 'acquired', 'a second oslo process locked the new file while the waiter holds the removed one')
    await other.release(newcomer.id)
    await oslo.release(waiter)
  })
})
