// The etcd:// backend against a real etcd started for this file: conformance,
// FIFO order across members, revision tokens, a SIGKILL restart, and a paused
// holder whose lease expires.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import { Coordinator, CoordinationError } from '../lib/index'
import { conformance, Member, pausedHolderLosesLock, retakingMemberYields } from './coordination-suite'
import { sleep } from './helpers'
import { etcdCheck, EtcdServer } from './servers'

const { skip } = etcdCheck()
const lease = { leaseTtl: 1500, heartbeat: 250, initialReconnectBackoff: 50, maxReconnectBackoff: 400 }

describe('etcd', { skip }, () => {
  let server: EtcdServer
  before(async () => { server = await EtcdServer.start() })
  after(async () => { await server?.stop() })

  conformance('etcd', { url: () => server.url, options: { ...lease, prefix: 'app-' }, crashRecovery: 10_000 })

  describe('etcd: order and tokens', () => {
    it('serves waiters of different members in the order they asked; tokens are creation revisions', async () => {
      await using holder = new Coordinator(server.url, lease)
      await holder.start()
      const waiters = await Promise.all([0, 1, 2].map(async (i) => {
        const c = new Coordinator(server.url, { ...lease, agentId: `w${i}` })
        await c.start()
        return c
      }))
      try {
        const held = holder.getLock('fifo')
        await held.acquire()
        const order: number[] = []
        const tokens: number[] = []
        const running: Array<Promise<void>> = []
        for (const [i, c] of waiters.entries()) {
          const lock = c.getLock('fifo')
          running.push(lock.acquire({ timeout: 10_000 }).then(async () => {
            order.push(i)
            tokens.push(lock.fencingToken as number)
            await sleep(5)
            await lock.release()
          }))
          await sleep(50) // queue in a known order
        }
        const first = held.fencingToken as number
        await held.release()
        await Promise.all(running)
        assert.deepEqual(order, [0, 1, 2])
        assert.ok(tokens.every((token, i) => token > (i === 0 ? first : tokens[i - 1] as number)), `${first} then ${tokens.join(', ')}`)
      } finally {
        await Promise.all(waiters.map(async (c) => await c.stop()))
      }
    })
  })

  describe('etcd: fairness', () => {
    it('serves waiters of other members in order beside a re-taking member (another process, another coordinator)', async () => {
      // A waiter is in line once its key exists under the name (the keys are <prefix><name>/<owner>, URI-encoded).
      const counts = await retakingMemberYields(server.url, lease, async (name, agentId) => {
        const prefix = Buffer.from(`locksmith/lock/${encodeURIComponent(name)}/${encodeURIComponent(`${agentId}/`)}`)
        const end = Buffer.from(prefix)
        end[end.length - 1] = (end[end.length - 1] as number) + 1
        const response = await fetch(`http://127.0.0.1:${server.port}/v3/kv/range`, {
          method: 'POST', body: JSON.stringify({ key: prefix.toString('base64'), range_end: end.toString('base64'), count_only: true })
        })
        return Number(((await response.json()) as { count?: string }).count ?? 0) > 0
      })
      console.log(`# re-taker's grants while a waiter waited: ${JSON.stringify(counts)}`)
      for (const { otherProcess, sameProcess } of counts) {
        assert.ok(otherProcess <= 2, `the re-taking member got the lock ${otherProcess} times while another process waited`)
        assert.ok(sameProcess <= 2, `the re-taking member got the lock ${sameProcess} times while another coordinator waited`)
      }
    })
  })

  describe('etcd: faults', () => {
    it('SIGKILL and restart: the lease is kept (confirmed, not assumed), and tokens keep rising', async () => {
      const options = { ...lease, leaseTtl: 6000, heartbeat: 500 }
      await using holder = new Coordinator(server.url, options)
      await holder.start()
      const lock = holder.getLock('restart')
      await lock.acquire()
      const token = lock.fencingToken as number
      const reconnected = new Promise<void>((resolve) => holder.once('disconnected', () => holder.once('connected', resolve)))
      await server.kill('SIGKILL')
      await sleep(700) // requests fail meanwhile
      await server.restart()
      await reconnected
      assert.equal(await lock.isStillOwner(), true)
      assert.equal(lock.acquired, true)
      assert.equal(lock.signal.aborted, false)
      await using other = new Coordinator(server.url, options)
      await other.start()
      const successor = other.getLock('restart')
      assert.equal(await successor.acquire({ blocking: false }), false)
      assert.equal(await lock.release(), true)
      assert.equal(await successor.acquire({ timeout: 3000 }), true)
      assert.ok((successor.fencingToken as number) > token)
      await successor.release()
    })

    it('a holder paused past its lease loses the lock to a member with a higher token, and learns it', async () => {
      await pausedHolderLosesLock(server.url, lease, 15_000)
    })

    it('a stopped etcd (SIGSTOP): typed errors within a lease, connected false, back after SIGCONT', async () => {
      await using member = new Coordinator(server.url, lease)
      await member.start()
      const gone = once(member, 'disconnected')
      server.pause()
      try {
        await assert.rejects(member.getLock('stopped').acquire({ blocking: false }), (error: unknown) => error instanceof CoordinationError)
        await gone
        assert.equal(member.connected, false)
      } finally {
        server.resume()
      }
      await once(member, 'connected')
      const lock = member.getLock('stopped')
      assert.equal(await lock.acquire({ timeout: 5000 }), true)
      await lock.release()
    })

    it('a member in another process gets a held lock in FIFO turn after a crash of the holder', async () => {
      const doomed = await Member.start(server.url, lease)
      await doomed.ok('acquire', { name: 'crash-fifo' })
      await using waiter = new Coordinator(server.url, lease)
      await waiter.start()
      const waiting = waiter.getLock('crash-fifo').acquire({ timeout: 10_000 })
      await sleep(100)
      await doomed.kill()
      assert.equal(await waiting, true)
    })
  })
})
