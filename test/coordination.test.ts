// Coordinator without servers: argument checks, URLs, backoff arithmetic,
// lifecycle errors, decorator forms, and lazy loading of the client libraries.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { backoffBase, backoffDelay, Backoff } from '../lib/coordination/backoff'
import { Coordinator, CoordinationError } from '../lib/index'
import { refusedOption } from './coordination-suite'
import { freePort } from './servers'
import { tempDir } from './helpers'

describe('coordination: backoff', () => {
  it('doubles from the initial delay up to the maximum, with jitter in the upper half', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((n) => backoffBase(n, 100, 1000)), [100, 200, 400, 800, 1000, 1000, 1000])
    for (let attempt = 1; attempt <= 8; attempt++) {
      const base = backoffBase(attempt, 100, 1000)
      assert.equal(backoffDelay(attempt, 100, 1000, () => 0), Math.max(100, base / 2))
      assert.equal(backoffDelay(attempt, 100, 1000, () => 0.999999), base)
      for (let i = 0; i < 50; i++) {
        const delay = backoffDelay(attempt, 100, 1000)
        assert.ok(delay >= 100 && delay <= base && delay >= base / 2, `attempt ${attempt}: ${delay}`)
      }
    }
    assert.equal(backoffBase(10_000, 1, 60_000), 60_000)
    const backoff = new Backoff(10, 40)
    assert.deepEqual([backoff.next().attempt, backoff.next().attempt], [1, 2])
    backoff.reset()
    assert.equal(backoff.next().attempt, 1)
  })
})

describe('coordination: arguments', () => {
  it('chooses the backend by URL scheme and hides passwords', () => {
    assert.equal(new Coordinator().backend, 'file')
    assert.equal(new Coordinator('file:///tmp/x').backend, 'file')
    assert.equal(new Coordinator('redis://127.0.0.1:6379/2').backend, 'redis')
    assert.equal(new Coordinator('rediss://h/0').backend, 'redis')
    assert.equal(new Coordinator(new URL('postgres://u@h/db')).backend, 'postgresql')
    const pg = new Coordinator('postgresql://user:secret@db.example:5432/app')
    assert.equal(pg.backend, 'postgresql')
    assert.ok(!pg.url.includes('secret'), pg.url)
    assert.throws(() => new Coordinator('zookeeper://h:2181'), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.equal(new Coordinator('etcd://127.0.0.1:2379').backend, 'etcd')
    assert.equal(new Coordinator('etcd://127.0.0.1:2379,127.0.0.1:22379,[::1]:32379').backend, 'etcd')
    assert.equal(new Coordinator('redis+sentinel://:pw@127.0.0.1:26379,127.0.0.1:26380/mymaster/2').backend, 'redis')
    assert.ok(!new Coordinator('redis+sentinel://:pw@127.0.0.1:26379,127.0.0.1:26380/mymaster/2').url.includes('pw'))
    assert.equal(new Coordinator('redis://127.0.0.1:26379?sentinel=mymaster&sentinel_fallback=127.0.0.1:26380').backend, 'redis')
    assert.equal(new Coordinator('redis+cluster://127.0.0.1:7000,127.0.0.1:7001').backend, 'redis')
    for (const bad of ['redis+sentinel://127.0.0.1:26379', 'redis://a:1,b:2/0', 'redis+cluster://h:1/3', 'etcd://h:1/prefix',
      'etcd://u:p@h:1', 'etcd://h:1,:2', 'postgresql://a:1,b:2/db', 'redis+sentinel://h:1/m/x', 'redis://h:1/0?sentinel=']) {
      assert.throws(() => new Coordinator(bad), { code: 'ERR_INVALID_ARG_VALUE' }, bad)
    }
    assert.throws(() => new Coordinator('not a url'), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => new Coordinator('redis://h/locks'), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => new Coordinator(42 as unknown as string), { code: 'ERR_INVALID_ARG_TYPE' })
  })

  it('builds the member id from prefix and agent id, and checks the timings', () => {
    const c = new Coordinator(undefined, { prefix: 'cinder-', agentId: 'host-1' })
    assert.equal(c.memberId, 'cinder-host-1')
    assert.match(new Coordinator().memberId, /\.\d+$/)
    assert.throws(() => new Coordinator(undefined, { heartbeat: 5000, leaseTtl: 6000 }), { code: 'ERR_OUT_OF_RANGE' })
    assert.throws(() => new Coordinator(undefined, { initialReconnectBackoff: 500, maxReconnectBackoff: 100 }), { code: 'ERR_OUT_OF_RANGE' })
    assert.throws(() => new Coordinator(undefined, { leaseTtl: -1 }), { code: 'ERR_OUT_OF_RANGE' })
    assert.throws(() => new Coordinator(undefined, { heartbeat: '1s' as unknown as number }), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => new Coordinator(undefined, { prefix: 3 as unknown as string }), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => new Coordinator(undefined, { logger: {} as never }), { code: 'ERR_INVALID_ARG_TYPE' })
    // A short lease brings the default heartbeat down with it.
    assert.doesNotThrow(() => new Coordinator(undefined, { leaseTtl: 900 }))
  })

  it('refuses unknown constructor options with a hint, before anything is set up', () => {
    assert.throws(() => new Coordinator(undefined, { agentID: 'a' } as never), refusedOption('agentID', 'agentId'))
    assert.throws(() => new Coordinator(undefined, { agent_id: 'a' } as never), refusedOption('agent_id', 'agentId'))
    assert.throws(() => new Coordinator(undefined, { memberId: 'a' } as never), refusedOption('memberId', 'agentId'))
    assert.throws(() => new Coordinator(undefined, { lease_ttl: 900 } as never), refusedOption('lease_ttl', 'leaseTtl'))
    assert.throws(() => new Coordinator(undefined, { ttl: 900 } as never), refusedOption('ttl', 'leaseTtl'))
    assert.throws(() => new Coordinator(undefined, { heartbeatInterval: 100 } as never), refusedOption('heartbeatInterval', 'heartbeat'))
    assert.throws(() => new Coordinator(undefined, { prefx: 'p-' } as never), refusedOption('prefx', 'prefix'))
    assert.throws(() => new Coordinator(undefined, { loger: console } as never), refusedOption('loger', 'logger'))
    assert.throws(() => new Coordinator(undefined, { maxReconnectBackof: 100 } as never), refusedOption('maxReconnectBackof', 'maxReconnectBackoff'))
    // Acquire options belong to acquire(), not to the coordinator.
    assert.throws(() => new Coordinator('redis://127.0.0.1:1/0', { timeout: 100 } as never), refusedOption('timeout'))
    assert.throws(() => new Coordinator(undefined, null as never), { code: 'ERR_INVALID_ARG_TYPE' })
    const logged: string[] = []
    const c = new Coordinator(undefined, {
      prefix: 'p-', agentId: 'a', heartbeat: 100, leaseTtl: 900, initialReconnectBackoff: 10, maxReconnectBackoff: 20, logger: { debug: (_fields: unknown, m: string) => logged.push(m) }
    })
    assert.equal(c.memberId, 'p-a')
  })

  it('checks lock names, templates and acquire options', async () => {
    const dir = tempDir('locksmith-coord-unit-')
    await using c = new Coordinator(dir, { prefix: 'p-' })
    assert.throws(() => c.getLock(''), { code: 'ERR_INVALID_ARG_VALUE' })
    // NUL marks group leadership locks; U+F0000 stands for it where NUL cannot be stored.
    for (const name of ['a\0leader', 'a\u{F0000}leader']) assert.throws(() => c.getLock(name), { code: 'ERR_INVALID_ARG_VALUE' }, name)
    for (const prefix of ['p\0', 'p\u{F0000}']) assert.throws(() => new Coordinator(dir, { prefix }), { code: 'ERR_INVALID_ARG_VALUE' }, prefix)
    assert.throws(() => c.getLock(1 as unknown as string), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => c.getLock('v-{volume.id}', {}), { code: 'ERR_LOCK_NAME_FIELD' })
    assert.equal(c.getLock('{a}-{b[c]}', { a: 1, b: { c: 'x' } }).fullName, 'p-1-x')
    assert.equal(c.getLock('{literal}').name, '{literal}', 'without data a name is taken as it is')
    const lock = c.getLock('x')
    await assert.rejects(lock.acquire(), (error: unknown) => error instanceof CoordinationError && error.code === 'ERR_COORDINATOR_NOT_STARTED')
    await c.start()
    await assert.rejects(lock.acquire({ blocking: 'yes' as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' })
    await assert.rejects(lock.acquire({ blocking: -1 }), { code: 'ERR_OUT_OF_RANGE' })
    await assert.rejects(lock.acquire({ signal: {} as AbortSignal }), { code: 'ERR_INVALID_ARG_TYPE' })
    await assert.rejects(lock.acquire({ timout: 10 } as never), refusedOption('timout', 'timeout'))
    await assert.rejects(lock.block({ nonblocking: true } as never), refusedOption('nonblocking', 'blocking'))
    await assert.rejects(lock.acquire({ blocking: false, timeout: 5 }), refusedOption('timeout'))
    await assert.rejects(lock.acquire({ blocking: 5, timeout: 5 }), refusedOption('timeout'))
    await assert.rejects(lock.acquire({ timeout: Number.NaN }), { code: 'ERR_OUT_OF_RANGE' })
    await assert.rejects(lock.acquire(null as never), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.equal(lock.acquired, false)
    assert.equal(await lock.acquire({ timeout: 0 }), true, 'timeout: 0 takes a free lock')
    await lock.release()
    assert.equal(await lock.acquire({ blocking: true, timeout: 1000 }), true, 'blocking: true with a bound is not a contradiction')
    await lock.release()
    assert.equal(await lock.acquire(), true)
    await assert.rejects(lock.acquire(), { code: 'ERR_LOCK_ALREADY_HELD' })
    await lock.release()
    assert.throws(() => c.synchronized(''), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => c.synchronized('{unclosed'), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => c.synchronized('x', { Timeout: 5 } as never), refusedOption('Timeout', 'timeout'))
    assert.throws(() => c.synchronized('x', { block: false } as never), refusedOption('block', 'blocking'))
    assert.throws(() => c.synchronized('x', { blocking: false, timeout: 0 }), refusedOption('timeout'))
    assert.throws(() => c.synchronized('x', 'fast' as never), { code: 'ERR_INVALID_ARG_TYPE' })
  })
})

describe('coordination: lifecycle', () => {
  it('start() rejects when the server cannot be reached, and can be retried', async () => {
    const port = await freePort() // nothing listens there
    for (const url of [`redis://127.0.0.1:${port}/0`, `postgresql://postgres@127.0.0.1:${port}/postgres`, `etcd://127.0.0.1:${port}`,
      `redis+sentinel://127.0.0.1:${port}/mymaster`, `redis+cluster://127.0.0.1:${port}`]) {
      const c = new Coordinator(url)
      const events: string[] = []
      c.on('connected', () => events.push('connected'))
      await assert.rejects(c.start(), (error: unknown) => {
        assert.ok(error instanceof CoordinationError)
        assert.equal(error.code, 'ERR_COORDINATOR_CONNECT')
        assert.ok((error as { cause?: unknown }).cause instanceof Error)
        return true
      })
      await assert.rejects(c.start(), { code: 'ERR_COORDINATOR_CONNECT' })
      assert.equal(c.started, false)
      assert.deepEqual(events, [])
      await c.stop() // stopping what never started is a no-op
    }
  })

  it('a server that speaks another protocol, or nothing at all: a typed error, nothing left connected', async () => {
    const sockets = new Set<Socket>()
    const http = createServer((socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {})
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 13\r\n\r\n<html></html>'))
    })
    const silent = createServer((socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {})
      socket.resume() // reads (and so sees the client's FIN), answers nothing
    })
    http.listen(0, '127.0.0.1')
    silent.listen(0, '127.0.0.1')
    await Promise.all([once(http, 'listening'), once(silent, 'listening')])
    const port = (server: Server): number => (server.address() as AddressInfo).port
    try {
      const cases = [
        `redis://127.0.0.1:${port(http)}/0`, `etcd://127.0.0.1:${port(http)}`, `postgresql://postgres@127.0.0.1:${port(http)}/postgres`,
        `redis://127.0.0.1:${port(silent)}/0`, `etcd://127.0.0.1:${port(silent)}`, `postgresql://postgres@127.0.0.1:${port(silent)}/postgres`
      ]
      for (const url of cases) {
        const c = new Coordinator(url, { leaseTtl: 1000 })
        const started = Date.now()
        await assert.rejects(c.start(), (error: unknown) => error instanceof CoordinationError && ['ERR_COORDINATOR_CONNECT', 'ERR_COORDINATOR_PROTOCOL'].includes(error.code), url)
        assert.ok(Date.now() - started < 5000, `${url}: ${Date.now() - started} ms`)
        assert.equal(c.started, false)
      }
      // Every connection the coordinators opened is closed again.
      for (let i = 0; i < 50 && sockets.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
      assert.equal(sockets.size, 0, `${sockets.size} connections left open`)
    } finally {
      http.close()
      silent.close()
      for (const socket of sockets) socket.destroy()
    }
  })

  it('start() and stop() are idempotent and restartable', async () => {
    const c = new Coordinator(tempDir('locksmith-coord-unit-'))
    const events: string[] = []
    c.on('connected', () => events.push('connected'))
    await Promise.all([c.start(), c.start()])
    assert.equal(c.started, true)
    await Promise.all([c.stop(), c.stop()])
    assert.equal(c.started, false)
    await c.start()
    const lock = c.getLock('again')
    assert.equal(await lock.acquire(), true)
    await c.stop()
    assert.equal(lock.acquired, false)
    assert.deepEqual(events, ['connected', 'connected'])
  })

  it('the decorator works as a standard decorator, a legacy one and a wrapper', async () => {
    await using c = new Coordinator(tempDir('locksmith-coord-unit-'))
    await c.start()
    const seen: string[] = []
    class Volumes {
      prefix = 'vol'
      async attach (id: number): Promise<string> { seen.push(`attach ${id}`); return `${this.prefix}-${id}` }
    }
    const descriptor = Object.getOwnPropertyDescriptor(Volumes.prototype, 'attach') as PropertyDescriptor
    const legacy = c.synchronized('{f_name}-{id}')(Volumes.prototype, 'attach', descriptor) as PropertyDescriptor
    Object.defineProperty(Volumes.prototype, 'attach', legacy)
    assert.equal(await new Volumes().attach(3), 'vol-3')
    const standard = c.synchronized('{f_name}-{0}')(async function detach (id: number) { return id * 2 }, { name: 'detach', kind: 'method' } as ClassMethodDecoratorContext)
    assert.equal(await standard(21), 42)
    assert.equal(standard.name, 'detach')
    const keyed = c.synchronized((a: number, b: number) => [`pair-${a}`, `pair-${b}`])(async (a: number, b: number) => a + b)
    assert.equal(await keyed(1, 2), 3)
    assert.deepEqual(seen, ['attach 3'])
  })
})

describe('coordination: loading', () => {
  it('does not load ioredis or pg until a server backend connects', () => {
    const index = join(__dirname, '..', 'lib', 'index.js')
    const script = `
      const { Coordinator } = require(${JSON.stringify(index)})
      new Coordinator('redis://127.0.0.1:1/0'); new Coordinator('postgresql://h/db')
      const loaded = Object.keys(require.cache).filter((f) => /node_modules[\\\\/](ioredis|pg)[\\\\/]/.test(f))
      process.stdout.write(String(loaded.length))`
    const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
    assert.equal(result.stderr, '')
    assert.equal(result.stdout, '0')
  })

  it('loads the coordination modules only when Coordinator is first used', () => {
    const index = join(__dirname, '..', 'lib', 'index.js')
    const script = `
      const locksmith = require(${JSON.stringify(index)})
      const loaded = () => Object.keys(require.cache).filter((f) => /[\\\\/]coordination[\\\\/]/.test(f)).length
      const before = loaded()
      const type = typeof locksmith.Coordinator
      process.stdout.write(JSON.stringify([before, loaded() > 0, type, Object.keys(locksmith).includes('Coordinator')]))`
    const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
    assert.equal(result.stderr, '')
    assert.deepEqual(JSON.parse(result.stdout), [0, true, 'function', true])
  })
})
