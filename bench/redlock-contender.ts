// The contender shape of the distributed-lock benchmarks, with locksmith's
// Coordinator and redlock-style libraries as contenders
// (bench/coordination-redis.ts, bench/coordination-backends.ts).
import { Redis } from 'ioredis'
import { Coordinator } from '../lib/index'
import { performance } from 'node:perf_hooks'
import { requestsSent } from './request-counter'

export const LEASE = 30_000

export interface Pair {
  wait: () => Promise<void>
  releaseA: () => Promise<void>
  releaseB: () => Promise<void>
}

export interface Contender {
  name: string
  /** One acquire + release on `key`, uncontended; a contender that times itself returns the µs it took. */
  cycle: (key: string) => Promise<number | undefined | void>
  /** A holds `key`; the pair makes B wait for it, releases A, then B. */
  handoff: (key: string) => Promise<Pair>
  /** The whole hand-off, timed by the contender itself (one in another process): release-to-held ms, and requests sent meanwhile. */
  measuredHandoff?: (key: string) => Promise<{ ms: number, requests: number }>
  /** A second member asks once while the first re-takes the lock back to back: how long it waited (ms), and how often the first got it meanwhile. */
  retaking?: (key: string) => Promise<Retake>
  /** Requests this contender's clients have sent so far (to read before and after a hand-off). */
  requests?: () => number
  close: () => Promise<void>
}

export interface Retake {
  ms: number
  /** The re-taking member's grants during the wait. */
  grants: number
}

/** How long a waiter beside a re-taking member may wait before the benchmark gives up on it (ms). */
export const STARVED = 2000

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The re-taking scenario for any pair of acquire functions: `retake` takes and
 * gives back the lock once; `wait` asks once, calls `held()` the moment it
 * holds the lock (within `STARVED` ms), then releases it.
 */
export async function retakingScenario (retake: () => Promise<void>, wait: (held: () => void) => Promise<void>): Promise<Retake> {
  let stop = false
  let grants = 0
  const loop = (async () => {
    for (let i = 0; i < 1_000_000 && !stop; i++) {
      await retake()
      grants++
    }
  })()
  await sleep(20)
  const started = performance.now()
  const before = grants
  let result: Retake = { ms: STARVED, grants: 0 }
  try {
    await wait(() => { result = { ms: performance.now() - started, grants: grants - before } })
  } finally {
    stop = true
  }
  if (result.ms === STARVED) result.grants = grants - before
  await loop
  return result
}

export interface RedlockLike {
  acquire: (resources: string[], duration: number, settings?: Record<string, number>) => Promise<{ release: () => Promise<unknown> }>
}

/** A redlock-style library (`make` builds one per client) with its `wait` retry settings. */
export async function redlockContender (label: string, make: (client: Redis) => RedlockLike, url: string, wait: Record<string, number>): Promise<Contender> {
  const clientA = new Redis(url)
  const clientB = new Redis(url)
  const a = make(clientA)
  const b = make(clientB)
  return {
    name: label,
    cycle: async (key) => {
      const lock = await a.acquire([key], LEASE)
      await lock.release()
    },
    handoff: async (key) => {
      const held = await a.acquire([key], LEASE)
      let got: { release: () => Promise<unknown> } | undefined
      return {
        wait: async () => { got = await b.acquire([key], LEASE, wait) },
        releaseA: async () => { await held.release() },
        releaseB: async () => { await got?.release() }
      }
    },
    retaking: async (key) => await retakingScenario(async () => {
      const lock = await a.acquire([key], LEASE, wait)
      await lock.release()
    }, async (held) => {
      // As many retries as fit in STARVED at the configured delay.
      const delay = wait.retryDelay ?? 200
      let lock: { release: () => Promise<unknown> }
      try {
        lock = await b.acquire([key], LEASE, { ...wait, retryCount: Math.ceil(STARVED / delay) })
      } catch {
        return
      }
      held()
      await lock.release()
    }),
    requests: () => requestsSent.redis,
    close: async () => { clientA.disconnect(); clientB.disconnect() }
  }
}

/** Two Coordinators (members A and B) on `url`; `requests` reads what their clients sent so far. */
export async function coordinatorContender (name: string, url: string, requests?: () => number): Promise<Contender> {
  const a = new Coordinator(url, { leaseTtl: LEASE, agentId: 'bench-a' })
  const b = new Coordinator(url, { leaseTtl: LEASE, agentId: 'bench-b' })
  await a.start()
  await b.start()
  const contender: Contender = {
    name,
    cycle: async (key) => {
      const lock = a.getLock(key)
      await lock.acquire()
      await lock.release()
    },
    handoff: async (key) => {
      const held = a.getLock(key)
      await held.acquire()
      const waiter = b.getLock(key)
      return {
        wait: async () => { await waiter.acquire() },
        releaseA: async () => { await held.release() },
        releaseB: async () => { await waiter.release() }
      }
    },
    retaking: async (key) => {
      const lock = a.getLock(key)
      const waiter = b.getLock(key)
      return await retakingScenario(async () => {
        await lock.acquire()
        await lock.release()
      }, async (held) => {
        try {
          await waiter.acquire({ timeout: STARVED })
        } catch {
          return
        }
        held()
        await waiter.release()
      })
    },
    close: async () => { await a.stop(); await b.stop() }
  }
  if (requests !== undefined) contender.requests = requests
  return contender
}
