// What every scenario gets: the mode, a scratch directory, the C baseline, and
// in a --compare run the other build of locksmith.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Baseline } from './baseline'
import type { Comparison } from './compare'

export interface Context {
  quick: boolean
  baseline: Baseline
  /** Set in a --compare run: scenarios then measure locksmith's rows for both builds, and nothing else. */
  compare?: Comparison
  /** A fresh directory for this scenario's lock files. */
  dir (name: string): string
}

export function createContext (quick: boolean, baseline: Baseline, compare?: Comparison): { context: Context, cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'locksmith-bench-'))
  let n = 0
  const context: Context = {
    quick,
    baseline,
    dir: (name) => mkdtempSync(join(root, `${String(n++).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-')}-`))
  }
  if (compare !== undefined) context.compare = compare
  return { context, cleanup: () => rmSync(root, { recursive: true, force: true }) }
}

/** A row for a C baseline that could not be built. */
export function noBaseline (baseline: Baseline): { status: 'unavailable', reason: string } {
  return { status: 'unavailable', reason: baseline.reason ?? 'no C compiler' }
}
