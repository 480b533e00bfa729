// What every scenario gets: the mode, a scratch directory, the C baseline.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Baseline } from './baseline'

export interface Context {
  quick: boolean
  baseline: Baseline
  /** A fresh directory for this scenario's lock files. */
  dir (name: string): string
}

export function createContext (quick: boolean, baseline: Baseline): { context: Context, cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'locksmith-bench-'))
  let n = 0
  return {
    context: {
      quick,
      baseline,
      dir: (name) => mkdtempSync(join(root, `${String(n++).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-')}-`))
    },
    cleanup: () => rmSync(root, { recursive: true, force: true })
  }
}

/** A row for a C baseline that could not be built. */
export function noBaseline (baseline: Baseline): { status: 'unavailable', reason: string } {
  return { status: 'unavailable', reason: baseline.reason ?? 'no C compiler' }
}
