// Order statistics over samples. Percentiles use the nearest-rank method, so a
// reported p99 is a value that was actually measured.

export interface Summary {
  n: number
  min: number
  median: number
  p99: number
  max: number
  mean: number
}

export function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number
}

export function summarize (values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b)
  const total = sorted.reduce((sum, value) => sum + value, 0)
  return {
    n: sorted.length,
    min: sorted[0] ?? Number.NaN,
    median: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean: sorted.length === 0 ? Number.NaN : total / sorted.length
  }
}

/** `count` values spread evenly over the sorted samples, 0th to 100th percentile (for charts). */
export function quantiles (values: readonly number[], count: number): number[] {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return []
  const out: number[] = []
  for (let i = 0; i < count; i++) out.push(sorted[Math.round((i * (sorted.length - 1)) / (count - 1))] as number)
  return out
}
