// Many waiters in one process: what 1,000 pending acquires on one path cost the
// process that makes them. Runs inside an agent while another process holds the lock.
import { readdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { Contender, Handle } from './adapters'
import { nowNs, sleep } from './clock'
import { summarize } from './stats'

export interface WaitersRequest {
  count: number
  idleMs: number
  settleMs: number
  windowMs: number
  /** A readFile slower than this counts as stalled (the libuv pool is full). */
  stallMs: number
  /** How long to wait for every waiter to get the lock once after the holder lets go. */
  drainMs: number
  readPath: string
}

export interface PhaseMetrics {
  threads: number
  rssMiB: number
  eventLoopDelayP99Ms: number
  eventLoopDelayMaxMs: number
  readFileP50Ms: number | null
  readFileP99Ms: number | null
  readFiles: number
  /** A readFile did not finish within stallMs. */
  readFileStalled: boolean
}

export interface WaitersResult {
  idle: PhaseMetrics
  waiting: PhaseMetrics
  /** Waiters that had started when the window opened (the rest failed to start). */
  started: number
  failed: number
  firstError?: string
  /** ms for all waiters to get the lock once, each releasing at once; null if not within drainMs. */
  drainMs: number | null
  drained: number
}

export function threadCount (): number {
  try {
    return readdirSync('/proc/self/task').length
  } catch {
    return Number.NaN // not Linux
  }
}

async function measure (windowMs: number, stallMs: number, readPath: string): Promise<PhaseMetrics> {
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  const latencies: number[] = []
  let threads = threadCount()
  let rss = process.memoryUsage().rss
  let stalled = false
  const sampler = setInterval(() => {
    threads = Math.max(threads, threadCount())
    rss = Math.max(rss, process.memoryUsage().rss)
  }, 20)
  histogram.enable()
  const end = nowNs() + windowMs * 1e6
  while (nowNs() < end) {
    const started = nowNs()
    let timer: NodeJS.Timeout | undefined
    const finished = await Promise.race([
      readFile(readPath).then(() => true),
      new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), stallMs) })
    ])
    clearTimeout(timer)
    if (!finished) {
      stalled = true
      break
    }
    latencies.push((nowNs() - started) / 1e6)
  }
  if (stalled) await sleep(Math.max(0, (end - nowNs()) / 1e6))
  histogram.disable()
  clearInterval(sampler)
  const summary = summarize(latencies)
  return {
    threads,
    rssMiB: rss / 1048576,
    eventLoopDelayP99Ms: histogram.percentile(99) / 1e6,
    eventLoopDelayMaxMs: histogram.max / 1e6,
    readFileP50Ms: latencies.length === 0 ? null : summary.median,
    readFileP99Ms: latencies.length === 0 ? null : summary.p99,
    readFiles: latencies.length,
    readFileStalled: stalled
  }
}

export async function runWaiters (
  contender: Contender,
  path: string,
  request: WaitersRequest,
  reply: (message: Record<string, unknown>) => void
): Promise<WaitersResult> {
  const idle = await measure(request.idleMs, request.stallMs, request.readPath)

  let failed = 0
  let drained = 0
  let firstError: string | undefined
  const handles: Handle[] = []
  const all: Array<Promise<void>> = []
  for (let i = 0; i < request.count; i++) {
    try {
      const handle = contender.create(path)
      handles.push(handle)
      all.push(handle.acquire().then(async () => {
        drained++
        await handle.release()
      }, (error: Error) => {
        failed++
        firstError ??= error.message
      }))
    } catch (error) {
      failed++
      firstError ??= (error as Error).message
    }
  }
  const started = handles.length
  await sleep(request.settleMs)
  const waiting = await measure(request.windowMs, request.stallMs, request.readPath)

  // Let the holder go and time how long every waiter takes to have its turn.
  reply({ event: 'measured' })
  const releasedAt = nowNs()
  let timer: NodeJS.Timeout | undefined
  const done = await Promise.race([
    Promise.all(all).then(() => true),
    new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), request.drainMs) })
  ])
  clearTimeout(timer)
  const drainMs = done && failed === 0 ? (nowNs() - releasedAt) / 1e6 : null
  return { idle, waiting, started, failed, firstError, drainMs, drained }
}
