// Scenario 5: contended throughput. Four processes increment one counter file
// under the lock for a fixed time: total increments per second, how evenly the
// four shared them, the longest any one of them waited, and whether the counter
// agrees with the increments counted (mutual exclusion held).
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { contender, CONTENDERS, pollPeriodMs, refContender, type Contender } from './adapters'
import { refLabel } from './compare'
import { startAgents } from './agents'
import { runBaselineAsync } from './baseline'
import { nowNs } from './clock'
import type { Context } from './context'
import { progress } from './progress'
import { peerInfo } from './peers'
import { computeRatios, failedRow, type Row, type ScenarioResult } from './results'

const PROCESSES = 4
/** Where contenders take turns: runs per contender, and their length. */
interface Turns { rounds: number, durationMs: number }
const TURNS: Turns = { rounds: 3, durationMs: 2000 }
const QUICK_TURNS: Turns = { rounds: 1, durationMs: 300 }

interface Outcome { ops: number[], maxWaitNs: number[], stillWaiting: number }

function toRow (id: string, label: string, outcome: Outcome, seconds: number, counter: number, note: string): Row {
  const total = outcome.ops.reduce((a, b) => a + b, 0)
  const shares = outcome.ops.map((ops) => total === 0 ? 0 : ops / total)
  // Jain's fairness index: 1 when all four got the same number of turns, 1/4 when one got them all.
  const squares = outcome.ops.reduce((sum, ops) => sum + ops * ops, 0)
  const jain = squares === 0 ? 0 : (total * total) / (PROCESSES * squares)
  return {
    id,
    label,
    status: 'ok',
    median: total / seconds,
    metrics: {
      totalOps: total,
      perProcess: outcome.ops.join(' / '),
      minShare: Math.min(...shares),
      maxShare: Math.max(...shares),
      fairness: jain,
      maxWaitMs: Math.max(...outcome.maxWaitNs) / 1e6,
      stillWaitingAtEnd: outcome.stillWaiting,
      counterOk: counter === total
    },
    note
  }
}

async function runAgents (c: Contender, lockPath: string, counterPath: string, durationMs: number): Promise<Outcome> {
  const agents = await startAgents(PROCESSES, c.id, lockPath)
  try {
    const start = nowNs() + 200e6
    const end = start + durationMs * 1e6
    const replies = await Promise.all(agents.map((agent) => agent.send({ cmd: 'counter', counter: counterPath, start, end }, durationMs + 30_000)))
    return {
      ops: replies.map((r) => r.ops as number),
      maxWaitNs: replies.map((r) => r.maxWait as number),
      stillWaiting: replies.filter((r) => r.stillWaiting === true).length
    }
  } finally {
    await Promise.all(agents.map((agent) => agent.kill()))
  }
}

async function runC (lockPath: string, counterPath: string, durationMs: number): Promise<Outcome> {
  const start = nowNs() + 100e6
  const end = start + durationMs * 1e6
  const outputs = await Promise.all(Array.from({ length: PROCESSES }, () =>
    runBaselineAsync(['counter', 'flock', lockPath, counterPath, String(start), String(end)], durationMs + 30_000)))
  return { ops: outputs.map((o) => o[0] as number), maxWaitNs: outputs.map((o) => o[1] as number), stillWaiting: 0 }
}

/**
 * The kernel waiters take turns, then the pollers and the C processes run one
 * after another (a poller's figure is its poll period, not the machine's speed).
 */
async function everyContender (context: Context, dir: string, turns: Turns, durationMs: number): Promise<Row[]> {
  const rows = new Map<string, Row>()
  const available: Contender[] = []
  for (const c of CONTENDERS) {
    const info = c.peer === undefined ? undefined : peerInfo(c.peer)
    if (info !== undefined && !info.available) rows.set(c.id, { id: c.id, label: c.label, status: 'unavailable', reason: info.reason })
    else available.push(c)
  }
  const kernelWaiters = available.filter((c) => pollPeriodMs(c.id) === 0)
  for (const row of await takeTurns(kernelWaiters, dir, turns)) rows.set(row.id, row)
  for (const c of available.filter((c) => pollPeriodMs(c.id) !== 0)) {
    progress(`5 throughput: ${c.label} (${PROCESSES} processes, ${durationMs} ms)`)
    const counter = counterFile(dir, c.id)
    try {
      const outcome = await runAgents(c, join(dir, `${c.id}.lock`), counter, durationMs)
      rows.set(c.id, toRow(c.id, c.label, outcome, durationMs / 1000, readCounter(counter), c.waits))
    } catch (error) {
      rows.set(c.id, failedRow(c.id, c.label, error))
    }
  }
  const ordered = CONTENDERS.map((c) => rows.get(c.id)).filter((row): row is Row => row !== undefined)
  const cLabel = `${PROCESSES} C processes (blocking flock)`
  if (context.baseline.path === undefined) {
    ordered.push({ id: 'c-flock', label: cLabel, status: 'unavailable', reason: context.baseline.reason })
  } else {
    progress(`5 throughput: ${cLabel}`)
    const counter = counterFile(dir, 'c-flock')
    try {
      const outcome = await runC(join(dir, 'c.lock'), counter, durationMs)
      ordered.push(toRow('c-flock', cLabel, outcome, durationMs / 1000, readCounter(counter), 'flock(2) and pread/pwrite'))
    } catch (error) {
      ordered.push(failedRow('c-flock', cLabel, error))
    }
  }
  return ordered
}

function counterFile (dir: string, name: string): string {
  const path = join(dir, `${name}.counter`)
  writeFileSync(path, '0')
  return path
}

function readCounter (path: string): number {
  return Number.parseInt(readFileSync(path, 'utf8'), 10)
}

/** What one contender's runs add up to. */
interface Tally { ops: number[], maxWaitNs: number[], stillWaiting: number, counted: number }

/**
 * Contenders take turns, `rounds` runs of `durationMs` each, the order reversed
 * every round; each row adds up its runs. A machine whose speed drifts (noisy
 * neighbours) then weighs on all of them alike: run one after another, a slow
 * phase of a few seconds halved one contender's figure and not the next one's.
 * A contender that fails drops out with its reason.
 */
async function takeTurns (contenders: Contender[], dir: string, { rounds, durationMs }: Turns): Promise<Row[]> {
  const totals = new Map<string, Tally | Error>(contenders.map((c) => [c.id, { ops: new Array<number>(PROCESSES).fill(0), maxWaitNs: new Array<number>(PROCESSES).fill(0), stillWaiting: 0, counted: 0 }]))
  for (let round = 0; round < rounds; round++) {
    for (const c of round % 2 === 0 ? contenders : [...contenders].reverse()) {
      const total = totals.get(c.id) as Tally | Error
      if (total instanceof Error) continue // dropped out
      progress(`5 throughput: ${c.label} (run ${round + 1}/${rounds})`)
      const counter = counterFile(dir, `${c.id}-${round}`)
      try {
        const outcome = await runAgents(c, join(dir, `${c.id}.lock`), counter, durationMs)
        outcome.ops.forEach((ops, i) => { total.ops[i] = (total.ops[i] as number) + ops })
        outcome.maxWaitNs.forEach((wait, i) => { total.maxWaitNs[i] = Math.max(total.maxWaitNs[i] as number, wait) })
        total.stillWaiting += outcome.stillWaiting
        total.counted += readCounter(counter)
      } catch (error) {
        totals.set(c.id, error as Error)
      }
    }
  }
  return contenders.map((c) => {
    const total = totals.get(c.id) as Tally | Error
    if (total instanceof Error) return failedRow(c.id, c.label, total)
    return toRow(c.id, c.label, total, rounds * durationMs / 1000, total.counted, `${c.waits}; ${rounds} runs of ${durationMs} ms, taking turns`)
  })
}

export async function scenario5 (context: Context): Promise<ScenarioResult> {
  const dir = context.dir('s5')
  const durationMs = context.quick ? 300 : 3000 // pollers and C, alone
  const turns = context.quick ? QUICK_TURNS : TURNS
  const started = Date.now()
  const rows = context.compare === undefined
    ? await everyContender(context, dir, turns, durationMs)
    : await takeTurns([contender('locksmith'), refContender(refLabel('locksmith', context.compare))], dir, turns)
  const result: ScenarioResult = {
    id: 's5',
    title: `contended throughput: ${PROCESSES} processes incrementing a shared counter file`,
    measures: 'increments per second by all processes together (read, add one, write, under the lock)',
    unit: 'ops/s',
    reference: 'locksmith',
    rows,
    settings: { processes: PROCESSES, takingTurns: turns, aloneMs: durationMs },
    durationMs: Date.now() - started
  }
  computeRatios(result)
  return result
}
