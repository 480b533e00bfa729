// coordinator.locks: the Web Locks API on a Coordinator's backends. Two
// coordinators stand for two machines; the callback's Lock carries the
// fencing token and the loss signal.
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Coordinator, lock, type WebLock } from '../lib/index'
import { sleep, tempDir } from './helpers'
import { postgresCheck, PostgresServer, redisCheck, RedisServer } from './servers'

function members (url: () => string): { a: Coordinator, b: Coordinator } {
  const pair = {} as { a: Coordinator, b: Coordinator }
  before(async () => {
    pair.a = new Coordinator(url(), { leaseTtl: 3000, heartbeat: 500 })
    pair.b = new Coordinator(url(), { leaseTtl: 3000, heartbeat: 500 })
    await Promise.all([pair.a.start(), pair.b.start()])
  })
  after(async () => { await Promise.all([pair.a?.stop(), pair.b?.stop()]) })
  return pair
}

/** What every backend does: exclusive locks between members, tokens rising, the spec's errors. */
function common (pair: { a: Coordinator, b: Coordinator }, shared: boolean): void {
  test('exclusive between members, with a rising fencing token and a loss signal on the Lock', async () => {
    const { a, b } = pair
    let release!: () => void
    let first!: WebLock
    const holding = a.locks.request('job', async (l) => {
      first = l as WebLock
      await new Promise<void>((resolve) => { release = resolve })
      return 'a'
    })
    while (first === undefined) await sleep(5)
    assert.equal(typeof first.fencingToken, 'number')
    assert.equal(first.signal.aborted, false)
    assert.equal(await b.locks.request('job', { ifAvailable: true }, (l) => l), null)
    let second = undefined as WebLock | undefined
    const waiting = b.locks.request('job', (l) => { second = l as WebLock; return 'b' })
    await sleep(100)
    assert.equal(second === undefined, true, 'granted while another member holds it')
    release()
    assert.equal(await holding, 'a')
    assert.equal(await waiting, 'b')
    assert.ok((second?.fencingToken as number) > (first.fencingToken as number))
  })

  test(shared ? 'shared requests are held together across members' : "mode 'shared' rejects with NotSupportedError", async () => {
    const { a, b } = pair
    if (!shared) {
      await assert.rejects(a.locks.request('sh', { mode: 'shared' }, () => {}), (error: DOMException) => error.name === 'NotSupportedError')
      return
    }
    let release!: () => void
    const one = a.locks.request('sh', { mode: 'shared' }, async () => await new Promise<void>((resolve) => { release = resolve }))
    while (release === undefined) await sleep(5)
    assert.equal(await b.locks.request('sh', { mode: 'shared', ifAvailable: true }, (l) => l?.mode), 'shared')
    assert.equal(await b.locks.request('sh', { ifAvailable: true }, (l) => l), null, 'an exclusive request waits for the shared holder')
    release()
    await one
  })

  test("steal: this member's holder loses the lock at once; another member's holder cannot be robbed, so the steal rejects after stealTimeout", async () => {
    const { a, b } = pair
    const victim = a.locks.request('st', async () => await new Promise(() => {})).then(() => 'resolved', (error: DOMException) => error.name)
    await sleep(50)
    assert.equal(await a.locks.request('st', { steal: true }, (l) => l?.mode), 'exclusive')
    assert.equal(await victim, 'AbortError')
    let release!: () => void
    const held = a.locks.request('st', async () => await new Promise<void>((resolve) => { release = resolve }))
    while (release === undefined) await sleep(5)
    const started = performance.now()
    await assert.rejects(b.locks.request('st', { steal: true }, () => {}), (error: DOMException) => error.name === 'TimeoutError')
    assert.ok(performance.now() - started >= 900)
    release()
    await held
  })

  test('query() lists this member\'s own requests', async () => {
    const { a } = pair
    let release!: () => void
    const held = a.locks.request('q', async () => await new Promise<void>((resolve) => { release = resolve }))
    const waiting = a.locks.request('q', () => {})
    while (release === undefined) await sleep(5)
    const snapshot = await a.locks.query()
    assert.deepEqual(snapshot.held.filter((i) => i.name === 'q').map((i) => i.mode), ['exclusive'])
    assert.deepEqual(snapshot.pending.filter((i) => i.name === 'q').map((i) => i.mode), ['exclusive'])
    release()
    await Promise.all([held, waiting])
  })
}

describe('coordinator.locks on file://', () => {
  const dir = tempDir('locksmith-weblocks-coord-')
  const pair = members(() => `file://${dir}`)
  common(pair, true)

  test('the same lock files as named locks: lock(name, { external: true }) excludes the request', async () => {
    const handle = await lock('nm', { external: true, lockPath: dir })
    assert.equal(await pair.a.locks.request('nm', { ifAvailable: true }, (l) => l), null)
    assert.equal(await pair.a.locks.request('nm', { mode: 'shared', ifAvailable: true }, (l) => l), null)
    handle.release()
    assert.equal(await pair.a.locks.request('nm', { ifAvailable: true }, (l) => l?.name), 'nm')
  })

  test('a stopped coordinator aborts the held Lock\'s signal', async () => {
    const c = new Coordinator(`file://${dir}`)
    await c.start()
    let signal!: AbortSignal
    const held = c.locks.request('stop', async (l) => {
      signal = (l as WebLock).signal
      await new Promise((resolve) => signal.addEventListener('abort', resolve))
      return signal.reason
    })
    while (signal === undefined) await sleep(5)
    await c.stop()
    const reason = await held as { code?: string }
    assert.equal(reason.code, 'ERR_COORDINATOR_STOPPED')
  })
})

describe('coordinator.locks on redis://', { skip: redisCheck().skip }, () => {
  let server: RedisServer
  before(async () => { server = await RedisServer.start() })
  after(async () => { await server?.stop() })
  common(members(() => server.url), false)
})

describe('coordinator.locks on postgresql://', { skip: postgresCheck().skip }, () => {
  let server: PostgresServer
  before(async () => { server = await PostgresServer.start() })
  after(async () => { await server?.stop() })
  common(members(() => server.url), false)
})
