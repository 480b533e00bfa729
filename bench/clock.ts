// One clock for every process of the benchmark. On Linux process.hrtime reads
// CLOCK_MONOTONIC, which is system-wide, so a stamp taken in one process can be
// subtracted from a stamp taken in another (checked at start-up: checkSharedClock).
import { execFileSync } from 'node:child_process'

/** Nanoseconds on the shared monotonic clock (exact as a double for about 104 days of uptime). */
export function nowNs (): number {
  return Number(process.hrtime.bigint())
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export interface ClockCheck {
  clock: string
  shared: boolean
  detail: string
}

/**
 * Brackets a stamp taken by another process (the C baseline's CLOCK_MONOTONIC
 * and another Node process's hrtime) between two stamps of this one.
 */
export function checkSharedClock (baseline: string | undefined): ClockCheck {
  const checks: string[] = []
  let shared = true
  const bracket = (label: string, read: () => number): void => {
    const before = nowNs()
    const theirs = read()
    const after = nowNs()
    const ok = before <= theirs && theirs <= after
    shared &&= ok
    checks.push(`${label}: ${ok ? 'inside' : 'OUTSIDE'} [${before}, ${after}]`)
  }
  bracket('node child', () => Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.hrtime.bigint()))']).toString()))
  if (baseline !== undefined) bracket('C child', () => Number(execFileSync(baseline, ['clock']).toString()))
  return {
    clock: process.platform === 'linux' ? 'CLOCK_MONOTONIC (process.hrtime.bigint)' : 'process.hrtime.bigint',
    shared,
    detail: checks.join('; ')
  }
}
