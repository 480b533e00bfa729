// The contender shape of the distributed-lock benchmarks, and redlock-style
// libraries as contenders (bench/coordination-redis.ts, bench/coordination-backends.ts).
import { Redis } from 'ioredis'

export const LEASE = 30_000

export interface Pair {
  wait: () => Promise<void>
  releaseA: () => Promise<void>
  releaseB: () => Promise<void>
}

export interface Contender {
  name: string
  /** One acquire + release on `key`, uncontended. */
  cycle: (key: string) => Promise<void>
  /** A holds `key`; the pair makes B wait for it, releases A, then B. */
  handoff: (key: string) => Promise<Pair>
  /** Longest wait (ms) of a second member while the first re-takes the lock back to back. */
  retaking?: (key: string) => Promise<number>
  close: () => Promise<void>
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
    close: async () => { clientA.disconnect(); clientB.disconnect() }
  }
}
