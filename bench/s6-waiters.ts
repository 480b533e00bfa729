// Scenario 6: many waiters in one process. Another process holds the lock while
// this one starts 1,000 acquires on the same path: native threads, memory,
// event-loop delay and fs latency while they wait, compared with the same
// process idle just before. Each contender runs in a process of its own, so one
// that deadlocks the libuv thread pool is reported as such and killed.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CONTENDERS, pollPeriodMs, type Contender } from './adapters'
import { startAgents, TimeoutError, type Agent } from './agents'
import type { Context } from './context'
import { progress } from './progress'
import { peerInfo } from './peers'
import { failedRow, type Row, type ScenarioResult } from './results'
import type { PhaseMetrics, WaitersRequest, WaitersResult } from './waiters'

const WAITERS = 1000

function settingsFor (quick: boolean, c: Contender, readPath: string): WaitersRequest {
  return {
    count: WAITERS,
    idleMs: quick ? 300 : 2000,
    settleMs: quick ? 150 : 500,
    windowMs: quick ? 300 : 2000,
    stallMs: quick ? 500 : 2000,
    drainMs: quick ? 600 : 5_000 + 2 * pollPeriodMs(c.id),
    readPath
  }
}

function phase (prefix: string, metrics: PhaseMetrics): Record<string, number | boolean | null> {
  return {
    [`${prefix}Threads`]: metrics.threads,
    [`${prefix}RssMiB`]: metrics.rssMiB,
    [`${prefix}EventLoopDelayP99Ms`]: metrics.eventLoopDelayP99Ms,
    [`${prefix}ReadFileP50Ms`]: metrics.readFileP50Ms,
    [`${prefix}ReadFileP99Ms`]: metrics.readFileP99Ms,
    [`${prefix}ReadFileStalled`]: metrics.readFileStalled
  }
}

async function measure (c: Contender, path: string, request: WaitersRequest): Promise<Row> {
  const [holder, waiters] = await startAgents(2, c.id, path) as [Agent, Agent]
  try {
    await holder.send({ cmd: 'hold' }, 10_000)
    const budget = request.idleMs + request.settleMs + request.windowMs + request.stallMs * 2 + 10_000
    let measured
    try {
      measured = await waiters.send({ cmd: 'waiters', ...request }, budget)
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error
      return { id: c.id, label: c.label, status: 'hangs', reason: `no answer within ${(budget / 1000).toFixed(0)} s; killed` }
    }
    if (measured.event !== 'measured') throw new Error(`unexpected ${measured.event}`)
    await holder.send({ cmd: 'release', holdMs: 0, replyNow: true }, 10_000)
    const result = await waiters.next(request.drainMs + 10_000) as unknown as WaitersResult & { event: string }
    const stalled = result.waiting.readFileStalled
    const row: Row = {
      id: c.id,
      label: c.label,
      status: stalled ? 'hangs' : 'ok',
      metrics: {
        waiters: result.started,
        failed: result.failed,
        extraThreads: result.waiting.threads - result.idle.threads,
        ...phase('idle', result.idle),
        ...phase('waiting', result.waiting),
        eventLoopDelayRatio: result.waiting.eventLoopDelayP99Ms / result.idle.eventLoopDelayP99Ms,
        drainMs: result.drainMs,
        drained: result.drained
      },
      note: c.waits
    }
    if (stalled) {
      row.reason = `fs.promises.readFile did not finish within ${request.stallMs} ms while the waiters waited (libuv thread pool full); ` +
        (result.drainMs === null ? `the waiters had not all had the lock ${(request.drainMs / 1000).toFixed(0)} s after the holder let go` : 'it recovered once the holder let go')
    }
    if (result.failed > 0) row.reason = `${row.reason === undefined ? '' : `${row.reason}; `}${result.failed} acquires failed: ${result.firstError}`
    return row
  } finally {
    await Promise.all([holder.kill(), waiters.kill()])
  }
}

export async function scenario6 (context: Context): Promise<ScenarioResult> {
  const dir = context.dir('s6')
  const readPath = join(dir, 'read-me.txt')
  writeFileSync(readPath, 'x'.repeat(4096))
  const started = Date.now()
  const rows: Row[] = []
  for (const c of CONTENDERS) {
    const info = c.peer === undefined ? undefined : peerInfo(c.peer)
    if (info !== undefined && !info.available) {
      rows.push({ id: c.id, label: c.label, status: 'unavailable', reason: info.reason })
      continue
    }
    progress(`6 ${WAITERS} waiters: ${c.label}`)
    try {
      rows.push(await measure(c, join(dir, `${c.id}.lock`), settingsFor(context.quick, c, readPath)))
    } catch (error) {
      rows.push(failedRow(c.id, c.label, error))
    }
  }
  return {
    id: 's6',
    title: `${WAITERS} pending acquires on one path in one process`,
    measures: 'native threads, RSS, event-loop delay p99 (monitorEventLoopDelay, 1 ms resolution) and fs.promises.readFile latency while the waiters wait, against the same process idle just before',
    unit: 'none',
    reference: 'locksmith',
    rows,
    settings: { waiters: WAITERS, ...settingsFor(context.quick, CONTENDERS[0] as Contender, readPath), readPath: undefined },
    durationMs: Date.now() - started
  }
}
