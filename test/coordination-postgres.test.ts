// The postgresql:// backend against a real PostgreSQL started for this file:
// conformance, one connection per coordinator, NOTIFY wake-ups, and faults
// (server killed and restarted, holder paused past its lease).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Client } from 'pg'
import { backoffBase } from '../lib/coordination/backoff'
import { Coordinator, LockLostError, type ReconnectingEvent } from '../lib/index'
import { conformance, pausedHolderLosesLock, releaseWakesWaiter, retakingMemberYields } from './coordination-suite'
import { sleep } from './helpers'
import { postgresCheck, PostgresServer } from './servers'

const { skip } = postgresCheck()
const lease = { leaseTtl: 1500, heartbeat: 250, initialReconnectBackoff: 50, maxReconnectBackoff: 400 }

async function query<T extends Record<string, unknown>> (url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<T>(sql, values)).rows
  } finally {
    await client.end()
  }
}

describe('postgresql', { skip }, () => {
  let server: PostgresServer
  before(async () => { server = await PostgresServer.start() })
  after(async () => { await server?.stop() })

  conformance('postgresql', { url: () => server.url, options: { ...lease, prefix: 'app-' }, crashRecovery: 10_000 })

  describe('postgresql: fairness', () => {
    it('serves waiters of other members in order beside a re-taking member (another process, another coordinator)', async () => {
      const raw = new Client({ connectionString: server.url })
      await raw.connect()
      let counts
      try {
        counts = await retakingMemberYields(server.url, lease, async (name, agentId) =>
          (await raw.query('SELECT 1 FROM locksmith_waiters WHERE name = $1 AND starts_with(owner, $2)', [name, `${agentId}/`])).rowCount !== 0)
      } finally {
        await raw.end()
      }
      console.log(`# re-taker's grants while a waiter waited: ${JSON.stringify(counts)}`)
      for (const { otherProcess, sameProcess } of counts) {
        assert.ok(otherProcess <= 2, `the re-taking member got the lock ${otherProcess} times while another process waited`)
        assert.ok(sameProcess <= 2, `the re-taking member got the lock ${sameProcess} times while another coordinator waited`)
      }
    })
  })

  describe('postgresql: the queue', () => {
    /** A row for a waiter that will never try again (crashed, paused), first in line for `name`. */
    const ghost = async (name: string): Promise<void> => {
      await query(server.url, "INSERT INTO locksmith_waiters (name, owner, expires) VALUES ($1, 'ghost', clock_timestamp() + $2 * interval '1 millisecond')", [name, lease.leaseTtl])
    }

    it('a try does not jump ahead of a live row, a stale one holds the line for one lease at most, and a waiter that gives up leaves', async () => {
      await using member = new Coordinator(server.url, lease)
      await using holder = new Coordinator(server.url, lease)
      await member.start()
      await holder.start()
      await ghost('ghosted')
      const lock = member.getLock('ghosted')
      assert.equal(await lock.acquire({ blocking: false }), false, 'the lock is free, but a waiter is first in line')
      assert.equal(await lock.acquire({ timeout: lease.leaseTtl * 4 }), true)
      assert.equal(await lock.release(), true)
      assert.deepEqual(await query(server.url, "SELECT owner FROM locksmith_waiters WHERE name = 'ghosted'"), [])
      await ghost('ghosted-2')
      await sleep(lease.leaseTtl + 100)
      const next = member.getLock('ghosted-2')
      assert.equal(await next.acquire({ blocking: false }), true, 'a stale row does not block a try')
      assert.equal(await next.release(), true)
      // A waiter that gives up takes its row away.
      const held = holder.getLock('give-up')
      await held.acquire()
      const controller = new AbortController()
      const waited = member.getLock('give-up').acquire({ signal: controller.signal })
      const rows = async (): Promise<number> => (await query(server.url, "SELECT owner FROM locksmith_waiters WHERE name = 'give-up'")).length
      for (let i = 0; i < 50 && await rows() === 0; i++) await sleep(20)
      assert.equal(await rows(), 1)
      controller.abort()
      await assert.rejects(waited)
      for (let i = 0; i < 50 && await rows() > 0; i++) await sleep(20)
      assert.equal(await rows(), 0)
      await held.release()
    })
  })

  describe('postgresql: sessions', () => {
    it('holds many locks and waits on one connection per coordinator', async () => {
      await using a = new Coordinator(server.url, lease)
      await using b = new Coordinator(server.url, lease)
      await a.start()
      await b.start()
      const names = ['m1', 'm2', 'm3', 'm4']
      const held = names.map((name) => a.getLock(name))
      for (const lock of held) assert.equal(await lock.acquire(), true)
      // b waits for all four at once: none of the waits may block the others or b's heartbeat.
      const waits = names.map(async (name) => { const lock = b.getLock(name); await lock.acquire({ blocking: 10_000 }); return lock })
      const free = b.getLock('m-free')
      assert.equal(await free.acquire({ blocking: 1000 }), true, 'an uncontended lock is not stuck behind waiting ones')
      await free.release()
      const connections = await query<{ n: string }>(server.url, "SELECT count(*)::text AS n FROM pg_stat_activity WHERE application_name = 'locksmith'")
      assert.equal(connections[0]?.n, '2')
      for (const lock of held.reverse()) await lock.release()
      for (const lock of await Promise.all(waits)) {
        assert.equal(lock.acquired, true)
        await lock.release()
      }
    })

    it('wakes a waiter by NOTIFY, not by the poll', async () => {
      // The poll interval is the heartbeat: 10 s here. NOTIFY wakes at once.
      await releaseWakesWaiter(server.url, { leaseTtl: 60_000, heartbeat: 10_000 }, 5000)
    })

    it('keeps fencing tokens in a table, updated with the grant', async () => {
      await using a = new Coordinator(server.url, lease)
      await a.start()
      const lock = a.getLock('table')
      await lock.acquire()
      const rows = await query<{ token: string }>(server.url, 'SELECT token::text FROM locksmith_fencing WHERE name = $1', ['table'])
      assert.equal(Number(rows[0]?.token), lock.fencingToken)
      await lock.release()
    })
  })

  describe('postgresql: faults', () => {
    it('kill the server while a lock is held: lost at once, backoff schedule, higher token after restart', async () => {
      await using holder = new Coordinator(server.url, lease)
      const events: Array<ReconnectingEvent & { at: number }> = []
      holder.on('reconnecting', (event) => events.push({ ...event, at: Date.now() }))
      await holder.start()
      const reconnected = new Promise<void>((resolve) => holder.once('connected', resolve))
      const lock = holder.getLock('fault')
      await lock.acquire()
      const token = lock.fencingToken as number
      const lost = new Promise<void>((resolve) => lock.signal.addEventListener('abort', () => resolve(), { once: true }))
      await server.kill()
      await lost // the session, and its advisory locks, died with the server
      assert.ok(lock.signal.reason instanceof LockLostError)
      assert.equal(lock.acquired, false)
      await sleep(600)
      await server.restart()
      await reconnected
      assert.ok(events.length >= 3, `${events.length} reconnect attempts`)
      events.forEach((event, index) => {
        assert.equal(event.attempt, index + 1)
        const base = backoffBase(event.attempt, lease.initialReconnectBackoff, lease.maxReconnectBackoff)
        assert.ok(event.delay <= base && event.delay >= Math.max(lease.initialReconnectBackoff, base / 2) - 1, `attempt ${event.attempt}: ${event.delay} ms, base ${base}`)
        const next = events[index + 1]
        if (next !== undefined) assert.ok(next.at - event.at >= event.delay - 5)
      })
      await using other = new Coordinator(server.url, lease)
      await other.start()
      const successor = other.getLock('fault')
      assert.equal(await successor.acquire({ blocking: 5000 }), true)
      assert.ok((successor.fencingToken as number) > token)
      // The reconnected holder can take locks again.
      const again = holder.getLock('fault-2')
      assert.equal(await again.acquire({ blocking: 5000 }), true)
      await again.release()
      await successor.release()
    })

    it('a holder paused past its lease loses its session and lock; the resumed holder learns it', async () => {
      // idle_session_timeout ends the paused member's session; the poll finds the lock free.
      await pausedHolderLosesLock(server.url, lease, 15_000)
    })
  })
})
