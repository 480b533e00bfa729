// The conformance suite every coordination backend must pass, and the driver
// for member processes (test/fixtures/coordination-member.ts).
import assert from 'node:assert/strict'
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { after, before, describe, it } from 'node:test'
import { Coordinator, CoordinationError, LockTimeoutError, type CoordinatorOptions, type DistributedLock } from '../lib/index'
import { sleep, tempDir } from './helpers'

export interface MemberReply { ok: boolean, code?: string, message?: string, [key: string]: unknown }
export interface MemberEvent { event: string, [key: string]: any }

/** A coordination member in a child process. */
export class Member {
  readonly child: ChildProcess
  readonly events: MemberEvent[] = []
  readonly #pending = new Map<number, (reply: MemberReply) => void>()
  readonly #eventWaiters = new Set<() => void>()
  #nextId = 1

  /** `fixture`: the member program in test/fixtures (default: the lock member). */
  static async start (url: string, options: CoordinatorOptions = {}, fixture = 'coordination-member.js'): Promise<Member> {
    const member = new Member(fixture)
    await member.waitFor('ready', () => true, 10_000)
    const reply = await member.call('start', { url, options })
    if (!reply.ok) {
      await member.kill()
      throw new Error(`member did not start: ${String(reply.code)} ${String(reply.message)}`)
    }
    return member
  }

  private constructor (fixture: string) {
    this.child = fork(join(__dirname, 'fixtures', fixture), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (message: MemberReply & MemberEvent & { id?: number }) => {
      if (typeof message.id === 'number') {
        this.#pending.get(message.id)?.(message)
        this.#pending.delete(message.id)
        return
      }
      this.events.push(message)
      for (const wake of [...this.#eventWaiters]) wake()
    })
  }

  call (cmd: string, args: Record<string, unknown> = {}): Promise<MemberReply> {
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, resolve)
      this.child.send({ id, cmd, ...args }, (error) => { if (error !== null) reject(error) })
    })
  }

  /** Calls and insists on success. */
  async ok (cmd: string, args: Record<string, unknown> = {}): Promise<MemberReply> {
    const reply = await this.call(cmd, args)
    if (!reply.ok) throw new Error(`${cmd} failed: ${String(reply.code)} ${String(reply.message)}`)
    return reply
  }

  /** The first event (past or future) matching; rejects after `timeout` ms. */
  waitFor (event: string, match: (e: MemberEvent) => boolean = () => true, timeout = 15_000): Promise<MemberEvent> {
    const find = (): MemberEvent | undefined => this.events.find((e) => e.event === event && match(e))
    const found = find()
    if (found !== undefined) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#eventWaiters.delete(check)
        reject(new Error(`no '${event}' event within ${timeout} ms; got ${JSON.stringify(this.events)}`))
      }, timeout)
      const check = (): void => {
        const hit = find()
        if (hit === undefined) return
        clearTimeout(timer)
        this.#eventWaiters.delete(check)
        resolve(hit)
      }
      this.#eventWaiters.add(check)
    })
  }

  async kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = once(this.child, 'exit')
    this.child.kill(signal)
    await exited
  }

  pause (): void { this.child.kill('SIGSTOP') }
  resume (): void { this.child.kill('SIGCONT') }
}

/**
 * A waiter is woken by the holder's release notification: with options whose
 * poll interval is far longer than `blocking`, only the notification can make it.
 */
export async function releaseWakesWaiter (url: string, options: CoordinatorOptions, blocking: number): Promise<void> {
  await using a = new Coordinator(url, options)
  await using b = new Coordinator(url, options)
  await a.start()
  await b.start()
  const held = a.getLock('notify')
  await held.acquire()
  const waiter = b.getLock('notify')
  const waiting = waiter.acquire({ blocking })
  await sleep(100)
  await held.release()
  assert.equal(await waiting, true)
  await waiter.release()
}

/** How many times the re-taking member got the lock while each waiter was in line. */
export interface RetakeCounts { otherProcess: number, sameProcess: number }

/** Whether the server shows a waiter of member `agentId` in line for `name`. */
export type InLine = (name: string, agentId: string) => Promise<boolean>

/**
 * The grants counted by `grants()` from when `inLine()` first says the waiter
 * is in line until `acquiring` (the waiter's acquire) settles. A waiter served
 * before it was seen in line counts 0, and `seen` says so.
 */
async function grantsWhileInLine (acquiring: Promise<unknown>, inLine: () => Promise<boolean>, grants: () => number): Promise<{ grants: number, seen: boolean }> {
  let settled = false
  const done = acquiring.finally(() => { settled = true })
  let from: number | undefined
  while (!settled && from === undefined) {
    if (await inLine()) from = grants()
    else await sleep(1)
  }
  await done
  return from === undefined ? { grants: 0, seen: false } : { grants: grants() - from, seen: true }
}

/**
 * Fairness between members: while one coordinator takes and gives back a lock
 * in a tight loop, a waiter in another process, then a second coordinator in
 * this process, ask once each. Counted: the re-taker's grants from the moment
 * the server shows a waiter in line until the waiter holds the lock. A queue
 * across members bounds it (the grant under way when the waiter lined up);
 * without one it is unbounded. Waiters must be seen in line at least once
 * (a backend without a line never shows one), in `trials` trials or up to
 * four times as many.
 */
export async function retakingMemberYields (url: string, options: CoordinatorOptions, inLine: InLine, trials = 4): Promise<RetakeCounts[]> {
  await using greedy = new Coordinator(url, { ...options, agentId: 'greedy' })
  await using patient = new Coordinator(url, { ...options, agentId: 'patient' })
  await greedy.start()
  await patient.start()
  const remote = await Member.start(url, { ...options, agentId: 'remote' })
  const counts: RetakeCounts[] = []
  let sightings = 0
  try {
    // A waiter served at once may sit in line for less than one look at the
    // server: under load, more trials until one has been seen.
    for (let trial = 0; trial < trials || (sightings === 0 && trial < trials * 4); trial++) {
      const name = `retake-${trial}-${process.pid}`
      let stop = false
      let grants = 0
      const lock = greedy.getLock(name)
      const loop = (async () => {
        for (let i = 0; i < 1_000_000 && !stop; i++) {
          await lock.acquire()
          grants++
          await lock.release()
        }
      })()
      try {
        await sleep(100)
        assert.ok(grants >= 2, `the re-taking member ran only ${grants} cycles`)
        const asked = remote.call('acquire', { name, blocking: 20_000 })
        const otherProcess = await grantsWhileInLine(asked, async () => await inLine(name, 'remote'), () => grants)
        const reply = await asked
        assert.ok(reply.ok && reply.acquired === true, `the other process did not get the lock: ${String(reply.code)} ${String(reply.message)}`)
        await remote.ok('release', { name })
        await sleep(50)
        const waiter = patient.getLock(name)
        const acquiring = waiter.acquire({ timeout: 20_000 })
        const sameProcess = await grantsWhileInLine(acquiring, async () => await inLine(name, 'patient'), () => grants)
        assert.equal(await acquiring, true)
        await waiter.release()
        sightings += Number(otherProcess.seen) + Number(sameProcess.seen)
        counts.push({ otherProcess: otherProcess.grants, sameProcess: sameProcess.grants })
      } finally {
        stop = true
        await loop
      }
    }
  } finally {
    await remote.kill()
  }
  assert.ok(sightings > 0, 'no waiter was ever seen in line')
  return counts
}

/**
 * Fault test for the lease-based backends: a member paused (SIGSTOP) past its
 * lease loses the lock to another member, whose token is higher; resumed, it
 * learns it (signal aborted, lockLost, not owner) and its release deletes nothing.
 */
export async function pausedHolderLosesLock (url: string, options: CoordinatorOptions, successorWait: number): Promise<void> {
  const paused = await Member.start(url, options)
  try {
    const held = await paused.ok('acquire', { name: 'paused' })
    paused.pause()
    await using other = new Coordinator(url, options)
    await other.start()
    const successor = other.getLock('paused')
    assert.equal(await successor.acquire({ blocking: successorWait }), true)
    assert.ok((successor.fencingToken as number) > (held.token as number))
    paused.resume()
    const signal = await paused.waitFor('signal', (e) => e.name === 'paused')
    assert.equal(signal.code, 'ERR_LOCK_LOST')
    await paused.waitFor('lockLost', (e) => e.name === 'paused')
    const owner = await paused.ok('owner', { name: 'paused' })
    assert.equal(owner.owner, false)
    assert.equal(owner.acquired, false)
    assert.equal((await paused.ok('release', { name: 'paused' })).released, false)
    assert.equal(await successor.isStillOwner(), true)
    await successor.release()
  } finally {
    paused.resume()
    await paused.kill()
  }
}

/**
 * For assert.throws/rejects: an option refused with ERR_INVALID_ARG_VALUE,
 * naming the key; with `hint`, suggesting that word.
 */
export function refusedOption (key: string, hint?: string): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof TypeError, `not a TypeError: ${String(error)}`)
    assert.equal((error as { code?: string }).code, 'ERR_INVALID_ARG_VALUE')
    assert.ok(error.message.includes(`'options.${key}'`), error.message)
    if (hint !== undefined) assert.ok(error.message.includes(`(did you mean '${hint}'?)`), error.message)
    return true
  }
}

const isTimeout = (error: unknown): boolean => error instanceof LockTimeoutError && error.code === 'ETIMEDOUT'

export interface SuiteOptions {
  /** The backend URL (called once the server is up). */
  url: () => string
  /** Coordinator options for every member (short leases keep the tests fast). */
  options: CoordinatorOptions
  /** How long until a crashed holder's lock is free again, at most (ms). */
  crashRecovery: number
}

const unique = (label: string): string => `${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`

/** The same behaviour on every backend. */
export function conformance (backend: string, suite: SuiteOptions): void {
  describe(`${backend}: conformance`, () => {
    let local: Coordinator
    let member: Member
    before(async () => {
      local = new Coordinator(suite.url(), { ...suite.options, agentId: 'local' })
      await local.start()
      member = await Member.start(suite.url(), { ...suite.options, agentId: 'member' })
    })
    after(async () => {
      await member?.kill()
      await local?.stop()
    })

    it('excludes across processes, with tokens rising in the order of holding', async () => {
      const log = join(tempDir('locksmith-coord-'), 'log')
      const name = unique('stress')
      const members = await Promise.all([1, 2, 3].map(async () => await Member.start(suite.url(), suite.options)))
      try {
        await Promise.all(members.map(async (m) => await m.ok('stress', { name, iterations: 12, log, holdMs: 2 })))
      } finally {
        await Promise.all(members.map(async (m) => await m.kill()))
      }
      const lines = readFileSync(log, 'utf8').trim().split('\n').map((line) => line.split(' '))
      assert.equal(lines.length, 3 * 12 * 2)
      let last = 0
      for (let i = 0; i < lines.length; i += 2) {
        const [pid, enter, token] = lines[i] as string[]
        const [exitPid, exit, exitToken] = lines[i + 1] as string[]
        assert.equal(enter, 'enter')
        assert.equal(exit, 'exit', `line ${i + 1}: someone entered while ${String(pid)} held the lock`)
        assert.equal(exitPid, pid)
        assert.equal(exitToken, token)
        assert.ok(Number(token) > last, `token ${String(token)} after ${last}`)
        last = Number(token)
      }
    })

    it('tries, times out, aborts, then gets the lock when the holder releases', async () => {
      const name = unique('handoff')
      const held = await member.ok('acquire', { name })
      assert.equal(held.acquired, true)
      const lock = local.getLock(name)
      assert.equal(await lock.acquire({ blocking: false }), false)
      if (lock.tryAcquire !== undefined) assert.equal(lock.tryAcquire(), false)
      await assert.rejects(lock.acquire({ blocking: 150 }), (error: unknown) => error instanceof LockTimeoutError && error.code === 'ETIMEDOUT')
      await assert.rejects(lock.acquire({ blocking: 0 }), LockTimeoutError)
      const reason = new Error('caller gave up')
      await assert.rejects(lock.acquire({ signal: AbortSignal.timeout(10) }), (error: unknown) => (error as Error).name === 'TimeoutError')
      const controller = new AbortController()
      setTimeout(() => controller.abort(reason), 50)
      await assert.rejects(lock.acquire({ signal: controller.signal }), reason)
      assert.equal(lock.acquired, false)
      let got = false
      const waiting = lock.acquire().then((acquired) => { got = true; return acquired })
      await new Promise((resolve) => setTimeout(resolve, 50))
      assert.equal(got, false, 'acquired while the other member held it')
      const released = await member.ok('release', { name })
      assert.equal(released.released, true)
      assert.equal(await waiting, true)
      assert.ok((lock.fencingToken as number) > (held.token as number))
      assert.equal(await lock.isStillOwner(), true)
      assert.equal((await member.call('acquire', { name, blocking: false })).acquired, false)
      assert.equal(await lock.release(), true)
      assert.equal(await lock.release(), false)
      assert.equal(lock.fencingToken, undefined)
      assert.equal(lock.signal.aborted, false, 'a release is not a loss')
    })

    it('block() after a failed try waits like a blocking acquire', async () => {
      const name = unique('block')
      await member.ok('acquire', { name })
      const lock = local.getLock(name)
      assert.equal(await lock.acquire({ blocking: false }), false)
      await assert.rejects(lock.block({ blocking: 100 }), LockTimeoutError)
      const blocked = lock.block()
      await member.ok('release', { name })
      assert.equal(await blocked, true)
      assert.equal(lock.acquired, true)
      await lock.release()
    })

    it('refuses unknown and contradictory acquire options, and takes nothing', async () => {
      const name = unique('refused')
      const lock = local.getLock(name)
      for (const call of [lock.acquire.bind(lock), lock.block.bind(lock)]) {
        await assert.rejects(call({ timout: 50 } as never), refusedOption('timout', 'timeout'))
        await assert.rejects(call({ timeoutMs: 50 } as never), refusedOption('timeoutMs', 'timeout'))
        await assert.rejects(call({ wait: false } as never), refusedOption('wait', 'blocking'))
        await assert.rejects(call({ Blocking: false } as never), refusedOption('Blocking', 'blocking'))
        await assert.rejects(call({ abortSignal: AbortSignal.timeout(10) } as never), refusedOption('abortSignal', 'signal'))
        await assert.rejects(call({ mode: 'shared' } as never), refusedOption('mode'))
        // Contradictions: no bound with a one-time try, and not two bounds.
        await assert.rejects(call({ blocking: false, timeout: 5 }), refusedOption('timeout'))
        await assert.rejects(call({ blocking: 10, timeout: 5 }), refusedOption('timeout'))
        await assert.rejects(call({ timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' })
        await assert.rejects(call({ timeout: '5' as unknown as number }), { code: 'ERR_INVALID_ARG_TYPE' })
      }
      assert.equal(lock.acquired, false)
      assert.equal(lock.fencingToken, undefined)
      // Nothing was taken, here or in the backend: another member gets it at once.
      assert.equal((await member.call('acquire', { name, blocking: false })).acquired, true)
      await member.ok('release', { name })
      // The refused calls left the object usable.
      assert.equal(await lock.acquire({ timeout: 2000 }), true)
      await lock.release()
    })

    it('bounds a wait with timeout while another member holds the lock', async () => {
      const name = unique('timeout')
      await member.ok('acquire', { name })
      const lock = local.getLock(name)
      let started = performance.now()
      await assert.rejects(lock.acquire({ timeout: 150 }), isTimeout)
      const waited = performance.now() - started
      assert.ok(waited >= 140 && waited < 5000, `waited ${waited} ms`)
      await assert.rejects(lock.acquire({ timeout: 0 }), isTimeout)
      assert.equal(await lock.acquire({ blocking: false }), false)
      started = performance.now()
      await assert.rejects(lock.block({ timeout: 100 }), isTimeout)
      assert.ok(performance.now() - started >= 90)
      await assert.rejects(lock.acquire({ timeout: 5000, signal: AbortSignal.timeout(20) }), (error: unknown) => (error as Error).name === 'TimeoutError')
      assert.equal(lock.acquired, false)
      // Infinity is no bound: it waits for the release.
      const waiting = lock.acquire({ timeout: Infinity })
      await sleep(50)
      await member.ok('release', { name })
      assert.equal(await waiting, true)
      await lock.release()
      // A bound that is not reached changes nothing.
      assert.equal(await lock.acquire({ timeout: 2000 }), true)
      assert.equal((await member.call('acquire', { name, blocking: false })).acquired, false)
      await lock.release()
    })

    it('synchronized() refuses unknown options and bounds all the locks of a call by one timeout', async () => {
      assert.throws(() => local.synchronized('x', { timout: 5 } as never), refusedOption('timout', 'timeout'))
      assert.throws(() => local.synchronized('x', { wait: false } as never), refusedOption('wait', 'blocking'))
      assert.throws(() => local.synchronized('x', { signal: AbortSignal.timeout(10) } as never), refusedOption('signal'))
      assert.throws(() => local.synchronized('x', { blocking: false, timeout: 5 }), refusedOption('timeout'))
      assert.throws(() => local.synchronized('x', { blocking: 5, timeout: 5 }), refusedOption('timeout'))
      const id = unique('sync-timeout')
      const first = `a-${id}`
      const second = `b-${id}`
      let ran = 0
      const both = local.synchronized(() => [first, second], { timeout: 150 })(async () => ++ran)
      await member.ok('acquire', { name: second })
      const started = performance.now()
      await assert.rejects(both(), isTimeout)
      const waited = performance.now() - started
      assert.ok(waited >= 140 && waited < 5000, `waited ${waited} ms`)
      assert.equal(ran, 0)
      // The first lock, taken before the wait for the second, was given back.
      assert.equal((await member.call('acquire', { name: first, blocking: false })).acquired, true)
      await member.ok('release', { name: first })
      await member.ok('release', { name: second })
      assert.equal(await both(), 1)
      assert.equal((await member.call('acquire', { name: second, blocking: false })).acquired, true)
      await member.ok('release', { name: second })
    })

    it('gives strictly increasing tokens across members and new coordinators', async () => {
      const name = unique('tokens')
      const tokens: number[] = []
      for (let round = 0; round < 3; round++) {
        const reply = await member.ok('acquire', { name })
        tokens.push(reply.token as number)
        await member.ok('release', { name })
        const lock = local.getLock(name)
        await lock.acquire()
        tokens.push(lock.fencingToken as number)
        await lock.release()
        // A new coordinator, as after a restart of the program.
        await using fresh = new Coordinator(suite.url(), suite.options)
        await fresh.start()
        const other = fresh.getLock(name)
        assert.equal(await other.acquire({ blocking: 2000 }), true)
        tokens.push(other.fencingToken as number)
        await other.release()
      }
      for (const token of tokens) assert.ok(Number.isSafeInteger(token) && token > 0, `token ${token}`)
      for (let i = 1; i < tokens.length; i++) assert.ok((tokens[i] as number) > (tokens[i - 1] as number), `tokens ${tokens.join(', ')}`)
    })

    it('lets two lock objects of one coordinator exclude each other, in order', async () => {
      const name = unique('local')
      const first = local.getLock(name)
      const second = local.getLock(name)
      const third = local.getLock(name)
      assert.equal(await first.acquire(), true)
      assert.equal(await second.acquire({ blocking: false }), false)
      const order: string[] = []
      const w2 = second.acquire().then(() => order.push('second'))
      await new Promise((resolve) => setTimeout(resolve, 20))
      const w3 = third.acquire().then(() => order.push('third'))
      await new Promise((resolve) => setTimeout(resolve, 20))
      const t1 = first.fencingToken as number
      await first.release()
      await w2
      assert.ok((second.fencingToken as number) > t1)
      assert.equal(third.acquired, false)
      await second.release()
      await w3
      await third.release()
      assert.deepEqual(order, ['second', 'third'])
    })

    it('stop() releases what it holds, aborts its waits and holdings', async () => {
      const heldName = unique('stop-held')
      const busyName = unique('stop-busy')
      const coordinator = new Coordinator(suite.url(), suite.options)
      await coordinator.start()
      const held = coordinator.getLock(heldName)
      await held.acquire()
      await member.ok('acquire', { name: busyName })
      const waiting = coordinator.getLock(busyName).acquire().then(() => undefined, (error: unknown) => error)
      await new Promise((resolve) => setTimeout(resolve, 50))
      await coordinator.stop()
      const error = await waiting
      assert.ok(error instanceof CoordinationError && error.code === 'ERR_COORDINATOR_STOPPED', String(error))
      assert.equal(held.acquired, false)
      assert.equal(held.signal.aborted, true)
      assert.equal((held.signal.reason as CoordinationError).code, 'ERR_COORDINATOR_STOPPED')
      // Released, not left to expire: the other member gets it at once.
      const reply = await member.ok('acquire', { name: heldName, blocking: 2000 })
      assert.equal(reply.acquired, true)
      await member.ok('release', { name: heldName })
      await member.ok('release', { name: busyName })
      await assert.rejects(held.acquire(), (error: unknown) => (error as CoordinationError).code === 'ERR_COORDINATOR_NOT_STARTED')
    })

    it("frees a crashed member's lock", async () => {
      const name = unique('crash')
      const doomed = await Member.start(suite.url(), suite.options)
      const reply = await doomed.ok('acquire', { name })
      await doomed.kill()
      const lock = local.getLock(name)
      assert.equal(await lock.acquire({ blocking: suite.crashRecovery }), true)
      assert.ok((lock.fencingToken as number) > (reply.token as number))
      await lock.release()
    })

    it('formats names from data and runs synchronized functions one at a time', async () => {
      const lock = local.getLock('volume-{volume.id}', { volume: { id: 7 } })
      assert.equal(lock.name, 'volume-7')
      assert.equal(lock.fullName, `${suite.options.prefix ?? ''}volume-7`)
      let inside = 0
      let most = 0
      const id = unique('sync')
      const work = local.synchronized('{f_name}-{id}')(async function attach (id: string, ms: number): Promise<string> {
        inside++
        most = Math.max(most, inside)
        await new Promise((resolve) => setTimeout(resolve, ms))
        inside--
        return id
      })
      const results = await Promise.all([work(id, 20), work(id, 5), work(id, 1)])
      assert.deepEqual(results, [id, id, id])
      assert.equal(most, 1)
      const failFast = local.synchronized('{f_name}-{0}', { blocking: false })(async function detach (_id: string) { return 1 })
      await member.ok('acquire', { name: `detach-${id}` })
      await assert.rejects(failFast(id), (error: unknown) => (error as { code?: string }).code === 'ELOCKED')
      await member.ok('release', { name: `detach-${id}` })
      assert.equal(await failFast(id), 1)
    })

    it('synchronized() hands the function its lock (currentLock) and rejects a call whose holding ended under it', async () => {
      const name = unique('current')
      assert.equal(local.currentLock(), undefined)
      const tokens: number[] = []
      const run = local.synchronized(name)(async () => {
        const lock = local.currentLock() as DistributedLock
        assert.equal(lock.name, name)
        assert.equal(local.currentLock(name), lock)
        assert.equal(local.currentLock('no-such-lock'), undefined)
        assert.equal(lock.acquired, true)
        assert.equal(lock.signal.aborted, false)
        tokens.push(lock.fencingToken as number)
        await sleep(1)
        assert.equal(local.currentLock(), lock, 'kept across awaits')
        return 7
      })
      assert.equal(await run(), 7)
      assert.equal(await run(), 7)
      assert.ok((tokens[1] as number) > (tokens[0] as number) && (tokens[0] as number) > 0, tokens.join(' '))
      assert.equal(local.currentLock(), undefined)
      // The coordinator stops while the function runs: the function finishes, the call rejects.
      const doomed = new Coordinator(suite.url(), suite.options)
      await doomed.start()
      let finished = false
      const interrupted = doomed.synchronized(name)(async () => {
        await doomed.stop()
        finished = true
        return 'done'
      })
      await assert.rejects(interrupted(), (error: unknown) => error instanceof CoordinationError && error.code === 'ERR_COORDINATOR_STOPPED')
      assert.equal(finished, true)
    })

    it('works with await using', async () => {
      const name = unique('using')
      let lock: DistributedLock | undefined
      {
        await using held = local.getLock(name)
        lock = held
        await held.acquire()
        assert.equal(held.acquired, true)
      }
      assert.equal(lock.acquired, false)
      assert.equal((await member.call('acquire', { name, blocking: false })).acquired, true)
      await member.ok('release', { name })
    })
  })
}
