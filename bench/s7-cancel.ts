// Scenario 7: cancellation latency. Another process holds the lock; this one
// waits with an AbortSignal, and we time abort() to the rejected promise. None
// of the peers can cancel a wait; the floor is a C thread blocked in flock(2),
// interrupted with a signal and joined.
import { join } from 'node:path'
import { Lock, LockFile } from '../lib/index'
import { Agent } from './agents'
import { runBaselineAsync } from './baseline'
import { nowNs, sleep } from './clock'
import type { Context } from './context'
import { progress } from './progress'
import { PEER_NAMES, peerInfo } from './peers'
import { computeRatios, failedRow, type Row, type ScenarioResult } from './results'
import { summarize } from './stats'

const WAIT_BEFORE_ABORT_MS = 2

async function timeAborts (label: string, rounds: number, start: (signal: AbortSignal) => Promise<unknown>): Promise<number[]> {
  const latencies: number[] = []
  for (let i = 0; i < rounds; i++) {
    if (i % 20 === 0) progress(`7 cancellation: ${label} (${i}/${rounds})`)
    const controller = new AbortController()
    const pending = start(controller.signal)
    await sleep(WAIT_BEFORE_ABORT_MS) // asleep in the kernel by now
    const t0 = nowNs()
    controller.abort()
    const t1 = await pending.then(() => { throw new Error('acquired a lock that another process holds') }, () => nowNs())
    latencies.push(t1 - t0)
  }
  return latencies
}

export async function scenario7 (context: Context): Promise<ScenarioResult> {
  const dir = context.dir('s7')
  const path = join(dir, 'held.lock')
  const rounds = context.quick ? 30 : 300
  const started = Date.now()
  const rows: Row[] = []
  const record = (id: string, label: string, latencies: number[], note?: string): void => {
    const summary = summarize(latencies)
    const row: Row = { id, label, status: 'ok', median: summary.median, p99: summary.p99, samples: summary.n }
    if (note !== undefined) row.note = note
    rows.push(row)
  }
  const holder = await Agent.start('locksmith', path)
  try {
    await holder.send({ cmd: 'hold' }, 10_000)
    const lock = new Lock(path)
    record('locksmith', 'locksmith lock.acquire({ signal })', await timeAborts('Lock', rounds, (signal) => lock.acquire({ signal })),
      'the waiter thread is interrupted and joined before the promise rejects')
    const file = LockFile.open(path)
    try {
      record('locksmith-lockfile', 'locksmith lockFile.lock({ signal })', await timeAborts('LockFile', rounds, (signal) => file.lock({ signal })))
    } finally {
      file.close()
    }
  } catch (error) {
    rows.push(failedRow('locksmith', 'locksmith lock.acquire({ signal })', error))
  } finally {
    await holder.kill()
  }
  const cLabel = 'C: pthread_kill + pthread_join of a thread blocked in flock'
  if (context.baseline.path === undefined) {
    rows.push({ id: 'c-flock', label: cLabel, status: 'unavailable', reason: context.baseline.reason })
  } else {
    progress(`7 cancellation: ${cLabel}`)
    const cPath = join(dir, 'c.lock')
    const cHolder = await Agent.start('locksmith', cPath)
    try {
      await cHolder.send({ cmd: 'hold' }, 10_000)
      record('c-flock', cLabel, await runBaselineAsync(['cancel', 'flock', cPath, String(rounds)]))
    } catch (error) {
      rows.push(failedRow('c-flock', cLabel, error))
    } finally {
      await cHolder.kill()
    }
  }
  for (const name of PEER_NAMES) {
    const info = peerInfo(name)
    rows.push({ id: name, label: name, status: info.available ? 'unsupported' : 'unavailable', reason: info.available ? 'a wait cannot be cancelled (no AbortSignal, no cancel call)' : info.reason })
  }
  const result: ScenarioResult = {
    id: 's7',
    title: 'cancellation latency',
    measures: 'from controller.abort() to the rejection of the pending acquire (the lock held by another process)',
    unit: 'ns',
    reference: 'locksmith',
    rows,
    settings: { rounds, waitBeforeAbortMs: WAIT_BEFORE_ABORT_MS },
    durationMs: Date.now() - started
  }
  computeRatios(result)
  return result
}
