// `--compare REF`: the scenarios for two builds of locksmith in one run, the
// working tree against a git revision, interleaved round by round so that a
// change's effect shows as a ratio rather than two noisy absolutes. The
// revision is exported into bench/results/tmp/ref-<commit>/ and compiled there
// with this tree's TypeScript; its addon is the one committed in its prebuilds/.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { root, tmpDir } from './baseline'
import { progress } from './progress'

export type LocksmithModule = typeof import('../lib/index')

export interface Comparison {
  /** What the user named (a branch, a tag, a commit). */
  ref: string
  commit: string
  /** The exported tree; its dist/lib/index.js is the other build. */
  dir: string
  lib: LocksmithModule
}

/** Agents (child processes) find the other build here. */
export const REF_ENV = 'LOCKSMITH_BENCH_REF_DIR'
/** Row ids of the other build: the working tree's id with this suffix. */
export const REF_SUFFIX = '@ref'

function git (args: string[]): string {
  return execFileSync('git', args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim()
}

export function prepareComparison (ref: string): Comparison {
  let commit: string
  try {
    commit = git(['rev-parse', '--verify', `${ref}^{commit}`])
  } catch {
    throw new Error(`--compare: ${ref} is not a commit of this repository`)
  }
  const dir = join(tmpDir, `ref-${commit.slice(0, 12)}`)
  const built = join(dir, 'dist', 'lib', 'index.js')
  if (!existsSync(built)) {
    progress(`compare: exporting and building ${ref} (${commit.slice(0, 12)})`)
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    execFileSync('sh', ['-c', `git archive ${commit} | tar -x -C '${dir}'`], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] })
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'))
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  }
  process.env[REF_ENV] = dir
  return { ref, commit, dir, lib: loadRef(dir) }
}

function loadRef (dir: string): LocksmithModule {
  return require(join(dir, 'dist', 'lib', 'index.js')) as LocksmithModule
}

/** In an agent process: the other build, named by the parent. */
export function refLib (): LocksmithModule {
  const dir = process.env[REF_ENV]
  if (dir === undefined || dir === '') throw new Error(`no ${REF_ENV}: not a --compare run`)
  return loadRef(dir)
}

/** The label of a row of the other build. */
export function refLabel (label: string, comparison: Pick<Comparison, 'ref'>): string {
  return `${label} [${comparison.ref}]`
}
