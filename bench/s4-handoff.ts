// Scenario 4: hand-off latency between two processes. One holds the lock, the
// other waits for it; the holder stamps the shared monotonic clock just before
// it releases and the waiter stamps it as soon as its acquire resolves. Then the
// roles swap. The holder lets go a random 1-3 ms after the waiter started
// waiting (plus a random fraction of a poller's period, so its poll phase is
// random too), long enough for a kernel waiter to be asleep. Nothing else runs
// in the measured window: the holder's stamp is fetched after the hand-off.
import { join } from 'node:path'
import { CONTENDERS, pollPeriodMs, type Contender } from './adapters'
import { Agent, startAgents } from './agents'
import { runBaselineAsync } from './baseline'
import type { Context } from './context'
import { progress } from './progress'
import { peerInfo } from './peers'
import { computeRatios, type Row, type ScenarioResult } from './results'
import { quantiles, summarize } from './stats'

const MIN_HOLD_MS = 1
const MAX_HOLD_MS = 3

interface Plan { rounds: number, boundMs: number }

function plan (id: string, quick: boolean): Plan {
  const period = pollPeriodMs(id)
  if (period === 0) return { rounds: quick ? 40 : 400, boundMs: 10_000 }
  // Pollers: each round costs about a hold plus a poll period; spend a fixed budget.
  const budgetMs = quick ? 1_200 : 20_000
  const rounds = Math.max(quick ? 2 : 8, Math.min(quick ? 40 : 400, Math.floor(budgetMs / (MAX_HOLD_MS + 1.5 * period))))
  return { rounds, boundMs: 10_000 + 8 * period }
}

async function measureAgents (c: Contender, path: string, { rounds, boundMs }: Plan, label: string): Promise<number[]> {
  const period = pollPeriodMs(c.id)
  const agents = await startAgents(2, c.id, path) as [Agent, Agent]
  try {
    await agents[0].send({ cmd: 'hold' }, boundMs)
    const latencies: number[] = []
    for (let i = 0; i < rounds; i++) {
      const holder = agents[i % 2] as Agent
      const waiter = agents[(i + 1) % 2] as Agent
      if (i % 10 === 0) progress(`4 hand-off: ${label} (${i}/${rounds})`)
      await waiter.send({ cmd: 'wait' }, boundMs)
      const acquired = waiter.next(boundMs)
      const holdMs = MIN_HOLD_MS + Math.random() * (MAX_HOLD_MS - MIN_HOLD_MS) + Math.random() * period
      holder.post({ cmd: 'release', holdMs })
      const got = await acquired
      const released = await holder.send({ cmd: 'stamp' }, boundMs)
      latencies.push((got.t1 as number) - (released.t0 as number))
    }
    return latencies
  } finally {
    await Promise.all(agents.map((agent) => agent.kill()))
  }
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
  for (const c of CONTENDERS) {
    const info = c.peer === undefined ? undefined : peerInfo(c.peer)
    if (info !== undefined && !info.available) {
      rows.push({ id: c.id, label: c.label, status: 'unavailable', reason: info.reason })
      continue
    }
    try {
      const latencies = await measureAgents(c, join(dir, `${c.id}.lock`), plan(c.id, context.quick), c.label)
      record(c.id, c.label, latencies, c.waits)
    } catch (error) {
      rows.push({ id: c.id, label: c.label, status: 'failed', reason: (error as Error).message })
    }
  }
  const cLabel = 'two C processes (blocking flock)'
  if (context.baseline.path === undefined) {
    rows.push({ id: 'c-flock', label: cLabel, status: 'unavailable', reason: context.baseline.reason })
  } else {
    progress(`4 hand-off: ${cLabel}`)
    const rounds = plan('c-flock', context.quick).rounds
    try {
      const latencies = await runBaselineAsync(['handoff', 'flock', join(dir, 'c.lock'), String(rounds), String(MIN_HOLD_MS * 1000), String(MAX_HOLD_MS * 1000)])
      record('c-flock', cLabel, latencies, 'blocked in flock(2), woken by the kernel')
    } catch (error) {
      rows.push({ id: 'c-flock', label: cLabel, status: 'failed', reason: (error as Error).message })
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
    settings: { holdMs: [MIN_HOLD_MS, MAX_HOLD_MS], pollers: 'hold + uniform random fraction of the poll period' },
    durationMs: Date.now() - started
  }
  computeRatios(result)
  return result
}
