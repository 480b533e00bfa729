// The redis:// backend against a real redis-server started for this file:
// conformance, lease renewal and loss, notifications, and faults (server
// killed and restarted, holder paused past its lease).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { backoffBase } from '../lib/coordination/backoff'
import { deadlinesKey, lockKey, queueKey } from '../lib/coordination/redis'
import { Coordinator, LockLostError, type DistributedLock, type ReconnectingEvent } from '../lib/index'
import { conformance, pausedHolderLosesLock, releaseWakesWaiter, retakingMemberYields } from './coordination-suite'
import { sleep } from './helpers'
import { redisCheck, RedisServer } from './servers'

const { skip } = redisCheck()
const lease = { leaseTtl: 1500, heartbeat: 250, initialReconnectBackoff: 50, maxReconnectBackoff: 400 }

describe('redis', { skip }, () => {
  let server: RedisServer
  before(async () => { server = await RedisServer.start() })
  after(async () => { await server?.stop() })

  conformance('redis', { url: () => server.url, options: { ...lease, prefix: 'app-' }, crashRecovery: 10_000 })

  describe('redis: leases', () => {
    it('renews a lease for as long as the holder lives', async () => {
      await using holder = new Coordinator(server.url, lease)
      await holder.start()
      const lock = holder.getLock('renewed')
      await lock.acquire()
      await sleep(lease.leaseTtl * 2.5)
      assert.equal(lock.acquired, true)
      assert.equal(await lock.isStillOwner(), true)
      await using other = new Coordinator(server.url, lease)
      await other.start()
      assert.equal(await other.getLock('renewed').acquire({ blocking: false }), false)
      assert.equal(lock.signal.aborted, false)
      await lock.release()
    })

    it('reports a lock lost when its key is gone, and never deletes a successor', async () => {
      await using holder = new Coordinator(server.url, lease)
      await holder.start()
      const lost: string[] = []
      holder.on('lockLost', ({ name, error }) => lost.push(`${name}: ${(error as LockLostError).code}`))
      const lock = holder.getLock('vanishing')
      await lock.acquire()
      const token = lock.fencingToken as number
      const raw = new Redis(server.port, '127.0.0.1')
      try {
        await raw.del(lockKey('vanishing')) // an operator, a failover or an eviction
        await using other = new Coordinator(server.url, lease)
        await other.start()
        const successor = other.getLock('vanishing')
        assert.equal(await successor.acquire({ blocking: false }), true)
        assert.ok((successor.fencingToken as number) > token)
        // The next heartbeat finds the key is someone else's.
        await new Promise((resolve) => lock.signal.addEventListener('abort', resolve, { once: true }))
        assert.ok(lock.signal.reason instanceof LockLostError)
        assert.equal(lock.acquired, false)
        assert.equal(await lock.isStillOwner(), false)
        assert.deepEqual(lost, ['vanishing: ERR_LOCK_LOST'])
        assert.equal(await lock.release(), false)
        assert.equal(await successor.isStillOwner(), true, 'the old holder must not delete the new one')
        await successor.release()
      } finally {
        raw.disconnect()
      }
    })

    it('synchronized(): a lock lost while the function runs rejects the call with LockLostError', async () => {
      await using member = new Coordinator(server.url, lease)
      await member.start()
      const raw = new Redis(server.port, '127.0.0.1')
      try {
        let seenToken: number | undefined
        const work = member.synchronized('sync-lost')(async () => {
          const lock = member.currentLock() as DistributedLock
          seenToken = lock.fencingToken
          await raw.del(lockKey(lock.fullName)) // the lease is gone: the next heartbeat finds out
          await new Promise((resolve) => lock.signal.addEventListener('abort', resolve, { once: true }))
          return 'finished unprotected'
        })
        await assert.rejects(work(), (error: unknown) => error instanceof LockLostError && error.code === 'ERR_LOCK_LOST')
        assert.ok((seenToken as number) > 0)
        // The next call gets the lock again.
        assert.equal(await member.synchronized('sync-lost')(async () => member.currentLock()?.acquired)(), true)
      } finally {
        raw.disconnect()
      }
    })

    it('wakes a waiter by notification, not by the poll bound', async () => {
      // With a 30 s lease a poll would sleep for up to 30 s; the release message wakes at once.
      await releaseWakesWaiter(server.url, { leaseTtl: 30_000, heartbeat: 1000 }, 10_000)
    })
  })

  describe('redis: fairness', () => {
    it('serves waiters of other members in order beside a re-taking member (another process, another coordinator)', async () => {
      const raw = new Redis(server.port, '127.0.0.1')
      let counts
      try {
        counts = await retakingMemberYields(server.url, lease, async (name, agentId) =>
          (await raw.zrange(queueKey(name), 0, -1)).some((owner) => owner.startsWith(`${agentId}/`)))
      } finally {
        raw.disconnect()
      }
      console.log(`# re-taker's grants while a waiter waited: ${JSON.stringify(counts)}`)
      for (const { otherProcess, sameProcess } of counts) {
        assert.ok(otherProcess <= 2, `the re-taking member got the lock ${otherProcess} times while another process waited`)
        assert.ok(sameProcess <= 2, `the re-taking member got the lock ${sameProcess} times while another coordinator waited`)
      }
    })
  })

  describe('redis: the queue', () => {
    /** Puts an entry for a waiter that will never try again (crashed, paused) at the head of a name's queue. */
    async function ghost (raw: Redis, name: string): Promise<void> {
      const [seconds, micros] = await raw.time()
      const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
      await raw.zadd(queueKey(name), -1, 'ghost')
      await raw.hset(deadlinesKey(name), 'ghost', String(now + lease.leaseTtl))
    }

    it('a try does not jump ahead of a live entry, and a stale one holds the line for one lease at most', async () => {
      await using member = new Coordinator(server.url, lease)
      await member.start()
      const raw = new Redis(server.port, '127.0.0.1')
      try {
        await ghost(raw, 'ghosted')
        const lock = member.getLock('ghosted')
        assert.equal(await lock.acquire({ blocking: false }), false, 'the lock is free, but a waiter is first in line')
        // A blocking acquire lines up behind it and gets the lock once the entry goes stale.
        assert.equal(await lock.acquire({ timeout: lease.leaseTtl * 4 }), true)
        await lock.release()
        assert.equal(await raw.zscore(queueKey('ghosted'), 'ghost'), null)
        await ghost(raw, 'ghosted-2')
        await sleep(lease.leaseTtl + 100)
        const next = member.getLock('ghosted-2')
        assert.equal(await next.acquire({ blocking: false }), true, 'a stale entry does not block a try')
        assert.equal(await next.release(), true)
      } finally {
        raw.disconnect()
      }
    })

    it('a waiter whose entry vanished (a failover that lost the queue) lines up again and gets the lock', async () => {
      await using holder = new Coordinator(server.url, lease)
      await using waiting = new Coordinator(server.url, lease)
      await holder.start()
      await waiting.start()
      const raw = new Redis(server.port, '127.0.0.1')
      try {
        const held = holder.getLock('requeue')
        await held.acquire()
        const waiter = waiting.getLock('requeue')
        const waited = waiter.acquire({ timeout: 10_000 })
        for (let i = 0; i < 50 && await raw.zcard(queueKey('requeue')) === 0; i++) await sleep(20)
        const [entry] = await raw.zrange(queueKey('requeue'), 0, 0)
        assert.ok(entry !== undefined, 'the waiter is in the queue')
        await raw.del(queueKey('requeue'), deadlinesKey('requeue'))
        for (let i = 0; i < 100 && await raw.zcard(queueKey('requeue')) === 0; i++) await sleep(20)
        assert.deepEqual(await raw.zrange(queueKey('requeue'), 0, -1), [entry], 'the same waiter is back in line')
        await held.release()
        assert.equal(await waited, true)
        await waiter.release()
        assert.equal(await raw.exists(queueKey('requeue'), deadlinesKey('requeue')), 0, 'an empty queue leaves no keys')
      } finally {
        raw.disconnect()
      }
    })

    it('a waiter that gives up leaves the line at once', async () => {
      await using holder = new Coordinator(server.url, lease)
      await using waiting = new Coordinator(server.url, lease)
      await holder.start()
      await waiting.start()
      const raw = new Redis(server.port, '127.0.0.1')
      try {
        const held = holder.getLock('give-up')
        await held.acquire()
        const controller = new AbortController()
        const waited = waiting.getLock('give-up').acquire({ signal: controller.signal })
        for (let i = 0; i < 50 && await raw.zcard(queueKey('give-up')) === 0; i++) await sleep(20)
        assert.equal(await raw.zcard(queueKey('give-up')), 1)
        controller.abort()
        await assert.rejects(waited)
        for (let i = 0; i < 50 && await raw.zcard(queueKey('give-up')) > 0; i++) await sleep(20)
        assert.equal(await raw.zcard(queueKey('give-up')), 0)
        await held.release()
        // Nobody in line: a try from anyone succeeds.
        const next = waiting.getLock('give-up')
        assert.equal(await next.acquire({ blocking: false }), true)
        assert.equal(await next.release(), true)
      } finally {
        raw.disconnect()
      }
    })
  })

  describe('redis: faults', () => {
    it('kill the server while a lock is held: signal fires, backoff schedule, higher token after restart', async () => {
      await using holder = new Coordinator(server.url, lease)
      const events: Array<ReconnectingEvent & { at: number }> = []
      let disconnectedAt = 0
      holder.on('disconnected', () => { disconnectedAt = Date.now() })
      holder.on('reconnecting', (event) => events.push({ ...event, at: Date.now() }))
      await holder.start()
      const reconnected = new Promise<void>((resolve) => holder.once('connected', resolve))
      const lock: DistributedLock = holder.getLock('fault')
      await lock.acquire()
      const token = lock.fencingToken as number
      const lost = new Promise<number>((resolve) => lock.signal.addEventListener('abort', () => resolve(Date.now()), { once: true }))
      await server.kill()
      const lostAt = await lost
      assert.ok(lock.signal.reason instanceof LockLostError)
      assert.equal(lock.acquired, false)
      assert.equal(lock.fencingToken, undefined)
      assert.ok(disconnectedAt > 0)
      assert.ok(lostAt - disconnectedAt < lease.leaseTtl + 1000, `lost ${lostAt - disconnectedAt} ms after the disconnection`)
      await sleep(600) // let a few retries fail
      await server.restart() // no persistence: the server comes back empty
      await reconnected
      assert.ok(events.length >= 3, `${events.length} reconnect attempts`)
      events.forEach((event, index) => {
        assert.equal(event.attempt, index + 1)
        const base = backoffBase(event.attempt, lease.initialReconnectBackoff, lease.maxReconnectBackoff)
        assert.ok(event.delay <= base && event.delay >= Math.max(lease.initialReconnectBackoff, base / 2) - 1, `attempt ${event.attempt}: ${event.delay} ms, base ${base}`)
        const next = events[index + 1]
        if (next !== undefined) assert.ok(next.at - event.at >= event.delay - 5, `attempt ${next.attempt} came ${next.at - event.at} ms after a ${event.delay} ms delay`)
      })
      assert.equal(events.at(-1)?.delay !== undefined && events.some((e) => e.delay > lease.initialReconnectBackoff * 2), true, 'the delays grow')
      await using other = new Coordinator(server.url, lease)
      await other.start()
      const successor = other.getLock('fault')
      assert.equal(await successor.acquire({ blocking: false }), true)
      assert.ok((successor.fencingToken as number) > token, `token ${String(successor.fencingToken)} after ${token} across a server that lost its data`)
      assert.equal(await lock.isStillOwner(), false)
      assert.equal(await holder.getLock('fault').acquire({ blocking: false }), false)
      await successor.release()
    })

    it('a lease that survives a short outage is kept, never silently assumed', async () => {
      const durable = await RedisServer.start({ appendonly: true })
      try {
        const options = { ...lease, leaseTtl: 6000, heartbeat: 500 }
        await using holder = new Coordinator(durable.url, options)
        const reconnected = new Promise<void>((resolve) => holder.on('disconnected', () => holder.once('connected', resolve)))
        await holder.start()
        const lock = holder.getLock('survivor')
        await lock.acquire()
        const token = lock.fencingToken
        await durable.restart() // killed (SIGKILL) and back within the lease; the AOF kept the key
        await reconnected
        assert.equal(await lock.isStillOwner(), true)
        assert.equal(lock.acquired, true)
        assert.equal(lock.signal.aborted, false)
        assert.equal(lock.fencingToken, token)
        await using other = new Coordinator(durable.url, options)
        await other.start()
        assert.equal(await other.getLock('survivor').acquire({ blocking: false }), false)
        assert.equal(await lock.release(), true)
        assert.equal(await other.getLock('survivor').acquire({ blocking: false }), true)
      } finally {
        await durable.stop()
      }
    })

    it('a holder paused past its lease loses the lock to a member with a higher token, and learns it', async () => {
      await pausedHolderLosesLock(server.url, lease, 10_000)
    })
  })
})
