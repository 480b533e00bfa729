// Stress: several processes x worker threads x async tasks take one lock again
// and again, with random waits, timeouts, aborts through a real AbortController,
// and (for Lock) removeOnRelease on some exclusive whole-file locks. Writers do a
// read-increment-write on a counter file with a yield in the middle, readers read
// it twice with a yield in between. Afterwards: no lost update, no two holders
// seen inside at once, every participant exited 0, no waiter thread left in any
// process, and a fresh process can take every lock.
//
// Each scenario runs for STRESS_MS milliseconds (default 3000). The random choices
// are seeded: a failure prints the seed; STRESS_SEED=<n> replays the same choices
// (the interleaving itself is up to the machine).
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { fork, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ReaderWriterLock } from '../lib/index'
import { flockCommandCanLock, isLinux, pythonCanLock, tempDir } from './helpers'
import type { Backend, Check, Config, Stats } from './fixtures/stress-participant'

const participant = join(__dirname, 'fixtures', 'stress-participant.js')
const budget = Number(process.env.STRESS_MS ?? 3000)
const seed = process.env.STRESS_SEED !== undefined ? Number(process.env.STRESS_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0
/** Time for everything but the budget itself: start-up, the last waits, exit. */
const slack = 30_000
/** Far below what a few seconds give even on a slow machine, far above zero. */
const MIN_INCREMENTS = 50
const MIN_READS = 20

const backends: Backend[] = ['flock', 'ofd', 'posix']
const checks: Check[] = []
const dir = tempDir('locksmith-stress-')
let scenarioCount = 0

function emptyStats (): Stats {
  return { increments: 0, reads: 0, busy: 0, timeouts: 0, aborts: 0, abortsTooLate: 0, preAborted: 0, removals: 0, attempts: 0 }
}

interface Outcome {
  stats: Stats
  violations: string[]
  counter: number
  leftMarkers: string[]
  exits: Array<{ proc: number, code: number | null, signal: NodeJS.Signals | null, done: boolean }>
}

interface Shape { processes: number, workers: number, tasks: number, readShare: number, removeShare: number }

/** Runs one scenario to the end (or kills it after budget + slack) and gathers what happened. */
async function runScenario (kind: 'lock' | 'rw', backend: Backend, shape: Shape, scenarioSeed: number): Promise<{ outcome: Outcome, config: Omit<Config, 'proc'> }> {
  const base = join(dir, `${kind}-${backend}-${++scenarioCount}`)
  mkdirSync(base)
  const markerDir = join(base, 'inside')
  mkdirSync(markerDir)
  const config: Omit<Config, 'proc'> = {
    kind,
    backend,
    lockPath: join(base, 'stress.lock'),
    counterPath: join(base, 'counter'),
    markerDir,
    seed: scenarioSeed,
    workers: shape.workers,
    tasks: shape.tasks,
    readShare: shape.readShare,
    removeShare: shape.removeShare
  }
  writeFileSync(config.counterPath, '0')

  const stats = emptyStats()
  const violations: string[] = []
  const exits: Outcome['exits'] = []
  const children: ChildProcess[] = []
  const killAll = (): void => { for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') }
  const hardLimit = setTimeout(() => {
    violations.push(`still running ${budget + slack} ms after the start: killed`)
    killAll()
  }, budget + slack)
  try {
    const ready: Array<Promise<void>> = []
    const finished: Array<Promise<void>> = []
    for (let proc = 0; proc < shape.processes; proc++) {
      const child = fork(participant, ['run', JSON.stringify({ ...config, proc })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      children.push(child)
      const exit = { proc, code: null as number | null, signal: null as NodeJS.Signals | null, done: false }
      exits.push(exit)
      ready.push(new Promise((resolve, reject) => {
        child.once('message', (message: { event: string }) => message.event === 'ready' ? resolve() : reject(new Error(`p${proc}: ${JSON.stringify(message)}`)))
        child.once('exit', (code) => reject(new Error(`p${proc} exited with ${code} before it was ready`)))
      }))
      child.on('message', (message: { event: string, stats?: Stats, violations?: string[] }) => {
        if (message.event !== 'done') return
        exit.done = true
        for (const key of Object.keys(stats) as Array<keyof Stats>) stats[key] += message.stats?.[key] ?? 0
        violations.push(...(message.violations ?? []))
      })
      finished.push(new Promise((resolve) => child.on('exit', (code, signal) => {
        exit.code = code
        exit.signal = signal
        resolve()
      })))
    }
    try {
      await Promise.all(ready)
    } catch (error) {
      killAll()
      await Promise.all(finished)
      throw error
    }
    const deadline = Date.now() + budget
    for (const child of children) child.send({ event: 'go', deadline })
    await Promise.all(finished)
  } finally {
    clearTimeout(hardLimit)
  }
  const outcome: Outcome = {
    stats,
    violations,
    counter: Number(readFileSync(config.counterPath, 'utf8')),
    leftMarkers: readdirSync(markerDir),
    exits
  }
  return { outcome, config }
}

/** A fresh process takes the given locks, all at once, with tryAcquire()/tryWrite(). */
function freshProcessCanTake (these: Check[]): { held: number, refused: string[] } {
  const result = spawnSync(process.execPath, [participant, 'check', JSON.stringify(these)], { encoding: 'utf8' })
  assert.equal(result.status, 0, `check process failed: ${result.stderr}`)
  return JSON.parse(result.stdout) as { held: number, refused: string[] }
}

/** The same question asked of programs that are not locksmith: flock(1) and Python fcntl. */
function othersCanTake (check: Check): boolean {
  if (check.kind === 'rw') return pythonCanLock(check.lockPath, check.backend === 'posix' ? 'lockf' : 'ofd', false, 0, 2)
  if (check.backend === 'flock') return flockCommandCanLock(check.lockPath)
  return pythonCanLock(check.lockPath, check.backend === 'posix' ? 'lockf' : 'ofd')
}

function assertOutcome (name: string, kind: 'lock' | 'rw', shape: Shape, outcome: Outcome, scenarioSeed: number, diagnostic: (message: string) => void): void {
  const { stats } = outcome
  const tag = `${name} (STRESS_SEED=${seed}, scenario seed ${scenarioSeed})`
  diagnostic(`${tag}: ${JSON.stringify(stats)}, counter ${outcome.counter}`)
  for (const exit of outcome.exits) {
    assert.ok(exit.done, `${tag}: p${exit.proc} never reported its results`)
    assert.equal(exit.signal, null, `${tag}: p${exit.proc} was killed by ${String(exit.signal)}`)
  }
  if (outcome.violations.length > 0) {
    // One line per kind of violation (ids, numbers and paths left out), then the first few in full.
    const kinds = new Map<string, number>()
    for (const v of outcome.violations) {
      const kind = v.replace(/^\S+ attempt \d+: /, '').replace(/ \|.*$/, '').replace(/'[^']*'/g, "'…'").replace(/r-\S+(, r-\S+)*/g, 'r-…').replace(/\d+/g, 'N')
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1)
    }
    const summary = [...kinds].map(([kind, n]) => `  ${n} x ${kind}`).join('\n')
    assert.fail(`${tag}: ${outcome.violations.length} violations seen by the participants (at most 20 kept per task):\n${summary}\nfirst ones:\n  ${outcome.violations.slice(0, 5).join('\n  ')}`)
  }
  for (const exit of outcome.exits) assert.equal(exit.code, 0, `${tag}: p${exit.proc} exited with ${exit.code}`)
  assert.equal(outcome.counter, stats.increments, `${tag}: the counter file says ${outcome.counter}, the participants made ${stats.increments} increments (${stats.increments - outcome.counter} lost updates)`)
  assert.deepEqual(outcome.leftMarkers, [], `${tag}: markers left behind, someone left a critical section without cleaning up`)
  // Not vacuous: real work was done, and the lock really was contended.
  assert.ok(stats.increments >= MIN_INCREMENTS, `${tag}: only ${stats.increments} increments`)
  assert.ok(stats.reads >= (kind === 'rw' ? MIN_READS : 1), `${tag}: only ${stats.reads} double reads`)
  assert.ok(stats.busy > 0, `${tag}: no attempt ever found the lock busy`)
  assert.ok(stats.timeouts > 0, `${tag}: no wait ever timed out`)
  assert.ok(stats.aborts > 0, `${tag}: no wait was ever aborted`)
  if (kind === 'lock' && shape.removeShare > 0) assert.ok(stats.removals > 0, `${tag}: no removeOnRelease lock was ever held`)
}

describe('stress: processes x threads x tasks on one lock', { skip: !isLinux }, () => {
  for (const backend of backends) {
    // With posix the locks belong to the process: worker threads of one process
    // do not exclude each other (README, Design), so posix runs processes x tasks only.
    const shape: Shape = backend === 'posix'
      ? { processes: 4, workers: 0, tasks: 3, readShare: 0.2, removeShare: 0.3 }
      : { processes: 3, workers: 2, tasks: 2, readShare: 0.2, removeShare: 0.3 }
    test(`Lock, ${backend}: ${shape.processes} processes x ${shape.workers + 1} threads x ${shape.tasks} tasks, no lost update, no overlap, nothing left held`, async (t) => {
      const scenarioSeed = (seed ^ (0x1000 + backends.indexOf(backend))) >>> 0
      const { outcome, config } = await runScenario('lock', backend, shape, scenarioSeed)
      assertOutcome(`Lock/${backend}`, 'lock', shape, outcome, scenarioSeed, (m) => t.diagnostic(m))
      const check: Check = { kind: 'lock', backend, lockPath: config.lockPath }
      checks.push(check)
      assert.deepEqual(freshProcessCanTake([check]), { held: 1, refused: [] }, `Lock/${backend} (STRESS_SEED=${seed}): still held after every participant exited`)
      assert.equal(othersCanTake(check), true, `Lock/${backend} (STRESS_SEED=${seed}): another program cannot lock the file`)
    })
  }

  for (const backend of backends) {
    const shape: Shape = backend === 'posix'
      ? { processes: 4, workers: 0, tasks: 3, readShare: 0.5, removeShare: 0 }
      : { processes: 3, workers: 2, tasks: 2, readShare: 0.5, removeShare: 0 }
    test(`ReaderWriterLock, ${backend}: writers increment, readers see no change between two reads`, async (t) => {
      // A backend ReaderWriterLock cannot use must be refused with a coded error
      // when the object is made, never accepted and run with weaker guarantees.
      let refusal: unknown
      try {
        void new ReaderWriterLock(join(dir, `probe-${backend}.lock`), { backend })
      } catch (error) {
        refusal = error
      }
      if (backend === 'flock') assert.ok(refusal !== undefined, 'flock has no byte ranges: ReaderWriterLock must refuse it')
      if (backend === 'ofd') assert.equal(refusal, undefined, 'ofd must be accepted')
      if (refusal !== undefined) {
        assert.ok(refusal instanceof Error, `refused with a non-error: ${String(refusal)}`)
        const code = (refusal as NodeJS.ErrnoException).code
        assert.ok(typeof code === 'string' && code.length > 0, `refused without a code: ${String(refusal)}`)
        t.skip(`ReaderWriterLock refuses ${backend} (${code})`)
        return
      }
      const scenarioSeed = (seed ^ (0x2000 + backends.indexOf(backend))) >>> 0
      const { outcome, config } = await runScenario('rw', backend, shape, scenarioSeed)
      assertOutcome(`ReaderWriterLock/${backend}`, 'rw', shape, outcome, scenarioSeed, (m) => t.diagnostic(m))
      const check: Check = { kind: 'rw', backend, lockPath: config.lockPath }
      checks.push(check)
      assert.deepEqual(freshProcessCanTake([check]), { held: 1, refused: [] }, `ReaderWriterLock/${backend} (STRESS_SEED=${seed}): still held after every participant exited`)
      assert.equal(othersCanTake(check), true, `ReaderWriterLock/${backend} (STRESS_SEED=${seed}): another program cannot lock the file`)
    })
  }

  test('afterwards a fresh process takes every lock of every scenario at once', (t) => {
    if (checks.length === 0) return t.skip('no scenario got this far')
    assert.deepEqual(freshProcessCanTake(checks), { held: checks.length, refused: [] })
  })
})
