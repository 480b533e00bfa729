// Side-by-side sampling of short operations. Each sample is the mean time per
// operation over a batch sized to take about 50 µs (timer overhead stays below
// 1 %); contenders take turns, round after round, so machine noise falls on all
// of them alike. The first round warms up and is dropped.
import * as locksmith from '../lib/index'
import { runBaselineAsync, type Baseline } from './baseline'
import { REF_SUFFIX, refLabel, type LocksmithModule } from './compare'
import type { Context } from './context'
import { nowNs } from './clock'
import { progress } from './progress'
import { computeRatios, failedRow, type Row, type ScenarioResult } from './results'
import { summarize } from './stats'

export type SyncOp = () => void
export type AsyncOp = () => Promise<void>

export interface MicroCase {
  id: string
  label: string
  note?: string
  /** Prepares the operation; throwing marks the row failed. Return a string to mark it unavailable/unsupported. */
  setup?: () => Promise<SyncOp | AsyncOp | Skip> | SyncOp | AsyncOp | Skip
  async?: boolean
  /** Instead of setup: a C baseline command given (batches, batch) that prints per-op ns per batch. */
  external?: (batches: number, batch: number) => string[]
  teardown?: () => void | Promise<void>
}

export interface Skip { status: 'unavailable' | 'unsupported', reason: string }

export interface MicroSettings {
  rounds: number
  batchesPerRound: number
  batchTargetNs: number
}

export function microSettings (quick: boolean): MicroSettings {
  return quick
    ? { rounds: 3, batchesPerRound: 60, batchTargetNs: 50_000 }
    : { rounds: 11, batchesPerRound: 200, batchTargetNs: 50_000 }
}

function isSkip (value: unknown): value is Skip {
  return typeof value === 'object' && value !== null && 'status' in value
}

async function timeBatch (op: SyncOp | AsyncOp, async: boolean, batch: number): Promise<number> {
  if (async) {
    const start = nowNs()
    for (let i = 0; i < batch; i++) await (op as AsyncOp)()
    return (nowNs() - start) / batch
  }
  const start = nowNs()
  for (let i = 0; i < batch; i++) (op as SyncOp)()
  return (nowNs() - start) / batch
}

/** About how long one operation takes: enough runs to fill 20 ms. */
async function calibrate (op: SyncOp | AsyncOp, async: boolean): Promise<number> {
  let batch = 1
  for (;;) {
    const start = nowNs()
    for (let i = 0; i < batch; i++) {
      if (async) await (op as AsyncOp)()
      else (op as SyncOp)()
    }
    const took = nowNs() - start
    if (took > 20e6 || batch >= 1 << 20) return took / batch
    batch *= 4
  }
}

export async function runMicro (scenario: string, cases: MicroCase[], settings: MicroSettings): Promise<Row[]> {
  interface Live { spec: MicroCase, op?: SyncOp | AsyncOp, batch: number, samples: number[], row?: Row }
  const live: Live[] = []
  for (const spec of cases) {
    const entry: Live = { spec, batch: 1, samples: [] }
    live.push(entry)
    try {
      if (spec.external !== undefined) {
        const probe = await runBaselineAsync(spec.external(5, 1000))
        entry.batch = Math.max(1, Math.round(settings.batchTargetNs / summarize(probe).median))
        continue
      }
      const made = await spec.setup?.()
      if (made === undefined) throw new Error('no operation')
      if (isSkip(made)) {
        entry.row = { id: spec.id, label: spec.label, status: made.status, reason: made.reason }
        continue
      }
      entry.op = made
      const perOp = await calibrate(made, spec.async === true)
      entry.batch = Math.max(1, Math.min(100_000, Math.round(settings.batchTargetNs / perOp)))
    } catch (error) {
      entry.row = failedRow(spec.id, spec.label, error)
    }
  }
  const active = live.filter((entry) => entry.row === undefined)
  for (let round = 0; round < settings.rounds; round++) {
    // Rotate who goes first so no contender always follows the same one.
    for (let k = 0; k < active.length; k++) {
      const entry = active[(k + round) % active.length] as Live
      if (entry.row !== undefined) continue
      progress(`${scenario}: ${entry.spec.label} (round ${round + 1}/${settings.rounds})`)
      try {
        let samples: number[]
        if (entry.spec.external !== undefined) {
          samples = await runBaselineAsync(entry.spec.external(settings.batchesPerRound, entry.batch))
        } else {
          samples = []
          for (let b = 0; b < settings.batchesPerRound; b++) {
            samples.push(await timeBatch(entry.op as SyncOp | AsyncOp, entry.spec.async === true, entry.batch))
          }
        }
        if (round > 0 || settings.rounds === 1) entry.samples.push(...samples)
      } catch (error) {
        entry.row = failedRow(entry.spec.id, entry.spec.label, error)
      }
    }
  }
  for (const entry of live) {
    try { await entry.spec.teardown?.() } catch { /* best effort */ }
  }
  return live.map((entry) => {
    if (entry.row !== undefined) return entry.row
    const summary = summarize(entry.samples)
    const row: Row = {
      id: entry.spec.id,
      label: entry.spec.label,
      status: 'ok',
      median: summary.median,
      p99: summary.p99,
      samples: summary.n,
      metrics: { batch: entry.batch }
    }
    if (entry.spec.note !== undefined) row.note = entry.spec.note
    return row
  })
}

/** A case measured by the C baseline, or an unavailable row when it was not built. */
export function cCase (baseline: Baseline, id: string, label: string, args: (batches: number, batch: number) => string[]): MicroCase {
  if (baseline.path === undefined) {
    return { id, label, setup: () => ({ status: 'unavailable', reason: baseline.reason ?? 'no C compiler' }) }
  }
  return { id, label, external: args }
}

/**
 * A scenario's cases: locksmith's, made by `own` for a build of the library
 * (lock files named through `file`), then everyone else's. In a --compare run,
 * locksmith's for the working tree and for the other build, and nothing else.
 */
export function withComparison (
  context: Context, file: (name: string) => string,
  own: (lib: LocksmithModule, file: (name: string) => string) => MicroCase[], others: () => MicroCase[]
): MicroCase[] {
  const mine = own(locksmith, file)
  const compare = context.compare
  if (compare === undefined) return [...mine, ...others()]
  const theirs = own(compare.lib, (name) => file(`${name}${REF_SUFFIX}`))
  return [...mine, ...theirs.map((c) => ({ ...c, id: `${c.id}${REF_SUFFIX}`, label: refLabel(c.label, compare) }))]
}

/** Runs one micro scenario and packs it as a result with ratios to locksmith. */
export async function microScenario (
  info: { id: string, title: string, measures: string, label: string }, cases: MicroCase[], quick: boolean
): Promise<ScenarioResult> {
  const settings = microSettings(quick)
  const started = Date.now()
  const rows = await runMicro(info.label, cases, settings)
  const result: ScenarioResult = {
    id: info.id,
    title: info.title,
    measures: info.measures,
    unit: 'ns',
    reference: 'locksmith',
    rows,
    settings: { ...settings },
    durationMs: Date.now() - started
  }
  computeRatios(result)
  return result
}
