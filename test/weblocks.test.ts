// locksmith's Web Locks across processes and worker threads: what one process
// cannot show. Named locks and Web Locks on one name exclude each other; a
// holder killed mid-callback, or a worker terminated mid-request, vanishes
// from query() with its kernel lock; steals across processes within their
// bound, and past it; bad input leaves nothing behind.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { lock, LockManager, locks, AcquireLockFailedError } from '../lib/index'
import { Party, queryUntil, within, type Snapshot } from './fixtures/weblocks-parties'
import { isLinux, openFdCount, tempDir } from './helpers'

const dir = tempDir('locksmith-weblocks-')
const env = { LOCKSMITH_LOCK_PATH: dir, WEBLOCKS_STEAL_TIMEOUT: '300' }
const manager = new LockManager({ lockPath: dir, stealTimeout: 300 })

const names = (snapshot: Snapshot, name: string, list: 'held' | 'pending'): string[] =>
  snapshot[list].filter((info) => info.name === name).map((info) => `${info.clientId}:${info.mode}`)

describe('Web Locks across processes and threads', () => {
  let a: Party
  let b: Party
  let w: Party
  // Started together: a process start is most of a test's time otherwise.
  let victim: Party
  let waiter: Party
  let holder: Party
  before(async () => {
    [a, b, w, victim, waiter, holder] = await Promise.all([
      Party.start('process', env), Party.start('process', env), Party.start('worker', env),
      Party.start('process', env), Party.start('worker', env), Party.start('worker', env)
    ])
  })
  after(async () => { await Promise.all([a, b, w, victim, waiter, holder].map(async (party) => await party?.kill())) })

  test('a worker thread and a process exclude each other; query() tells them apart by clientId, pid and threadId', async () => {
    const held = w.request('wt')
    await held.granted
    const waiting = a.request('wt', { mode: 'shared' })
    const snapshot = await queryUntil(b, (s) => names(s, 'wt', 'pending').length === 1)
    const holder = snapshot.held.find((info) => info.name === 'wt')
    assert.equal(holder?.clientId, w.clientId)
    assert.equal(holder?.pid, process.pid)
    assert.notEqual(holder?.threadId, 0)
    assert.deepEqual(snapshot.pending.filter((info) => info.name === 'wt').map((info) => [info.clientId, info.pid, info.threadId]), [[a.clientId, a.pid, 0]])
    assert.equal(await within(100, () => waiting.isGranted), false)
    held.release()
    await waiting.granted
    waiting.release()
    await waiting.settled
  })

  test("locks.request('x') and lock('x', { external: true }) exclude each other, in this process and across processes", async () => {
    // A named lock here keeps a Web Locks request of another process out, and shows in query().
    const named = await lock('nx', { external: true, lockPath: dir })
    const miss = a.request('nx', { ifAvailable: true })
    assert.equal(await miss.granted, null)
    miss.release()
    const shared = a.request('nx', { mode: 'shared' })
    const snapshot = await queryUntil(b, (s) => names(s, 'nx', 'pending').length === 1)
    if (isLinux) assert.deepEqual(names(snapshot, 'nx', 'held'), [`pid-${process.pid}:exclusive`], 'the kernel shows the named lock')
    assert.equal(await within(100, () => shared.isGranted), false)
    named.release()
    await shared.granted
    // ...and a Web Lock held elsewhere keeps a named lock here out.
    await assert.rejects(lock('nx', { external: true, lockPath: dir, blocking: false }), AcquireLockFailedError)
    shared.release()
    await shared.settled
    // Within one thread: the same file's in-process queue.
    await manager.request('nx', async () => {
      await assert.rejects(lock('nx', { external: true, lockPath: dir, blocking: false }), AcquireLockFailedError)
    })
    const handle = await lock('nx', { external: true, lockPath: dir })
    assert.equal(await manager.request('nx', { ifAvailable: true }, (l) => l), null)
    handle.release()
  })

  test('a holder killed with SIGKILL mid-callback: the next request gets the lock and the holder vanishes from query()', async () => {
    const held = victim.request('k')
    await held.granted
    const next = a.request('k')
    let snapshot = await queryUntil(b, (s) => names(s, 'k', 'pending').length === 1)
    assert.deepEqual(names(snapshot, 'k', 'held'), [`${victim.clientId}:exclusive`])
    await victim.kill()
    await next.granted
    snapshot = await queryUntil(b, (s) => names(s, 'k', 'held').length === 1 && names(s, 'k', 'pending').length === 0)
    assert.deepEqual(names(snapshot, 'k', 'held'), [`${a.clientId}:exclusive`])
    assert.equal(snapshot.held.concat(snapshot.pending).some((info) => info.pid === victim.pid), false)
    assert.equal(existsSync(join(dir, '%weblocks', `${victim.clientId}.rec`)), false, 'the dead record is removed')
    next.release()
    await next.settled
  })

  test('a worker terminated mid-request (waiting, then holding) leaves nothing queued or held', async () => {
    const held = a.request('wk')
    await held.granted
    waiter.request('wk', { mode: 'shared' })
    await queryUntil(b, (s) => names(s, 'wk', 'pending').length === 1)
    await waiter.kill()
    const snapshot = await queryUntil(b, (s) => names(s, 'wk', 'pending').length === 0)
    assert.deepEqual(names(snapshot, 'wk', 'pending'), [])
    held.release()
    await held.settled
    await holder.request('wk').granted
    await holder.kill()
    const after = b.request('wk', { ifAvailable: true })
    assert.deepEqual(await after.granted, { name: 'wk', mode: 'exclusive' })
    after.release()
    await after.settled
    const final = await queryUntil(b, (s) => names(s, 'wk', 'held').length === 0)
    assert.deepEqual(names(final, 'wk', 'held'), [])
  })

  test('aborting a waiting request removes it from query() at once', async () => {
    const held = a.request('ab')
    await held.granted
    const ac = new AbortController()
    const waiting = manager.request('ab', { signal: ac.signal }, () => 'never')
    assert.deepEqual(names(await manager.query(), 'ab', 'pending'), [`node-${process.pid}-0:exclusive`])
    ac.abort(new Error('stop'))
    await assert.rejects(waiting, /stop/)
    assert.deepEqual(names(await manager.query(), 'ab', 'pending'), [])
    held.release()
    await held.settled
  })

  test('steal across processes: a Web Locks holder in another process lets go at once and its request rejects with AbortError', async () => {
    const robbed = a.request('st')
    await robbed.granted
    const started = performance.now()
    const result = await manager.request('st', { steal: true }, (l) => {
      assert.equal(l?.mode, 'exclusive')
      return 'stolen'
    })
    assert.equal(result, 'stolen')
    assert.ok(performance.now() - started < 300)
    const outcome = await robbed.settled
    assert.equal(outcome.error?.name, 'AbortError')
  })

  test('steal across processes: a holder that cannot be told (a named lock, a stuck event loop) keeps the lock; the steal rejects after stealTimeout', async () => {
    const named = await lock('sn', { external: true, lockPath: dir })
    const thief = a.request('sn', { steal: true })
    const outcome = await thief.settled
    assert.equal(outcome.error?.name, 'TimeoutError')
    assert.equal(thief.isGranted, false)
    named.release()
    // A Web Locks holder whose event loop is blocked cannot let go in time either.
    const stuck = b.request('sl')
    await stuck.granted
    await b.spin(500)
    const started = performance.now()
    await assert.rejects(manager.request('sl', { steal: true }, () => {}), (error: DOMException) => error.name === 'TimeoutError')
    assert.ok(performance.now() - started >= 290)
    // A steal that gave up is withdrawn: the holder, running again, keeps its lock.
    await within(500, () => false)
    stuck.release('kept')
    assert.deepEqual(await stuck.settled, { ok: true, value: 'kept' })
  })

  test('a request granted while another process steals the name gives way to the steal', async () => {
    // The holder is a named lock (it cannot be told); a Web Locks request waits; a steal starts.
    const named = await lock('gw', { external: true, lockPath: dir })
    const waiting = b.request('gw')
    await queryUntil(a, (s) => names(s, 'gw', 'pending').length === 1)
    const thief = a.request('gw', { steal: true })
    await within(100, () => false) // the steal is announced and waits in the kernel beside the request
    named.release() // both wake: whichever the kernel grants first, the steal must end up holding
    assert.deepEqual(await thief.granted, { name: 'gw', mode: 'exclusive' })
    assert.equal(await within(100, () => waiting.isGranted), false, 'the waiting request overtook the steal')
    thief.release()
    await waiting.granted
    waiting.release()
    await Promise.all([thief.settled, waiting.settled])
  })

  test('bad input gets the error the specification names and leaves nothing held, queued or open', async () => {
    const fds = openFdCount()
    const cases: Array<[unknown[], string]> = [
      [[Symbol('s'), () => {}], 'TypeError'],
      [['x'], 'TypeError'],
      [['x', {}], 'TypeError'],
      [['x', { mode: 'both' }, () => {}], 'TypeError'],
      [['x', { signal: { aborted: false } }, () => {}], 'TypeError'],
      [['x', { signal: Object.create(AbortSignal.prototype) }, () => {}], 'TypeError'],
      [['x', 7, () => {}], 'TypeError'],
      [['-x', () => {}], 'NotSupportedError'],
      [['x', { steal: true, ifAvailable: true }, () => {}], 'NotSupportedError'],
      [['x', { steal: true, mode: 'shared' }, () => {}], 'NotSupportedError'],
      [['x', { signal: new AbortController().signal, ifAvailable: true }, () => {}], 'NotSupportedError'],
      [['x', { signal: AbortSignal.abort() }, () => {}], 'AbortError']
    ]
    for (const [args, name] of cases) {
      const request = (manager.request as (...a: unknown[]) => Promise<unknown>)(...args)
      assert.ok(request instanceof Promise, 'request() never throws')
      await assert.rejects(request, (error: Error) => error.name === name, `${String(args[0])} ${JSON.stringify(args[1])}`)
    }
    const snapshot = await manager.query()
    assert.deepEqual([names(snapshot, 'x', 'held'), names(snapshot, 'x', 'pending'), names(snapshot, '-x', 'held')], [[], [], []])
    assert.equal(openFdCount(), fds)
    assert.equal(readdirSync(dir).includes('-x'), false, 'nothing created for a refused name')
    assert.equal(typeof locks.request, 'function')
  })
})
