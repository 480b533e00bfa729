// Scenario 4: hand-off latency between two processes. One holds the lock, the
// other waits for it; the holder stamps the shared monotonic clock just before
// it releases and the waiter stamps it as soon as its acquire resolves. Then the
// roles swap. The kernel waiters take turns round by round; the pollers run
// one after another. The holder lets go a random 1-3 ms after the waiter started
// waiting (plus a random fraction of a poller's period, so its poll phase is
// random too), long enough for a kernel waiter to be asleep. Nothing else runs
// in the measured window: the holder's stamp is fetched after the hand-off.
import { join } from 'node:path'
import { contender, CONTENDERS, pollPeriodMs, refContender, type Contender } from './adapters'
import { refLabel } from './compare'
import { Agent, startAgents } from './agents'
import { runBaselineAsync } from './baseline'
import type { Context } from './context'
import { progress } from './progress'
import { peerInfo } from './peers'
import { computeRatios, failedRow, type Row, type ScenarioResult } from './results'
import { quantiles, summarize } from './stats'

const MIN_HOLD_MS = 1
const MAX_HOLD_MS = 3

interface Plan { rounds: number, boundMs: number }

/** Rounds and time bound for a contender polling every `period` ms (0: woken by the kernel). */
function plan (period: number, quick: boolean): Plan {
  if (period === 0) return { rounds: quick ? 40 : 400, boundMs: 10_000 }
  // Pollers: each round costs about a hold plus a poll period; spend a fixed budget.
  const budgetMs = quick ? 1_200 : 20_000
  const rounds = Math.max(quick ? 2 : 8, Math.min(quick ? 40 : 400, Math.floor(budgetMs / (MAX_HOLD_MS + 1.5 * period))))
  return { rounds, boundMs: 10_000 + 8 * period }
}

/** Two agents passing one lock back and forth; each hand-off() is one measured round. */
interface Pair {
  handoff: (round: number) => Promise<number>
  kill: () => Promise<void>
}

async function startPair (c: Contender, path: string, boundMs: number): Promise<Pair> {
  const period = pollPeriodMs(c.id)
  const agents = await startAgents(2, c.id, path) as [Agent, Agent]
  const kill = async (): Promise<void> => { await Promise.all(agents.map((agent) => agent.kill())) }
  try {
    await agents[0].send({ cmd: 'hold' }, boundMs)
  } catch (error) {
    await kill()
    throw error
  }
  return {
    kill,
    handoff: async (round) => {
      const holder = agents[round % 2] as Agent
      const waiter = agents[(round + 1) % 2] as Agent
      await waiter.send({ cmd: 'wait' }, boundMs)
      const acquired = waiter.next(boundMs)
      const holdMs = MIN_HOLD_MS + Math.random() * (MAX_HOLD_MS - MIN_HOLD_MS) + Math.random() * period
      holder.post({ cmd: 'release', holdMs })
      const got = await acquired
      const released = await holder.send({ cmd: 'stamp' }, boundMs)
      return (got.t1 as number) - (released.t0 as number)
    }
  }
}

/** A poller alone: its rounds last a poll period, so it gets a time budget of its own. */
async function measureAlone (c: Contender, path: string, { rounds, boundMs }: Plan, label: string): Promise<number[]> {
  const pair = await startPair(c, path, boundMs)
  try {
    const latencies: number[] = []
    for (let i = 0; i < rounds; i++) {
      if (i % 10 === 0) progress(`4 hand-off: ${label} (${i}/${rounds})`)
      latencies.push(await pair.handoff(i))
    }
    return latencies
  } finally {
    await pair.kill()
  }
}

/**
 * Kernel waiters take turns, one hand-off each per round, so that a machine
 * whose speed drifts during the run (frequency, noisy neighbours) weighs on
 * all of them alike; measured one after the other, their order showed in
 * their medians. A contender that fails drops out with its reason.
 */
async function measureInterleaved (contenders: Contender[], dir: string, { rounds, boundMs }: Plan): Promise<Map<string, number[] | Error>> {
  const outcome = new Map<string, number[] | Error>()
  const pairs = new Map<string, Pair>()
  for (const c of contenders) {
    try {
      pairs.set(c.id, await startPair(c, join(dir, `${c.id}.lock`), boundMs))
      outcome.set(c.id, [])
    } catch (error) {
      outcome.set(c.id, error as Error)
    }
  }
  try {
    for (let i = 0; i < rounds; i++) {
      if (i % 10 === 0) progress(`4 hand-off: kernel waiters, interleaved (${i}/${rounds})`)
      for (const [id, pair] of pairs) {
        try {
          (outcome.get(id) as number[]).push(await pair.handoff(i))
        } catch (error) {
          outcome.set(id, error as Error)
          pairs.delete(id)
          await pair.kill()
        }
      }
    }
  } finally {
    await Promise.all([...pairs.values()].map((pair) => pair.kill()))
  }
  return outcome
}

export async function scenario4 (context: Context): Promise<ScenarioResult> {
  const dir = context.dir('s4')
  const started = Date.now()
  const rows: Row[] = []
  const distributions: Record<string, number[]> = {}
  const record = (id: string, label: string, latencies: number[], note?: string): void => {
    const summary = summarize(latencies)
    const row: Row = { id, label, status: 'ok', median: summary.median, p99: summary.p99, samples: summary.n, metrics: { max: summary.max, min: summary.min } }
    if (note !== undefined) row.note = note
    rows.push(row)
    distributions[id] = quantiles(latencies, 101)
  }
  const available: Contender[] = []
  const compare = context.compare
  const contenders = compare === undefined ? CONTENDERS : [contender('locksmith'), refContender(refLabel('locksmith', compare))]
  for (const c of contenders) {
    const info = c.peer === undefined ? undefined : peerInfo(c.peer)
    if (info !== undefined && !info.available) rows.push({ id: c.id, label: c.label, status: 'unavailable', reason: info.reason })
    else available.push(c)
  }
  const kernelWaiters = available.filter((c) => pollPeriodMs(c.id) === 0)
  const measured = await measureInterleaved(kernelWaiters, dir, plan(0, context.quick))
  for (const c of available) {
    let latencies: number[] | Error | undefined = measured.get(c.id)
    if (latencies === undefined) {
      try {
        latencies = await measureAlone(c, join(dir, `${c.id}.lock`), plan(pollPeriodMs(c.id), context.quick), c.label)
      } catch (error) {
        latencies = error as Error
      }
    }
    if (latencies instanceof Error) rows.push(failedRow(c.id, c.label, latencies))
    else record(c.id, c.label, latencies, c.waits)
  }
  if (compare === undefined) {
    const rounds = String(plan(0, context.quick).rounds)
    const hold = [String(MIN_HOLD_MS * 1000), String(MAX_HOLD_MS * 1000)]
    const baselines = [
      { id: 'c-flock', label: 'two C processes (blocking flock)', args: ['handoff', 'flock', join(dir, 'c.lock'), rounds, ...hold], note: 'blocked in flock(2), woken by the kernel' },
      { id: 'c-flock-loop', label: 'two C processes, each waiting as a Node addon must', args: ['handoff-loop', 'flock', join(dir, 'c-loop.lock'), rounds, ...hold], note: 'a thread blocked in flock(2) wakes an epoll loop through an eventfd: two wake-ups, the floor for any Node design' }
    ]
    for (const { id, label, args, note } of baselines) {
      if (context.baseline.path === undefined) {
        rows.push({ id, label, status: 'unavailable', reason: context.baseline.reason })
        continue
      }
      progress(`4 hand-off: ${label}`)
      try {
        record(id, label, await runBaselineAsync(args), note)
      } catch (error) {
        rows.push(failedRow(id, label, error))
      }
    }
  }
  const result: ScenarioResult = {
    id: 's4',
    title: 'hand-off latency between two processes',
    measures: 'from just before the holder releases to the moment the waiting process holds the lock',
    unit: 'ns',
    reference: 'locksmith',
    rows,
    distributions,
    settings: { holdMs: [MIN_HOLD_MS, MAX_HOLD_MS], pollers: 'hold + uniform random fraction of the poll period', order: 'kernel waiters take turns round by round; pollers run alone' },
    durationMs: Date.now() - started
  }
  computeRatios(result)
  return result
}
