// Named locks across processes and worker threads: synchronized callers never
// overlap, and removing the lock file while others hold or wait for it never
// lets two of them in at once.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { AcquireLockFailedError, lockWithPrefix, removeExternalLockFile } from '../lib/index'
import { lockFilePath } from '../lib/lockpath'
import { Holder, sleep, tempDir } from './helpers'

const contender = join(__dirname, 'fixtures', 'lockutils-contender.js')

interface ContenderOptions { kind: 'async' | 'sync' | 'removal', id: string, name: string, lockPath: string, log: string, rounds: number }

async function inProcess (options: ContenderOptions): Promise<void> {
  const child = fork(contender, [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const [code] = await once(child, 'exit')
  assert.equal(code, 0, `contender ${options.id} failed`)
}

async function inWorker (options: ContenderOptions): Promise<void> {
  const worker = new Worker(contender, { workerData: options })
  const [code] = await once(worker, 'exit')
  assert.equal(code, 0, `worker ${options.id} failed`)
}

/** Every entry line is followed by the same caller's exit line: no overlap. */
function assertNoOverlap (log: string): string[] {
  const lines = readFileSync(log, 'utf8').trim().split('\n')
  assert.equal(lines.length % 2, 0)
  for (let i = 0; i < lines.length; i += 2) {
    const enter = lines[i] as string
    const exit = lines[i + 1] as string
    assert.ok(enter.startsWith('+') && exit.startsWith('-'), `overlap at line ${i}: ${lines.slice(Math.max(0, i - 2), i + 3).join(' | ')}`)
    assert.equal(exit.slice(1).split(':')[0], enter.slice(1).split(':')[0], `overlap at line ${i}`)
  }
  return lines.filter((line) => line.startsWith('+'))
}

test('synchronized methods and functions in processes and worker threads never overlap', async () => {
  const lockPath = tempDir()
  const log = join(lockPath, 'log')
  writeFileSync(log, '')
  const rounds = 30
  const base = { name: 'account', lockPath, log, rounds }
  await Promise.all([
    inProcess({ ...base, kind: 'async', id: 'P1' }),
    inProcess({ ...base, kind: 'async', id: 'P2' }),
    inProcess({ ...base, kind: 'sync', id: 'P3' }),
    inWorker({ ...base, kind: 'async', id: 'W1' }),
    inWorker({ ...base, kind: 'sync', id: 'W2' })
  ])
  const entries = assertNoOverlap(log)
  // 2 loops x rounds for async contenders, rounds for sync ones.
  assert.equal(entries.length, 3 * 2 * rounds + 2 * rounds)
  for (const id of ['P1', 'P2', 'P3', 'W1', 'W2']) assert.ok(entries.some((e) => e.startsWith(`+${id}:`)), id)
  // Different functions sharing the name were both there.
  for (const fn of ['deposit', 'withdraw', 'audit']) assert.ok(entries.some((e) => e.includes(`:${fn}:`)), fn)
})

test('removing the lock file while others hold and wait never gives two holders (stress)', async () => {
  const lockPath = tempDir()
  const log = join(lockPath, 'log')
  writeFileSync(log, '')
  const base = { name: 'r', lockPath, log, rounds: 150, kind: 'removal' as const }
  let removing = true
  let removals = 0
  const remover = (async () => {
    while (removing) {
      await removeExternalLockFile('r', { lockPath })
      if (!existsSync(join(lockPath, 'r'))) removals++ // gone until a contender makes it again
      await sleep(1)
    }
  })()
  await Promise.all([inProcess({ ...base, id: 'A' }), inProcess({ ...base, id: 'B' }), inWorker({ ...base, id: 'C' })])
  removing = false
  await remover
  const entries = assertNoOverlap(log)
  assert.equal(entries.length, 3 * 150)
  assert.deepEqual(entries.filter((e) => e.endsWith(':gone')), [], 'a holder found its lock file removed')
  assert.ok(removals > 10, `the file was really removed under contention (${removals} times)`)
})

test('removal while another process waits: the waiter and a newcomer are never both holders', async () => {
  const lockPath = tempDir()
  const path = lockFilePath('w', { lockPath })
  const [a, b, c] = await Promise.all([Holder.start(), Holder.start(), Holder.start()])
  try {
    for (let round = 0; round < 4; round++) {
      assert.equal((await a.send({ cmd: 'acquire', path })).event, 'acquired')
      b.post({ cmd: 'acquire', path }) // waits in the kernel on the current file
      await sleep(50)
      let removed = false
      const removal = removeExternalLockFile('w', { lockPath }).then(() => { removed = true })
      await sleep(20)
      assert.equal((await a.send({ cmd: 'release' })).event, 'released')
      const granted = await b.next() // B gets the lock: before the removal, or on the new file after it
      assert.equal(granted.event, 'acquired')
      assert.equal((await c.send({ cmd: 'acquire', path, options: { blocking: false } })).event, 'busy', `round ${round}: two holders (removed first: ${removed})`)
      assert.equal((await b.send({ cmd: 'release' })).event, 'released')
      await removal
      assert.equal((await c.send({ cmd: 'acquire', path, options: { blocking: false } })).event, 'acquired')
      assert.equal((await c.send({ cmd: 'release' })).event, 'released')
      if (round % 2 === 1) await removeExternalLockFile('w', { lockPath })
    }
    assert.equal(existsSync(path), false, "the last removal, with nobody holding, removed the file")
  } finally {
    await Promise.all([a.kill(), b.kill(), c.kill()])
  }
})

test("prefixes 'nova' and 'nova-' name one lock across processes", async () => {
  const lockPath = tempDir()
  const holder = await Holder.start()
  try {
    const path = lockFilePath('compute', { lockPath, prefix: 'nova' })
    assert.equal((await holder.send({ cmd: 'acquire', path })).event, 'acquired')
    await assert.rejects(lockWithPrefix('nova-')('compute', { external: true, lockPath, blocking: false }), (error: unknown) =>
      error instanceof AcquireLockFailedError && error.path === path)
    await holder.send({ cmd: 'release' })
    await lockWithPrefix('nova-')('compute', { external: true, lockPath, blocking: false }, () => {})
  } finally {
    await holder.kill()
  }
})
