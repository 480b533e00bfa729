// portable: also run under Windows (Wine) by scripts/test-wine.sh
// Named locks within one process: semaphore containers, fairness, lock(),
// synchronized (decorator and wrapper, async and sync), templates, options.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import {
  AcquireLockFailedError, externalLock, FairLocks, internalFairLock, internalLock, lock, LockBusyError, lockSync,
  LockTimeoutError, lockWithPrefix, removeExternalLockFile, removeExternalLockFileSync, removeExternalLockFileWithPrefix,
  rwLock, Semaphores, synchronized, synchronizedWithPrefix, TemplateFieldError, WouldDeadlockError
} from '../lib/index'
import type { LogFields } from '../lib/log'
import { defaultSemaphores } from '../lib/semaphores'
import { pythonCanLock, sleep, tempDir } from './helpers'

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

test('Semaphores: one lock per name while in use, and names exclude each other whichever handle is used', async () => {
  const container = new Semaphores()
  const first = container.get('a')
  const held = first.tryAcquire()
  assert.ok(held !== null)
  assert.equal(container.get('a'), first, 'same object while held')
  assert.equal(container.get('a').tryAcquire(), null)
  assert.ok(container.get('b').tryAcquire()?.release())
  assert.equal(container.size, 1)
  assert.deepEqual(container.names(), ['a'])
  held.release()
  assert.equal(container.size, 0)
  // A handle kept from earlier still excludes a new one for the same name.
  const again = container.get('a').tryAcquire()
  assert.ok(again !== null)
  assert.equal(first.tryAcquire(), null)
  assert.equal(first.locked, true)
  again.release()
  assert.equal(first.locked, false)
  // Separate containers are separate name spaces (oslo's `semaphores` argument).
  const other = new Semaphores()
  using one = container.get('x').tryAcquire()
  using two = other.get('x').tryAcquire()
  assert.ok(one !== null && two !== null)
  assert.throws(() => container.get(''), { code: 'ERR_INVALID_ARG_VALUE' })
})

test('containers shrink: 1,000,000 distinct names used once leave them empty', async () => {
  const container = new Semaphores()
  for (let i = 0; i < 1_000_000; i++) container.get(`name-${i}`).tryAcquire()?.release()
  assert.equal(container.size, 0)
  const fair = new FairLocks()
  const waits: Array<Promise<void>> = []
  for (let i = 0; i < 10_000; i++) {
    const lockObject = fair.get(`n${i % 100}`)
    waits.push(lockObject.acquire().then((held) => { held.release() }))
  }
  assert.ok(fair.size <= 100)
  await Promise.all(waits)
  assert.equal(fair.size, 0)
  const before = defaultSemaphores.size
  for (let i = 0; i < 20_000; i++) await lock(`default-${i}`, () => {})
  const wrapped = synchronized('{0}')((x: number) => x)
  for (let i = 0; i < 20_000; i++) wrapped(i)
  assert.equal(defaultSemaphores.size, before)
})

test('fair locks are strict FIFO; unfair ones can be taken between a release and the wake-up', async () => {
  for (const fair of [true, false]) {
    const container = fair ? new FairLocks() : new Semaphores()
    const order: number[] = []
    const first = await container.get('q').acquire()
    const waiters = Array.from({ length: 20 }, async (_, i) => {
      const held = await container.get('q').acquire()
      order.push(i)
      await tick()
      held.release()
    })
    await tick()
    assert.equal(container.get('q').waiting, 20)
    first.release()
    // Right after a release, with waiters queued:
    const barged = container.get('q').tryAcquire()
    if (fair) {
      assert.equal(barged, null, 'fair: handed to the longest waiter, nobody jumps the queue')
    } else {
      assert.ok(barged !== null, 'unfair: free until the woken waiter runs')
      barged.release()
    }
    await Promise.all(waiters)
    assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => i), 'waiters served in arrival order')
  }
  // The process-wide fair and unfair locks of a name are one lock.
  using held = internalLock('shared-space').tryAcquire()
  assert.ok(held !== null)
  assert.equal(internalFairLock('shared-space').tryAcquire(), null)
})

test('lock(): callback and await-using forms, exclusion, non-blocking, timeout, abort', async () => {
  const events: string[] = []
  await Promise.all([1, 2, 3].map(async (i) => await lock('L', async () => {
    events.push(`in${i}`)
    await sleep(5)
    events.push(`out${i}`)
  })))
  assert.deepEqual(events, ['in1', 'out1', 'in2', 'out2', 'in3', 'out3'])

  {
    await using held = await lock('L')
    assert.deepEqual(held.names, ['L'])
    assert.deepEqual(held.paths, [])
    await assert.rejects(lock('L', { blocking: false }), (error: unknown) =>
      error instanceof AcquireLockFailedError && error instanceof LockBusyError && error.code === 'ELOCKED' && error.lockName === 'L')
    await assert.rejects(lock('L', { blocking: 30 }), (error: unknown) => error instanceof LockTimeoutError && error.timeout === 30)
    const controller = new AbortController()
    const pending = lock('L', { signal: controller.signal })
    controller.abort(new Error('stop'))
    await assert.rejects(pending, /stop/)
  }
  assert.equal(internalLock('L').locked, false)
  assert.equal(internalLock('L').waiting, 0)
  // Callback errors release the lock.
  await assert.rejects(lock('L', { blocking: false }, () => { throw new Error('inside') }), /inside/)
  assert.equal(internalLock('L').locked, false)
})

test('several names are taken in sorted order: opposite orders do not deadlock', async () => {
  const runs: Array<Promise<void>> = []
  for (let i = 0; i < 50; i++) {
    const names = i % 2 === 0 ? ['b', 'a', 'c'] : ['c', 'a', 'b']
    runs.push(lock(names, async () => { await tick() }))
  }
  await Promise.all(runs)
  await using held = await lock(['z', 'y', 'y'])
  assert.deepEqual(held.names, ['y', 'z'])
})

test('delay is refused with an explanation; unknown options are named', async () => {
  const delay = { delay: 0.01 } as unknown as Record<string, never>
  await assert.rejects(lock('d', delay), (error: NodeJS.ErrnoException) =>
    error.code === 'ERR_INVALID_ARG_VALUE' && /never polls/.test(error.message))
  assert.throws(() => synchronized('d', delay), { code: 'ERR_INVALID_ARG_VALUE', message: /never polls/ })
  assert.throws(() => externalLock('d', delay), { code: 'ERR_INVALID_ARG_VALUE' })
  await assert.rejects(lock('d', { lock_path: '/tmp' } as unknown as Record<string, never>), /did you mean 'lockPath'/)
  await assert.rejects(lock('d', { lock_file_prefix: 'x' } as unknown as Record<string, never>), /did you mean 'lockFilePrefix'/)
  await assert.rejects(lock('d', { fair: true, semaphores: new Semaphores() }), { code: 'ERR_INVALID_ARG_VALUE' })
  await assert.rejects(lock('d', { blocking: -1 }), { code: 'ERR_OUT_OF_RANGE' })
  await assert.rejects(lock(''), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('synchronized as a standard method decorator: calls never overlap; functions sharing a name exclude each other', async () => {
  const events: string[] = []
  class Worker {
    @synchronized('shared')
    async first (n: number): Promise<number> {
      events.push(`first+${n}`)
      await sleep(2)
      events.push(`first-${n}`)
      return n
    }

    @synchronized('shared')
    async second (n: number): Promise<number> {
      events.push(`second+${n}`)
      await tick()
      events.push(`second-${n}`)
      return -n
    }

    @synchronized('other')
    async unrelated (): Promise<void> {
      events.push('unrelated')
    }
  }
  const worker = new Worker()
  const results = await Promise.all([worker.first(1), worker.second(2), worker.unrelated(), worker.first(3), worker.second(4)])
  assert.deepEqual(results, [1, -2, undefined, 3, -4])
  const shared = events.filter((e) => e !== 'unrelated')
  for (let i = 0; i < shared.length; i += 2) {
    assert.equal((shared[i] as string).replace('+', '-'), shared[i + 1], `interleaved: ${shared.join(' ')}`)
  }
  assert.equal(events[1], 'unrelated', 'a different name does not wait')
  assert.equal(worker.first.name, 'first')
})

test('synchronized templates: {f_name}, parameters, positions, this, key functions; errors name the field', async () => {
  const seen: Array<readonly string[]> = []
  const spy = { debug: (fields: LogFields) => { if (fields.event === 'acquired') seen.push(fields.names ?? []) } }
  class Volumes {
    host = 'h1'
    @synchronized('{f_name}-{vol.id}-{snap[name]}', { logger: spy })
    async attach (vol: { id: string }, snap: { name: string }): Promise<string> { return `${vol.id}/${snap.name}` }

    @synchronized('{this.host}-{0.id}', { logger: spy })
    async detach (vol: { id: string }): Promise<string> { return vol.id }

    @synchronized((vol: { id: string }) => ['k-' + vol.id, 'k-all'], { logger: spy })
    async keyed (vol: { id: string }): Promise<string> { return vol.id }
  }
  const volumes = new Volumes()
  assert.equal(await volumes.attach({ id: 'v1' }, { name: 's1' }), 'v1/s1')
  assert.equal(await volumes.detach({ id: 'v2' }), 'v2')
  assert.equal(await volumes.keyed({ id: 'v3' }), 'v3')
  assert.deepEqual(seen, [['attach-v1-s1'], ['h1-v2'], ['k-all', 'k-v3']])
  await assert.rejects(volumes.attach({ id: 'v1' }, {} as { name: string }), (error: unknown) =>
    error instanceof TemplateFieldError && error.field === 'snap[name]' && /no element \[name\]/.test(error.message))
  // A field naming no parameter fails where it is declared, not at the first call.
  assert.throws(() => synchronized('{volume.id}')(async (vol: { id: string }) => vol), (error: unknown) =>
    error instanceof TemplateFieldError && /parameters are vol/.test(error.message))
  assert.throws(() => synchronized('{a')(async () => {}), { code: 'ERR_INVALID_ARG_VALUE' })
})

test('synchronized wraps plain functions, async and sync; a sync function never waits for its own thread', async () => {
  const add = synchronized('sum')((a: number, b: number) => a + b)
  assert.equal(add(2, 3), 5)
  const addLater = synchronized('sum')(async (a: number, b: number) => { await tick(); return a + b })
  assert.equal(await addLater(1, 1), 2)

  const held = await lock('sum')
  assert.throws(() => add(1, 1), (error: unknown) => error instanceof WouldDeadlockError && error.code === 'EDEADLK' && error.lockName === 'sum')
  const tryAdd = synchronized('sum', { blocking: false })((a: number) => a)
  assert.throws(() => tryAdd(1), AcquireLockFailedError)
  const pending = addLater(2, 2) // async: waits
  held.release()
  assert.equal(await pending, 4)

  // A non-async function returning a promise keeps the lock until it settles.
  const later = synchronized('promise')(() => sleep(10).then(() => 'done'))
  const result = later()
  assert.equal(internalLock('promise').locked, true)
  assert.equal(await result, 'done')
  assert.equal(internalLock('promise').locked, false)
  // A throwing sync function releases.
  const boom = synchronized('boom')(() => { throw new Error('boom') })
  assert.throws(() => boom(), /boom/)
  assert.equal(internalLock('boom').locked, false)
  assert.throws(() => synchronized('gen')(function * () { yield 1 }), { code: 'ERR_INVALID_ARG_VALUE' })
  // lockSync: the same rule for synchronous code.
  const sync = lockSync('sum')
  assert.throws(() => lockSync('sum'), WouldDeadlockError)
  sync.release()
})

test('synchronized as a legacy (experimentalDecorators) decorator', async () => {
  class Legacy { async run (x: number): Promise<number> { await tick(); return x } }
  const descriptor = Object.getOwnPropertyDescriptor(Legacy.prototype, 'run') as PropertyDescriptor
  const decorate = synchronized('{f_name}-{x}') as unknown as (target: object, key: string, d: PropertyDescriptor) => PropertyDescriptor
  Object.defineProperty(Legacy.prototype, 'run', decorate(Legacy.prototype, 'run', descriptor))
  const legacy = new Legacy()
  const first = legacy.run(1)
  assert.equal(internalLock('run-1').locked, true)
  assert.equal(await first, 1)
})

test('external locks: files in the lock path, prefixes equivalent, removal', async () => {
  const dir = tempDir()
  {
    await using held = await lock('ext', { external: true, lockPath: dir, lockFilePrefix: 'nova' })
    assert.deepEqual(held.paths, [join(dir, 'nova-ext')])
    await assert.rejects(lockWithPrefix('nova-')('ext', { external: true, lockPath: dir, blocking: false }), AcquireLockFailedError)
    await assert.rejects(lock('ext', { blocking: false }), AcquireLockFailedError, 'the in-process lock is taken first')
    assert.equal(externalLock('ext', { lockFilePrefix: 'nova', lockPath: dir }).tryAcquire(), false)
  }
  assert.equal(await lockWithPrefix('nova')('ext', { external: true, lockPath: dir }, () => 'cb'), 'cb')
  const wrapped = synchronizedWithPrefix('nova')('ext', { external: true, lockPath: dir })(() => readdirSync(dir))
  assert.deepEqual(wrapped(), ['nova-ext'])
  await removeExternalLockFileWithPrefix('nova-')('ext', { lockPath: dir })
  assert.deepEqual(readdirSync(dir), [])
  await removeExternalLockFile('never-made', { lockPath: dir })
  await (await lock('gone', { external: true, lockPath: dir })).release()
  removeExternalLockFileSync('gone', { lockPath: dir })
  assert.equal(existsSync(join(dir, 'gone')), false)

  // Removal waits for a holder, and is refused when non-blocking.
  const held = await lock('busy', { external: true, lockPath: dir })
  await assert.rejects(removeExternalLockFile('busy', { lockPath: dir, blocking: false }), AcquireLockFailedError)
  const removal = removeExternalLockFile('busy', { lockPath: dir })
  await sleep(20)
  assert.equal(existsSync(join(dir, 'busy')), true)
  held.release()
  await removal
  assert.equal(existsSync(join(dir, 'busy')), false)
})

test("backend 'posix' shares lock files with oslo.concurrency's fcntl.lockf", { skip: process.platform !== 'linux' }, async () => {
  const dir = tempDir()
  const path = join(dir, 'nova-compute')
  {
    await using held = await lock('compute', { external: true, lockPath: dir, lockFilePrefix: 'nova', backend: 'posix' })
    assert.equal(held.paths[0], path)
    assert.equal(pythonCanLock(path, 'lockf'), false)
  }
  assert.equal(pythonCanLock(path, 'lockf'), true)
})

test('rwLock: a ReaderWriterLock by name, in its own file', async () => {
  const dir = tempDir()
  const rw = rwLock('db', { lockPath: dir, lockFilePrefix: 'app' })
  assert.equal(rw.path, join(dir, 'app-db%rw'))
  const readers = await Promise.all([rw.read(), rwLock('db', { lockPath: dir, lockFilePrefix: 'app-' }).read()])
  assert.equal(rwLock('db', { lockPath: dir, lockFilePrefix: 'app' }).tryWrite(), null)
  for (const reader of readers) reader.release()
  const writer = rw.tryWrite()
  assert.ok(writer !== null)
  assert.equal(rw.tryRead(), null)
  writer.release()
})
