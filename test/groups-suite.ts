// Group membership and leader election, the same tests on every backend:
// the API and its typed errors in one process, then members in separate
// processes that join, leave, are killed (SIGKILL) or paused (SIGSTOP) past
// their lease, campaign in a tight loop, and live through a server restart.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { Coordinator, GroupError, type CoordinatorOptions, type MemberEvent } from '../lib/index'
import { Member } from './coordination-suite'
import { tempDir, waitFor } from './helpers'

export interface GroupSuiteOptions {
  url: () => string
  options: CoordinatorOptions & { leaseTtl: number, heartbeat: number }
  /** Memberships and terms end by a lease (not file://, where the kernel lock lives as long as the process). */
  leased: boolean
  /** Kills and restarts the server on the same port and data. */
  restart?: () => Promise<void>
}

const fresh = (what: string): string => `${what}-${randomBytes(4).toString('hex')}`

/** Collects a coordinator's group events. */
function recorder (coordinator: Coordinator): Array<{ event: string } & MemberEvent> {
  const events: Array<{ event: string } & MemberEvent> = []
  coordinator.on('memberJoined', (e) => events.push({ event: 'memberJoined', ...e }))
  coordinator.on('memberLeft', (e) => events.push({ event: 'memberLeft', ...e }))
  return events
}

/**
 * Checks the shared resource the loop members wrote: every term's writes
 * carry its token, terms never interleave, and tokens only ever rise.
 */
function checkTerms (log: string): number {
  const lines = readFileSync(log, 'utf8').trim().split('\n')
  let open: string | undefined
  let last = -Infinity
  let terms = 0
  for (const line of lines) {
    const [pid, what, token] = line.split(' ') as [string, string, string]
    const value = Number(token)
    if (what === 'start') {
      assert.equal(open, undefined, `term ${token} of ${pid} started while ${String(open)} was still leading`)
      assert.ok(value > last, `token ${token} is not above the previous term's ${last}`)
      open = `${pid} ${token}`
      last = value
      terms++
    } else {
      assert.equal(`${pid} ${token}`, open, `'${line}' wrote outside its term (current: ${String(open)})`)
      open = undefined
    }
  }
  assert.equal(open, undefined)
  return terms
}

export function groupSuite (kind: string, suite: GroupSuiteOptions): void {
  const { options } = suite
  /** The member id of an agent id (the prefix comes first). */
  const id = (agentId: string): string => `${options.prefix ?? ''}${agentId}`
  const start = async (agentId: string, extra: CoordinatorOptions = {}): Promise<Coordinator> => {
    const coordinator = new Coordinator(suite.url(), { ...options, agentId, ...extra })
    await coordinator.start()
    return coordinator
  }
  const member = async (agentId: string): Promise<Member> => await Member.start(suite.url(), { ...options, agentId }, 'group-member.js')

  describe(`${kind}: groups`, () => {
    it('creates, joins, lists, updates, leaves and deletes, with a typed error for each refusal', async () => {
      await using a = await start('alpha')
      await using b = await start('beta')
      const group = fresh('pool')
      await assert.rejects(a.joinGroup(group), { code: 'ERR_GROUP_NOT_FOUND' })
      await assert.rejects(a.getMembers(group), { code: 'ERR_GROUP_NOT_FOUND' })
      await assert.rejects(a.watchGroup(group), { code: 'ERR_GROUP_NOT_FOUND' })
      assert.equal(a.unwatchGroup(group), false)
      await a.createGroup(group)
      await assert.rejects(b.createGroup(group), { code: 'ERR_GROUP_ALREADY_EXISTS' })
      assert.deepEqual(await b.getMembers(group), [])
      await a.joinGroup(group, { cores: 4, tags: ['gpu'] })
      const again = a.joinGroup(group)
      await assert.rejects(again, { code: 'ERR_GROUP_ALREADY_MEMBER' })
      await again.catch((error: GroupError) => {
        assert.ok(error instanceof GroupError)
        assert.equal(error.group, group)
        assert.equal(error.member, id('alpha'))
      })
      await b.joinGroup(group)
      assert.deepEqual(await b.getMembers(group), [id('alpha'), id('beta')])
      assert.deepEqual(a.groups, [group])
      assert.deepEqual(await b.getMemberCapabilities(group, id('alpha')), { cores: 4, tags: ['gpu'] })
      assert.equal(await a.getMemberCapabilities(group, id('beta')), null)
      await assert.rejects(a.getMemberCapabilities(group, id('gamma')), { code: 'ERR_GROUP_NOT_MEMBER' })
      await b.updateCapabilities(group, 'busy')
      assert.equal(await a.getMemberCapabilities(group, id('beta')), 'busy')
      await assert.rejects(a.deleteGroup(group), { code: 'ERR_GROUP_NOT_EMPTY' })
      await b.leaveGroup(group)
      await assert.rejects(b.leaveGroup(group), { code: 'ERR_GROUP_NOT_MEMBER' })
      await assert.rejects(b.updateCapabilities(group, 1), { code: 'ERR_GROUP_NOT_MEMBER' })
      assert.deepEqual(await a.getMembers(group), [id('alpha')])
      await a.leaveGroup(group)
      await a.deleteGroup(group)
      await assert.rejects(a.deleteGroup(group), { code: 'ERR_GROUP_NOT_FOUND' })
      await assert.rejects(a.leaveGroup(group), { code: 'ERR_GROUP_NOT_FOUND' })
      await assert.rejects(a.leader(group), { code: 'ERR_GROUP_NOT_FOUND' })
      await assert.rejects(a.campaign(group), { code: 'ERR_GROUP_NOT_FOUND' })
      assert.deepEqual(a.groups, [])
    })

    it('refuses bad names, capabilities and options, and calls before start()', async () => {
      const idle = new Coordinator(suite.url(), { ...options, agentId: 'idle' })
      await assert.rejects(idle.createGroup('g'), { code: 'ERR_COORDINATOR_NOT_STARTED' })
      await using a = await start('alpha')
      await assert.rejects(a.createGroup(''), { code: 'ERR_INVALID_ARG_VALUE' })
      await assert.rejects(a.createGroup('a\0b'), { code: 'ERR_INVALID_ARG_VALUE' })
      await assert.rejects(a.createGroup(42 as unknown as string), { code: 'ERR_INVALID_ARG_TYPE' })
      await assert.rejects(a.createGroup('x'.repeat(257)), { code: 'ERR_OUT_OF_RANGE' })
      const group = fresh('checked')
      await a.createGroup(group)
      const cyclic: Record<string, unknown> = {}
      cyclic.self = cyclic
      for (const bad of [() => 1, NaN, Infinity, 10n, new Date(0), new Map(), [undefined], { a: Symbol('s') }, cyclic]) {
        await assert.rejects(a.joinGroup(group, bad), { code: 'ERR_INVALID_ARG_VALUE' })
      }
      await assert.rejects(a.joinGroup(group, 'x'.repeat(70_000)), { code: 'ERR_OUT_OF_RANGE' })
      assert.deepEqual(await a.getMembers(group), [])
      await assert.rejects(a.campaign(group, { blocking: 10 } as never), { code: 'ERR_INVALID_ARG_VALUE' })
      await assert.rejects(a.campaign(group, { timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' })
      await a.deleteGroup(group)
    })

    it('tells every watcher of joins and departures across processes', async () => {
      await using watcher = await start('watcher')
      const events = recorder(watcher)
      const group = fresh('watched')
      await watcher.createGroup(group)
      await watcher.watchGroup(group)
      const one = await member('one')
      const two = await member('two')
      try {
        await one.ok('join', { group, capabilities: { role: 'worker' } })
        await two.ok('join', { group })
        await waitFor(() => events.filter((e) => e.event === 'memberJoined').length === 2 || undefined)
        assert.deepEqual(events.map((e) => `${e.event} ${e.member}`).sort(), [`memberJoined ${id('one')}`, `memberJoined ${id('two')}`])
        // The members hear of each other too (a joined group is watched).
        await one.waitFor('memberJoined', (e) => e.member === id('two') && e.group === group)
        await two.ok('leave', { group })
        await waitFor(() => events.find((e) => e.event === 'memberLeft' && e.member === id('two')))
        await one.waitFor('memberLeft', (e) => e.member === id('two'))
        assert.deepEqual(await watcher.getMembers(group), [id('one')])
        // stop() leaves.
        await one.ok('stop')
        await waitFor(() => events.find((e) => e.event === 'memberLeft' && e.member === id('one')))
        assert.deepEqual(await watcher.getMembers(group), [])
        assert.equal(watcher.unwatchGroup(group), true)
        await watcher.deleteGroup(group)
      } finally {
        await one.kill()
        await two.kill()
      }
    })

    /**
     * The leader, one of two members, fails (`fail`: killed or paused) while the
     * other campaigns: the other is elected with a higher token and a watcher
     * sees the leader leave. `after` goes on while both processes still exist.
     */
    async function leaderFails (t: TestContext, how: string, fail: (leader: Member) => unknown,
      after: (leader: Member, other: Member, group: string, watcher: Coordinator) => Promise<void>): Promise<void> {
      await using watcher = await start('watcher')
      const events = recorder(watcher)
      const group = fresh(how)
      await watcher.createGroup(group)
      await watcher.watchGroup(group)
      const first = await member('first')
      const second = await member('second')
      try {
        await first.ok('join', { group })
        await second.ok('join', { group })
        const won = await first.ok('campaign', { group })
        assert.equal(await watcher.leader(group), id('first'))
        // Departures are reported against what a watcher has seen: let it see both first.
        await waitFor(() => events.filter((e) => e.event === 'memberJoined').length === 2 || undefined)
        const campaign = second.ok('campaign', { group })
        await fail(first)
        const failedAt = Date.now()
        const { token } = await campaign
        assert.ok((token as number) > (won.token as number))
        const elected = await second.waitFor('elected', (e) => e.group === group)
        await waitFor(() => events.find((e) => e.event === 'memberLeft' && e.member === id('first')), 30_000)
        const leftAt = Date.now()
        assert.equal(await watcher.leader(group), id('second'))
        assert.deepEqual(await watcher.getMembers(group), [id('second')])
        t.diagnostic(`${kind}: ${how} leader -> new leader ${(elected.at as number) - failedAt} ms, departure seen by a watcher within ${leftAt - failedAt} ms (lease ${options.leaseTtl} ms, heartbeat ${options.heartbeat} ms)`)
        await after(first, second, group, watcher)
      } finally {
        first.resume()
        await first.kill()
        await second.kill()
      }
    }

    it('removes a SIGKILLed member and hands its leadership to another', async (t) => {
      await leaderFails(t, 'killed', async (leader) => await leader.kill(), async (_leader, other) => {
        await other.ok('stop')
      })
    })

    it('removes a member paused past its lease and hands its leadership on; resumed, it learns it lost both', { skip: !suite.leased && 'file:// members live as long as their process (a paused process keeps its kernel locks)' }, async (t) => {
      await leaderFails(t, 'paused', (leader) => leader.pause(), async (leader, _other, group, watcher) => {
        leader.resume()
        const lost = await leader.waitFor('leadershipLost', (e) => e.group === group)
        assert.equal(lost.code, 'ERR_LOCK_LOST')
        await leader.waitFor('memberLeft', (e) => e.member === id('first') && e.group === group)
        assert.deepEqual((await leader.ok('groups')).groups, [])
        assert.deepEqual(await watcher.getMembers(group), [id('second')])
      })
    })

    it('two members campaigning in a tight loop never both lead (checked by fencing tokens on a shared resource)', async () => {
      await using setup = await start('setup')
      const group = fresh('loop')
      await setup.createGroup(group)
      const log = join(tempDir(), 'terms.log')
      const members = [await member('loop-a'), await member('loop-b')]
      try {
        await Promise.all(members.map(async (m) => await m.ok('loop', { group, iterations: 25, log, holdMs: 2 })))
        assert.equal(checkTerms(log), 50)
        for (const m of members) assert.equal(m.events.some((e) => e.event === 'leadershipLost'), false)
      } finally {
        for (const m of members) await m.kill()
      }
    })

    it('resign() passes leadership on; leader() and leadership() tell who leads', async () => {
      await using a = await start('alpha')
      await using b = await start('beta')
      const group = fresh('resign')
      await a.createGroup(group)
      assert.equal(await a.leader(group), undefined)
      const term = await a.campaign(group)
      assert.equal(await a.campaign(group), term) // already leading: the same term
      assert.equal(a.leadership(group), term)
      assert.equal(await b.leader(group), id('alpha'))
      await assert.rejects(b.campaign(group, { timeout: 50 }), { code: 'ETIMEDOUT' })
      const controller = new AbortController()
      const aborted = b.campaign(group, { signal: controller.signal })
      controller.abort(new Error('gave up'))
      await assert.rejects(aborted, /gave up/)
      const next = b.campaign(group)
      assert.equal(await a.resign(group), true)
      assert.equal(await a.resign(group), false)
      assert.equal(a.leadership(group), undefined)
      const second = await next
      assert.ok(second.fencingToken > term.fencingToken)
      assert.equal(term.signal.aborted, false) // resigned, not lost
      assert.equal(await a.leader(group), id('beta'))
      await b.stop()
      assert.equal(second.signal.aborted, true)
      assert.equal((second.signal.reason as { code?: string }).code, 'ERR_COORDINATOR_STOPPED')
      assert.equal(await a.leader(group), undefined)
    })

    it('keeps groups and one leader through a server restart', { skip: suite.restart === undefined && 'no server to restart' }, async (t) => {
      // A lease long enough to outlive the restart itself.
      const long = { leaseTtl: 8000, heartbeat: 400 }
      await using a = await start('alpha', long)
      await using b = await start('beta', long)
      const group = fresh('restart')
      await a.createGroup(group)
      await a.joinGroup(group)
      await b.joinGroup(group)
      const term = await a.campaign(group)
      const lost: string[] = []
      a.on('leadershipLost', ({ group: g }) => lost.push(g))
      await (suite.restart as () => Promise<void>)()
      await waitFor(() => (a.connected && b.connected) || undefined, 30_000)
      // Memberships are renewed after the reconnect: both still there.
      await waitFor(async () => (await b.getMembers(group).catch(() => [])).length === 2 || undefined, 30_000)
      assert.deepEqual(await a.getMembers(group), [id('alpha'), id('beta')])
      assert.deepEqual(a.groups, [group])
      // Either the term survived (a lease on the server) or it was reported lost; never a silent second leader.
      if (a.leadership(group) !== undefined) {
        assert.equal(await b.leader(group), id('alpha'))
        t.diagnostic(`${kind}: the term survived the restart`)
      } else {
        assert.deepEqual(lost, [group])
        assert.equal(term.signal.aborted, true)
        const next = await b.campaign(group)
        assert.ok(next.fencingToken > term.fencingToken)
        assert.equal(await a.leader(group), id('beta'))
        t.diagnostic(`${kind}: the term ended with the restart and passed on`)
      }
    })
  })
}
