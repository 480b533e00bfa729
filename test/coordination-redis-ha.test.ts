// redis:// where production lives: a server that stops answering (SIGSTOP),
// a primary demoted to a replica (READONLY), a Sentinel failover under load,
// and a 3-master cluster. Real redis-server and redis-sentinel processes on
// loopback ports; short leases keep it quick.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import { after, before, describe, it } from 'node:test'
import { Cluster, Redis } from 'ioredis'
import { deadlinesKey, fenceKey, lockKey, queueKey } from '../lib/coordination/redis'
import { Coordinator, CoordinationError, LockError } from '../lib/index'
import { conformance } from './coordination-suite'
import { sleep } from './helpers'
import { clusterCheck, redisCheck, RedisCluster, RedisSentinel, RedisServer, sentinelCheck } from './servers'

const lease = { leaseTtl: 1500, heartbeat: 250, initialReconnectBackoff: 50, maxReconnectBackoff: 400 }
const hasCode = (code: string) => (error: unknown): boolean => error instanceof CoordinationError && error.code === code

/** Settles with the time it took, and the value or error. */
async function timed<T> (promise: Promise<T>): Promise<{ ms: number, value?: T, error?: unknown }> {
  const started = performance.now()
  try {
    const value = await promise
    return { ms: performance.now() - started, value }
  } catch (error) {
    return { ms: performance.now() - started, error }
  }
}

/**
 * A resource that keeps the highest token it has seen and refuses older
 * writers, and a log of accepted writes by critical section.
 */
class FencedResource {
  highest = 0
  readonly accepted: number[] = []
  rejected = 0
  write (token: number, section: number): boolean {
    if (token < this.highest) {
      this.rejected++
      return false
    }
    this.highest = token
    this.accepted.push(section)
    return true
  }

  /** Sections whose accepted writes were interleaved with another section's: what fencing must prevent. */
  interleaved (): number {
    const closed = new Set<number>()
    let current: number | undefined
    let count = 0
    for (const section of this.accepted) {
      if (section === current) continue
      if (current !== undefined) closed.add(current)
      if (closed.has(section)) count++
      current = section
    }
    return count
  }
}

interface LoadResult { sections: number, rawOverlaps: number, typedErrors: Map<string, number>, rawErrors: unknown[], successesAt: number[] }

/** Members take `name` in turn until `until()` says stop; every section writes twice through the fence. */
async function load (members: Coordinator[], name: string, resource: FencedResource, until: () => boolean): Promise<LoadResult> {
  const result: LoadResult = { sections: 0, rawOverlaps: 0, typedErrors: new Map(), rawErrors: [], successesAt: [] }
  let inside = 0
  const note = (error: unknown): void => {
    if (error instanceof LockError) result.typedErrors.set(error.code, (result.typedErrors.get(error.code) ?? 0) + 1)
    else result.rawErrors.push(error)
  }
  await Promise.all(members.map(async (member) => {
    const lock = member.getLock(name)
    for (let i = 0; i < 5000 && !until(); i++) {
      try {
        if (!await lock.acquire({ timeout: 3000 })) continue
      } catch (error) {
        note(error)
        await sleep(20)
        continue
      }
      const section = ++result.sections
      const token = lock.fencingToken as number
      result.successesAt.push(performance.now())
      if (++inside > 1) result.rawOverlaps++
      resource.write(token, section)
      await sleep(2)
      resource.write(token, section)
      inside--
      try {
        await lock.release()
      } catch (error) {
        note(error)
      }
    }
  }))
  return result
}

describe('redis: a server that stops answering', { skip: redisCheck().skip }, () => {
  let server: RedisServer
  before(async () => { server = await RedisServer.start() })
  after(async () => { await server?.stop() })

  it('SIGSTOP: release() and one-time tries settle within a lease with typed errors; an idle member notices too', async () => {
    await using idle = new Coordinator(server.url, lease)
    await using holder = new Coordinator(server.url, lease)
    await idle.start()
    await holder.start()
    const held = holder.getLock('hung')
    const spare = holder.getLock('hung-other')
    await held.acquire()
    const idleGone = once(idle, 'disconnected')
    const startedAt = performance.now()
    server.pause()
    try {
      const [release, attempt] = await Promise.all([timed(held.release()), timed(spare.acquire({ blocking: false }))])
      assert.ok(hasCode('ERR_COORDINATOR_RELEASE_UNCONFIRMED')(release.error), `release: ${String(release.error ?? release.value)}`)
      assert.ok(release.ms < lease.leaseTtl + 1000, `release settled after ${release.ms} ms`)
      assert.ok(attempt.error instanceof CoordinationError, `try: ${String(attempt.error ?? attempt.value)}`)
      assert.ok(['ERR_COORDINATOR_UNANSWERED', 'ERR_COORDINATOR_DISCONNECTED'].includes(attempt.error.code), attempt.error.code)
      assert.ok(attempt.ms < lease.leaseTtl + 1000, `try settled after ${attempt.ms} ms`)
      assert.equal(held.acquired, false)
      // The idle member holds nothing, yet its heartbeat pings and notices.
      await idleGone
      assert.ok(performance.now() - startedAt < lease.leaseTtl + lease.heartbeat + 1500, `idle member noticed after ${performance.now() - startedAt} ms`)
      assert.equal(idle.connected, false)
      assert.equal(holder.connected, false)
      // A blocking acquire waits out the outage.
      const waiting = timed(spare.acquire({ timeout: 15_000 }))
      await sleep(300)
      server.resume()
      const waited = await waiting
      assert.equal(waited.value, true, String(waited.error))
      await spare.release()
      if (!idle.connected) await once(idle, 'connected')
      assert.equal(await idle.getLock('hung').acquire({ timeout: 5000 }), true)
    } finally {
      server.resume()
    }
  })
})

describe('redis: a primary demoted to a replica', { skip: redisCheck().skip }, () => {
  it('READONLY means reconnect: typed errors, connected false while the URL names a replica, back when it is primary again', async () => {
    const primary = await RedisServer.start()
    const other = await RedisServer.start()
    const admin = new Redis(primary.port, '127.0.0.1')
    try {
      await using member = new Coordinator(primary.url, lease)
      await member.start()
      const lock = member.getLock('demoted')
      assert.equal(await lock.acquire(), true)
      await lock.release()
      const gone = once(member, 'disconnected')
      await admin.call('REPLICAOF', '127.0.0.1', String(other.port))
      const attempt = await timed(lock.acquire({ blocking: false }))
      assert.ok(attempt.error instanceof CoordinationError, `got ${String(attempt.error ?? attempt.value)}`)
      assert.equal(attempt.error.code, 'ERR_COORDINATOR_DISCONNECTED')
      assert.match(String((attempt.error as { cause?: Error }).cause?.message), /READONLY/)
      await gone
      await sleep(600) // reconnect attempts find a replica and keep trying
      assert.equal(member.connected, false)
      await assert.rejects(lock.acquire({ blocking: false }), hasCode('ERR_COORDINATOR_DISCONNECTED'))
      const back = once(member, 'connected')
      await admin.call('REPLICAOF', 'NO', 'ONE')
      await back
      assert.equal(await lock.acquire({ timeout: 3000 }), true)
      await lock.release()
    } finally {
      admin.disconnect()
      await primary.stop()
      await other.stop()
    }
  })
})

describe('redis+sentinel: failover under load', { skip: sentinelCheck().skip }, () => {
  let primary: RedisServer
  let replica: RedisServer
  const sentinels: RedisSentinel[] = []
  before(async () => {
    primary = await RedisServer.start()
    replica = await RedisServer.start({ replicaOf: primary.port })
    const probe = new Redis(replica.port, '127.0.0.1')
    try {
      for (let i = 0; i < 100 && !(await probe.info('replication')).includes('master_link_status:up'); i++) await sleep(100)
    } finally {
      probe.disconnect()
    }
    for (let i = 0; i < 3; i++) sentinels.push(await RedisSentinel.start(primary.port))
  })
  after(async () => {
    await Promise.all(sentinels.map(async (s) => await s.stop()))
    await replica?.stop()
    await primary?.stop()
  })

  it('follows the master Sentinel names; no interleaved writes once fenced; every error typed', async () => {
    const url = `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/mymaster/0`
    const members = [0, 1, 2].map((i) => new Coordinator(url, { ...lease, agentId: `m${i}` }))
    const sentinel = new Redis(sentinels[0]?.port as number, '127.0.0.1')
    try {
      await Promise.all(members.map(async (m) => await m.start()))
      const resource = new FencedResource()
      let done = false
      let switchedAt = Infinity
      const running = load(members, 'failover', resource, () => done)
      await sleep(400)
      // A forced failover: Sentinel promotes the replica and demotes the primary.
      for (let i = 0; ; i++) {
        try {
          await sentinel.call('SENTINEL', 'FAILOVER', 'mymaster')
          break
        } catch (error) {
          if (i > 100) throw error
          await sleep(100) // NOGOODSLAVE until the sentinel has seen the replica
        }
      }
      for (let i = 0; i < 200; i++) {
        const [, port] = await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster') as [string, string]
        if (Number(port) === replica.port) {
          switchedAt = performance.now()
          break
        }
        await sleep(50)
      }
      assert.ok(switchedAt < Infinity, 'Sentinel never named the replica')
      await sleep(2500)
      done = true
      const result = await running
      const after = result.successesAt.filter((at) => at > switchedAt + 100).length
      const typed = Object.fromEntries(result.typedErrors)
      console.log(`# failover: ${result.sections} sections, ${after} after the switch, raw overlaps ${result.rawOverlaps}, ` +
        `interleaved ${resource.interleaved()}, fenced-off writes ${resource.rejected}, errors ${JSON.stringify(typed)}`)
      assert.deepEqual(result.rawErrors, [], 'no raw client errors')
      assert.equal(resource.interleaved(), 0, 'no interleaved writes through the fence')
      assert.ok(after > 10, `only ${after} sections after the failover`)
      for (const m of members) assert.equal(m.connected, true)
      // The locks now live on the promoted server.
      const promoted = new Redis(replica.port, '127.0.0.1')
      try {
        assert.equal(((await promoted.call('ROLE')) as string[])[0], 'master')
        assert.ok(Number(await promoted.get(fenceKey('failover'))) > 0)
      } finally {
        promoted.disconnect()
      }
    } finally {
      sentinel.disconnect()
      await Promise.all(members.map(async (m) => await m.stop()))
    }
  })

  it('replicas: a grant counts once the replica has it; without the replica the acquire fails and takes nothing', async () => {
    const url = `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/mymaster/0`
    await using safe = new Coordinator(url, { ...lease, replicas: 1 })
    await using plain = new Coordinator(url, lease)
    await safe.start()
    await plain.start()
    // The current replica is whichever server Sentinel does not name as master (a failover may
    // have run before this test); wait until it is in sync.
    const sentinel = new Redis(sentinels[0]?.port as number, '127.0.0.1')
    const [, masterPort] = await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster') as [string, string]
    sentinel.disconnect()
    const replicaServer = Number(masterPort) === primary.port ? replica : primary
    const master = new Redis(Number(masterPort), '127.0.0.1')
    try {
      for (let i = 0; i < 150 && !/slave0:.*state=online/.test(await master.info('replication')); i++) await sleep(100)
    } finally {
      master.disconnect()
    }
    const lock = safe.getLock('replicated')
    // Sentinel may still be reconfiguring the demoted server after an earlier failover (a short resync).
    for (let i = 0; ; i++) {
      try {
        assert.equal(await lock.acquire({ timeout: 3000 }), true)
        break
      } catch (error) {
        if (i >= 20 || !hasCode('ERR_COORDINATOR_REPLICATION')(error)) throw error
        await sleep(250)
      }
    }
    const token = lock.fencingToken as number
    await lock.release()
    replicaServer.pause()
    try {
      const started = performance.now()
      await assert.rejects(lock.acquire({ blocking: false }), hasCode('ERR_COORDINATOR_REPLICATION'))
      assert.ok(performance.now() - started < lease.leaseTtl, `${performance.now() - started} ms`)
      assert.equal(lock.acquired, false)
      // Given back: a member that does not wait for replicas takes it at once.
      const other = plain.getLock('replicated')
      assert.equal(await other.acquire({ blocking: false }), true)
      assert.ok((other.fencingToken as number) > token)
      await other.release()
    } finally {
      replicaServer.resume()
    }
  })

  it("accepts tooz's ?sentinel= form", async () => {
    const [first, ...rest] = sentinels
    const url = `redis://127.0.0.1:${first?.port as number}/0?sentinel=mymaster&${rest.map((s) => `sentinel_fallback=127.0.0.1:${s.port}`).join('&')}`
    await using member = new Coordinator(url, lease)
    await member.start()
    const lock = member.getLock('tooz-form')
    assert.equal(await lock.acquire({ timeout: 3000 }), true)
    assert.equal(await lock.release(), true)
  })
})

describe('redis+cluster: three masters', { skip: clusterCheck().skip }, () => {
  let cluster: RedisCluster
  before(async () => { cluster = await RedisCluster.start(3) })
  after(async () => { await cluster?.stop() })

  it('keeps the keys of one lock in one hash slot', async () => {
    const raw = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })))
    try {
      for (const name of ['a', 'volume-42', 'x}y', '}', '{weird}', 'ünïcode']) {
        const slots = await Promise.all([lockKey, fenceKey, queueKey, deadlinesKey].map(async (key) => await raw.cluster('KEYSLOT', key(name))))
        assert.equal(new Set(slots).size, 1, `${name}: ${slots.join(' ')}`)
      }
      await using member = new Coordinator(cluster.url, lease)
      await member.start()
      // Names whose keys land on each of the three masters.
      for (let i = 0; i < 12; i++) {
        const lock = member.getLock(`spread-${i}}`)
        assert.equal(await lock.acquire({ blocking: false }), true)
        assert.ok((lock.fencingToken as number) > 0)
        assert.equal(await lock.release(), true)
      }
    } finally {
      raw.disconnect()
    }
  })

  conformance('redis+cluster', { url: () => cluster.url, options: { ...lease, prefix: 'c-' }, crashRecovery: 10_000 })
})
