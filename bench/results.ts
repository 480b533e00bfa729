// The shape of bench/results/latest.json. Everything the table, the charts and
// the README section show is read from here.

export type Status = 'ok' | 'unavailable' | 'unsupported' | 'hangs' | 'failed'

export interface Row {
  /** Contender id (locksmith, fs-ext, c-flock...). */
  id: string
  label: string
  status: Status
  /** Why a row has no numbers (unavailable, unsupported, hangs, failed). */
  reason?: string
  /** The main statistic: ns per operation, ns per hand-off, ops/s... (see the scenario's unit). */
  median?: number
  p99?: number
  samples?: number
  /**
   * How this row compares with locksmith's reference row: its median divided by
   * locksmith's for times (above 1 = slower than locksmith); locksmith's ops/s
   * divided by its ops/s for throughput (above 1 = less throughput).
   */
  ratio?: number
  /** Scenario-specific numbers (threads, RSS, shares...). */
  metrics?: Record<string, number | string | boolean | null>
  note?: string
}

export interface ScenarioResult {
  id: string
  title: string
  /** What one sample measures. */
  measures: string
  /** Unit of median and p99: 'ns' (a time), 'ops/s', or 'none' (see metrics). */
  unit: 'ns' | 'ops/s' | 'none'
  /** The row every ratio is taken against. */
  reference: string
  rows: Row[]
  /** For the hand-off chart: 101 quantiles (0th..100th percentile) of each row's samples. */
  distributions?: Record<string, number[]>
  settings?: Record<string, unknown>
  durationMs?: number
}

export interface Target {
  scenario: string
  text: string
  met: boolean | null
  detail: string
}

export interface Machine {
  cpu: string
  cores: number
  memoryGiB: number
  os: string
  kernel: string
  node: string
  v8: string
  uv: string
  napi: string
  compiler?: string
}

export interface Results {
  schema: 1
  date: string
  quick: boolean
  machine: Machine
  locksmith: { version: string, commit?: string, sourceHash: string }
  peers: Array<{ name: string, version?: string, available: boolean, reason?: string }>
  baseline: { available: boolean, reason?: string }
  clock: { clock: string, shared: boolean, detail: string }
  /** A --compare run: the other build of locksmith (rows with ids ending in '@ref'). */
  comparison?: { ref: string, commit: string }
  scenarios: ScenarioResult[]
  targets: Target[]
  durationMs: number
}

/** Fills in each row's ratio against the scenario's reference row. */
export function computeRatios (scenario: ScenarioResult): void {
  const reference = scenario.rows.find((row) => row.id === scenario.reference)
  const base = reference?.median
  for (const row of scenario.rows) {
    if (row.status !== 'ok' || row.median === undefined || base === undefined || base <= 0 || row.median <= 0) {
      delete row.ratio
      continue
    }
    row.ratio = scenario.unit === 'ops/s' ? base / row.median : row.median / base
  }
}

/** The row of a contender whose run threw: its reason is the error's message. */
export function failedRow (id: string, label: string, error: unknown): Row {
  return { id, label, status: 'failed', reason: (error as Error).message }
}

export function rowOf (scenario: ScenarioResult | undefined, id: string): Row | undefined {
  return scenario?.rows.find((row) => row.id === id && row.status === 'ok')
}
