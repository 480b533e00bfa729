// The C baseline (bench/baseline.c): compiled with the system's C compiler into
// bench/results/tmp/ when the benchmark starts, then run as child processes.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, statSync } from 'node:fs'
import { once } from 'node:events'
import { join } from 'node:path'

export const root = join(__dirname, '..', '..')
export const tmpDir = join(root, 'bench', 'results', 'tmp')

export type CLockKind = 'flock' | 'ofd' | 'posix'

export interface Baseline {
  path: string | undefined
  /** Why there is no baseline (no compiler, not Linux...). */
  reason?: string
  compiler?: string
}

let built: Baseline | undefined

/** Compiles bench/baseline.c (again only when the source is newer than the binary). */
export function buildBaseline (): Baseline {
  if (built !== undefined) return built
  const source = join(root, 'bench', 'baseline.c')
  const binary = join(tmpDir, 'baseline')
  const cc = process.env.CC ?? 'cc'
  try {
    mkdirSync(tmpDir, { recursive: true })
    let fresh = false
    try { fresh = statSync(binary).mtimeMs >= statSync(source).mtimeMs } catch { /* not built yet */ }
    if (!fresh) execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-pthread', '-o', binary, source], { stdio: ['ignore', 'ignore', 'pipe'] })
    const version = execFileSync(cc, ['--version']).toString().split('\n')[0]
    built = { path: binary, compiler: version }
  } catch (error) {
    const message = error instanceof Error ? (error as Error & { stderr?: Buffer }).stderr?.toString().trim() || error.message : String(error)
    built = { path: undefined, reason: `C baseline not built (${cc}): ${message.split('\n')[0]}` }
  }
  return built
}

/** Runs the baseline and parses the numbers it prints. */
export function runBaseline (args: string[], timeoutMs = 120_000): number[] {
  const binary = buildBaseline().path
  if (binary === undefined) throw new Error('no C baseline')
  const out = execFileSync(binary, args, { timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] }).toString()
  return out.trim().split(/\s+/).filter((x) => x !== '').map(Number)
}

/** Runs the baseline without blocking the event loop. */
export async function runBaselineAsync (args: string[], timeoutMs = 120_000): Promise<number[]> {
  const binary = buildBaseline().path
  if (binary === undefined) throw new Error('no C baseline')
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const [code] = await once(child, 'exit') as [number | null]
  if (code !== 0) throw new Error(`baseline ${args[0]} failed (${code}): ${err.trim()}`)
  return out.trim().split(/\s+/).filter((x) => x !== '').map(Number)
}

/** A C process holding the lock until released (or killed). */
export class CHolder {
  readonly child: ChildProcess

  static async start (kind: CLockKind, path: string): Promise<CHolder> {
    const binary = buildBaseline().path
    if (binary === undefined) throw new Error('no C baseline')
    const holder = new CHolder(spawn(binary, ['hold', kind, path], { stdio: ['pipe', 'pipe', 'inherit'] }))
    const child = holder.child
    await new Promise<void>((resolve, reject) => {
      let out = ''
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        if (out.includes('held')) resolve()
      })
      child.on('exit', (code) => reject(new Error(`C holder exited (${code}) before holding ${path}`)))
    })
    return holder
  }

  private constructor (child: ChildProcess) {
    this.child = child
  }

  async release (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = once(this.child, 'exit')
    this.child.stdin?.end()
    await exited
  }
}
