// Coordinator beside OpenStack's tooz (Debian's python3-tooz 3.1, with
// python3-redis, python3-psycopg2 and python3-etcd3gw) on one backend and one
// lock name: file:// on a temporary directory, and redis-server, PostgreSQL
// and etcd on loopback ports. The tooz members are real tooz coordinators in
// Python processes (test/fixtures/interop/peer.py), naming their locks with
// bytes as tooz members do.
//
// For each backend: with compat: 'tooz' the two exclude each other both ways,
// blocking and non-blocking, and a tooz holder killed with SIGKILL lets a
// locksmith waiter in once tooz's lease or session ends; without it they do not
// see each other at all. The compat Coordinator also passes the conformance
// suite every backend passes (tokens, loss, crash, stop...), and on Redis and
// etcd a lock tooz breaks is reported lost. On the servers, compat names keep
// out of locksmith's queue (tooz's members could not keep to it), while a
// group's leadership stays in locksmith's layout.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { after, before, describe, it } from 'node:test'
import { Coordinator, LockLostError, type CoordinatorOptions } from '../lib/index'
import { toozFileLayout } from '../lib/coordination/tooz-file'
import { Client } from 'pg'
import { Redis } from 'ioredis'
import { b64, namePrefix, rangeEnd } from '../lib/coordination/etcd'
import { deadlinesKey, queueKey } from '../lib/coordination/redis'
import { toozAdvisoryPair } from '../lib/coordination/tooz-postgres'
import { toozRedisKey } from '../lib/coordination/tooz-redis'
import { conformance } from './coordination-suite'
import { sleep, tempDir } from './helpers'
import { PythonPeer, skipUnless, stillPending, type PeerEvent } from './interop-peer'
import { etcdCheck, EtcdServer, postgresCheck, PostgresServer, redisCheck, RedisServer } from './servers'

const lease = { leaseTtl: 1500, heartbeat: 250, initialReconnectBackoff: 50, maxReconnectBackoff: 400 }
const compat: CoordinatorOptions = { ...lease, compat: 'tooz' }

/** Names that exercise each layout: tooz's repr() quoting on Redis, UTF-8 everywhere. */
const NAMES = ['volume-1', "it's \"quoted\" é\t\\"]

let counter = 0
const unique = (label: string): string => `${label}-${process.pid}-${++counter}`

/** A tooz coordinator in a Python process of its own. */
class ToozMember {
  readonly peer: PythonPeer
  /** Whether the peer had to pass tooz's api_path on to etcd3gw (Debian 12's tooz 3.1 beside etcd3gw 2.0). */
  readonly shimmed: boolean
  readonly #coordinator: number

  static async start (modules: string[], url: string): Promise<ToozMember> {
    const peer = await PythonPeer.start(modules)
    const id = peer.send('tooz_start', { url })
    const started = await peer.waitFor(id, ['done'])
    return new ToozMember(peer, id, started.etcd3gw_api_path_shim === true)
  }

  private constructor (peer: PythonPeer, coordinator: number, shimmed: boolean) {
    this.peer = peer
    this.#coordinator = coordinator
    this.shimmed = shimmed
  }

  /** One try (blocking: false): the outcome event, with where tooz locked (name, key). */
  async try (name: string): Promise<PeerEvent> {
    return await this.peer.waitFor(this.peer.send('tooz', { coordinator: this.#coordinator, name, blocking: false }), ['acquired', 'busy'])
  }

  /** Starts a blocking acquire; returns its id. */
  start (name: string): number {
    return this.peer.send('tooz', { coordinator: this.#coordinator, name, blocking: true })
  }

  async break (name: string): Promise<boolean> {
    return (await this.peer.request('tooz_break', { coordinator: this.#coordinator, name })).broken as boolean
  }

  async release (id: number): Promise<void> { await this.peer.release(id) }
  async close (): Promise<void> { await this.peer.close() }
}

interface Fleet {
  /** The Python modules the tooz driver needs. */
  modules: string[]
  /** The URL the tooz members use. */
  toozUrl: () => string
  /** The URL the locksmith members use (tooz's own where locksmith reads it). */
  url: () => string
  /** tooz's URL with a short lock_timeout, for the crash case (remote backends). */
  crashUrl?: () => string
  /** The lease of a killed tooz holder outlives it (Redis key TTL, etcd lease); PostgreSQL ends the session at once. */
  outlivesCrash?: boolean
  /** Checks that locksmith computes the place tooz reports for `name`. */
  where: (name: string, event: PeerEvent) => void
  /** tooz can break_() a lock (Redis, etcd). */
  breaks?: boolean
  /** locksmith's own queue for a name (the servers' default layout). */
  line?: {
    /** Puts a waiter that never tries again at the head of the name's queue. */
    ghost: (name: string) => Promise<void>
    /** The entries in the name's queue. */
    entries: (name: string) => Promise<number>
  }
}

function toozScenarios (backend: string, fleet: Fleet): void {
  describe(`${backend}: tooz and locksmith on one lock`, { skip: skipUnless(fleet.modules) }, () => {
    let tooz: ToozMember
    let member: Coordinator
    before(async () => {
      tooz = await ToozMember.start(fleet.modules, fleet.toozUrl())
      member = new Coordinator(fleet.url(), { ...compat, agentId: 'node' })
      await member.start()
    })
    after(async () => {
      await member?.stop()
      await tooz?.close()
    })

    it('a tooz holder keeps a compat member out; a blocking acquire gets in once tooz releases', async (t) => {
      const { versions } = await tooz.peer.request('versions', { modules: ['tooz', ...fleet.modules.filter((m) => m !== 'tooz')] })
      t.diagnostic(`python: ${JSON.stringify(versions)}${tooz.shimmed ? " (etcd3gw.client() given tooz's api_path)" : ''}`)
      for (const base of NAMES) {
        const name = unique(base)
        const theirs = await tooz.try(name)
        assert.equal(theirs.event, 'acquired')
        fleet.where(name, theirs)
        const lock = member.getLock(name)
        assert.equal(await lock.acquire({ blocking: false }), false, 'a non-blocking try fails while tooz holds')
        const waiting = lock.acquire({ timeout: 10_000 })
        assert.equal(await stillPending(waiting, 300), true, 'a blocking acquire waits')
        const releasedAt = performance.now()
        await tooz.release(theirs.id)
        assert.equal(await waiting, true)
        t.diagnostic(`${JSON.stringify(name)}: locksmith in ${Math.round(performance.now() - releasedAt)} ms after tooz released`)
        const first = lock.fencingToken as number
        assert.ok(Number.isSafeInteger(first) && first > 0)
        await lock.release()
        // A tooz holding in between: tokens still rise (tooz members take none).
        const between = await tooz.try(name)
        assert.equal(between.event, 'acquired')
        await tooz.release(between.id)
        assert.equal(await lock.acquire({ blocking: false }), true)
        assert.ok((lock.fencingToken as number) > first, `${String(lock.fencingToken)} after ${first}`)
        await lock.release()
      }
    })

    it("a compat member keeps tooz out; tooz's blocking acquire gets in once it releases", async (t) => {
      for (const base of NAMES) {
        const name = unique(base)
        const lock = member.getLock(name)
        assert.equal(await lock.acquire({ blocking: false }), true)
        assert.equal((await tooz.try(name)).event, 'busy', "tooz's acquire(blocking=False) fails while locksmith holds")
        const waiter = tooz.start(name)
        await sleep(300)
        assert.deepEqual(tooz.peer.events(waiter), [], "tooz's blocking acquire waits")
        const releasedAt = performance.now()
        assert.equal(await lock.release(), true)
        fleet.where(name, await tooz.peer.waitFor(waiter, ['acquired']))
        t.diagnostic(`${JSON.stringify(name)}: tooz in ${Math.round(performance.now() - releasedAt)} ms after locksmith released`)
        assert.equal(await lock.acquire({ blocking: false }), false)
        await tooz.release(waiter)
      }
    })

    it('without compat they do not exclude each other', async () => {
      await using plain = new Coordinator(fleet.url(), { ...lease, agentId: 'plain' })
      await plain.start()
      const name = unique('plain')
      const theirs = await tooz.try(name)
      assert.equal(theirs.event, 'acquired')
      const lock = plain.getLock(name)
      assert.equal(await lock.acquire({ blocking: false }), true, 'both hold at once')
      await lock.release()
      await tooz.release(theirs.id)
    })

    if (fleet.breaks === true) {
      it('a holding tooz breaks is reported lost (compare-and-renew fails), and tooz can take the lock', async () => {
        const name = unique('broken')
        const lock = member.getLock(name)
        assert.equal(await lock.acquire({ blocking: false }), true)
        const lost = once(member, 'lockLost')
        assert.equal(await tooz.break(name), true)
        const [{ error }] = await lost as [{ error: Error }]
        assert.ok(error instanceof LockLostError && error.code === 'ERR_LOCK_LOST', String(error))
        assert.equal(lock.acquired, false)
        assert.equal(lock.signal.aborted, true)
        const theirs = await tooz.try(name)
        assert.equal(theirs.event, 'acquired')
        await tooz.release(theirs.id)
      })
    }

    const line = fleet.line
    if (line !== undefined) {
      it("compat names keep out of locksmith's queue: a waiter joins no line, and an entry in one holds nobody up", async () => {
        const name = unique('line')
        const theirs = await tooz.try(name)
        assert.equal(theirs.event, 'acquired')
        const lock = member.getLock(name)
        const waiting = lock.acquire({ timeout: 10_000 })
        assert.equal(await stillPending(waiting, 300), true)
        assert.equal(await line.entries(name), 0, 'a waiting compat member is not in the queue')
        await tooz.release(theirs.id)
        assert.equal(await waiting, true)
        await lock.release()
        // A queue entry for the name (a default-layout waiter) does not stop a compat member, as it does not stop tooz.
        await line.ghost(name)
        assert.equal(await lock.acquire({ blocking: false }), true)
        await lock.release()
      })
    }

    it("a group's leadership stays in locksmith's layout: leader() sees the term, and the next campaign waits for resign()", async () => {
      await using other = new Coordinator(fleet.url(), { ...compat, agentId: 'other' })
      await other.start()
      const group = unique('group')
      await member.createGroup(group)
      const term = await member.campaign(group)
      assert.equal(await other.leader(group), member.memberId)
      const next = other.campaign(group, { timeout: 10_000 })
      assert.equal(await stillPending(next, 300), true, 'a second campaign waits')
      assert.equal(await member.resign(group), true)
      const { fencingToken } = await next
      assert.ok(fencingToken > term.fencingToken, `${fencingToken} after ${term.fencingToken}`)
      assert.equal(await member.leader(group), other.memberId)
      assert.equal(await other.resign(group), true)
    })

    const crashUrl = fleet.crashUrl
    if (crashUrl !== undefined) {
      it('a tooz holder killed with SIGKILL lets a compat waiter in once its lease or session ends', async (t) => {
        const name = unique('crash')
        const doomed = await ToozMember.start(fleet.modules, crashUrl())
        const theirs = await doomed.try(name)
        assert.equal(theirs.event, 'acquired')
        const lock = member.getLock(name)
        await doomed.close() // SIGKILL
        const killedAt = performance.now()
        if (fleet.outlivesCrash === true) assert.equal(await lock.acquire({ blocking: false }), false, "tooz's lease outlives its process")
        assert.equal(await lock.acquire({ timeout: 10_000 }), true)
        t.diagnostic(`locksmith in ${Math.round(performance.now() - killedAt)} ms after the tooz holder was killed`)
        await lock.release()
      })
    }
  })
}

describe('compat: tooz on file://', () => {
  const dir = tempDir('locksmith-tooz-')
  const url = `file://${dir}`
  conformance('file, compat: tooz', { url: () => url, options: { compat: 'tooz', prefix: 'app-' }, crashRecovery: 5000 })
  toozScenarios('file', {
    modules: ['tooz', 'fasteners'],
    toozUrl: () => url,
    url: () => url,
    where: (name, event) => assert.equal(event.name, toozFileLayout(dir, name).path)
  })

  describe('file: names as tooz paths', { skip: skipUnless(['tooz', 'fasteners']) }, () => {
    let tooz: ToozMember
    before(async () => { tooz = await ToozMember.start(['tooz', 'fasteners'], url) })
    after(async () => { await tooz?.close() })

    it("a name with '/' is a file in a subdirectory, as tooz makes it; Web Locks' shared requests exclude tooz too", async () => {
      await using member = new Coordinator(url, compat)
      await member.start()
      const name = `${unique('nested')}/dir/lock`
      const lock = member.getLock(name)
      assert.equal((lock as unknown as { path: string }).path, join(dir, name))
      assert.equal(await lock.acquire({ blocking: false }), true)
      assert.equal((await tooz.try(name)).event, 'busy')
      await lock.release()
      const theirs = await tooz.try(name)
      assert.equal(theirs.event, 'acquired')
      assert.equal(await member.locks.request(name, { mode: 'shared', ifAvailable: true }, (held) => held === null), true)
      await tooz.release(theirs.id)
      assert.equal(await member.locks.request(name, { mode: 'shared', ifAvailable: true }, (held) => held !== null), true)
    })

    it("refuses names outside the directory, on tooz's reserved paths or on locksmith's own files beside a lock", async () => {
      await using member = new Coordinator(url, compat)
      for (const name of ['../x', '/etc/x', '.', 'groups', 'tmp', '.driver_lock', 'a/../../x', 'a%fence', 'a%fence.tmp', 'b/a%group', 'a%group-lock', 'a%leader']) {
        assert.throws(() => member.getLock(name), { code: 'ERR_INVALID_ARG_VALUE' }, name)
      }
      assert.equal((member.getLock('groups/x') as unknown as { path: string }).path, join(dir, 'groups', 'x'))
    })
  })
})

describe('compat: tooz on redis://', { skip: redisCheck().skip }, () => {
  let server: RedisServer
  // tooz's options ride on the URL; locksmith reads the namespace and the database from it too.
  const toozUrl = (): string => `redis://127.0.0.1:${server.port}?db=3&namespace=fleet`
  before(async () => {
    server = await RedisServer.start()
    // As most Redis servers run: no keyspace events, so a waiter learns of tooz's releases by trying.
    const admin = new Redis(server.port, '127.0.0.1')
    await admin.config('SET', 'notify-keyspace-events', '')
    admin.disconnect()
  })
  after(async () => { await server?.stop() })

  conformance('redis, compat: tooz', { url: toozUrl, options: { ...compat, prefix: 'app-' }, crashRecovery: 10_000 })
  toozScenarios('redis', {
    modules: ['tooz', 'redis'],
    toozUrl,
    url: toozUrl,
    crashUrl: () => `${toozUrl()}&lock_timeout=2`,
    outlivesCrash: true,
    breaks: true,
    where: (name, event) => assert.equal(event.name, toozRedisKey('fleet', name)),
    line: {
      ghost: async (name) => await withRedis(async (raw) => {
        const [seconds, micros] = await raw.time()
        await raw.zadd(queueKey(name), -1, 'ghost')
        await raw.hset(deadlinesKey(name), 'ghost', String(Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + 60_000))
      }),
      entries: async (name) => await withRedis(async (raw) => await raw.zcard(queueKey(name)))
    }
  })

  async function withRedis<T> (use: (raw: Redis) => Promise<T>): Promise<T> {
    const raw = new Redis(server.port, '127.0.0.1', { db: 3 })
    try {
      return await use(raw)
    } finally {
      raw.disconnect()
    }
  }

  it('is refused on redis+cluster:// (tooz has no cluster driver)', () => {
    assert.throws(() => new Coordinator('redis+cluster://127.0.0.1:1,127.0.0.1:2', compat), (error: Error & { code?: string }) =>
      error.code === 'ERR_INVALID_ARG_VALUE' && error.message.includes("'options.compat'"))
  })
})

describe('compat: tooz on postgresql://', { skip: postgresCheck().skip }, () => {
  let server: PostgresServer
  before(async () => { server = await PostgresServer.start() })
  after(async () => { await server?.stop() })

  conformance('postgresql, compat: tooz', { url: () => server.url, options: { ...compat, prefix: 'app-' }, crashRecovery: 10_000 })
  toozScenarios('postgresql', {
    modules: ['tooz', 'psycopg2'],
    toozUrl: () => server.url,
    url: () => server.url,
    crashUrl: () => server.url,
    where: (name, event) => assert.deepEqual(event.key, toozAdvisoryPair(name).values),
    line: {
      ghost: async (name) => { await query("INSERT INTO locksmith_waiters (name, owner, expires) VALUES ($1, 'ghost', clock_timestamp() + interval '1 minute')", [name]) },
      entries: async (name) => Number((await query<{ count: string }>('SELECT count(*) AS count FROM locksmith_waiters WHERE name = $1', [name]))[0]?.count)
    }
  })

  async function query<T extends Record<string, unknown>> (sql: string, values: unknown[]): Promise<T[]> {
    const client = new Client({ connectionString: server.url })
    await client.connect()
    try {
      return (await client.query<T>(sql, values)).rows
    } finally {
      await client.end()
    }
  }
})

describe('compat: tooz on etcd://', { skip: etcdCheck().skip }, () => {
  let server: EtcdServer
  // tooz's etcd3gw URL, which locksmith takes as it is (etcd 3.4 serves /v3, not tooz's default /v3alpha).
  const toozUrl = (): string => `etcd3+http://127.0.0.1:${server.port}?api_version=v3`
  before(async () => { server = await EtcdServer.start() })
  after(async () => { await server?.stop() })

  conformance('etcd, compat: tooz', { url: toozUrl, options: { ...compat, prefix: 'app-' }, crashRecovery: 10_000 })
  toozScenarios('etcd', {
    modules: ['tooz', 'etcd3gw'],
    toozUrl,
    url: toozUrl,
    crashUrl: () => `${toozUrl()}&lock_timeout=2`,
    outlivesCrash: true,
    breaks: true,
    where: (name, event) => assert.equal(event.key, `/tooz/locks${name}`),
    line: {
      // A key with no lease, created first: the head of locksmith's queue for the name.
      ghost: async (name) => { await etcd('/v3/kv/put', { key: b64(`${namePrefix(name)}ghost`), value: b64('ghost') }) },
      entries: async (name) => Number((await etcd<{ count?: string }>('/v3/kv/range', { key: b64(namePrefix(name)), range_end: rangeEnd(namePrefix(name)), count_only: true })).count ?? 0)
    }
  })

  async function etcd<T> (path: string, body: unknown): Promise<T> {
    const response = await fetch(`http://127.0.0.1:${server.port}${path}`, { method: 'POST', body: JSON.stringify(body) })
    assert.equal(response.status, 200, path)
    return await response.json() as T
  }
})

describe('compat option', () => {
  it("takes 'tooz' only, and suggests it for near misses", () => {
    assert.throws(() => new Coordinator(undefined, { compat: 'oslo' as 'tooz' }), { code: 'ERR_INVALID_ARG_VALUE' })
    assert.throws(() => new Coordinator(undefined, { compatibility: 'tooz' } as CoordinatorOptions), (error: Error) => error.message.includes("(did you mean 'compat'?)"))
  })
})
