// LockBusyError, LockTimeoutError and the 'busy' log line say who holds the
// lock, against holders in other processes (util-linux flock(1), Python fcntl).
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Lock, LockBusyError, LockFile, LockTimeoutError } from '../lib/index'
import { holdWith, holdWithFlockCommand, holdWithPython, isLinux, tempDir, type ExternalHolder } from './helpers'

const haveFlock = isLinux && spawnSync('flock', ['--version']).status === 0
const dir = tempDir('locksmith-inspect-')
let n = 0
const fresh = (): string => {
  const path = join(dir, `lock-${++n}`)
  writeFileSync(path, '')
  return path
}

/** The pid of the process holding a lock on path, as /proc/locks names it. */
function kernelPid (path: string): number {
  const { holders } = require('../lib/index') as typeof import('../lib/index')
  const [held] = holders(path).filter((h) => !h.waiting)
  return held?.processes.find((p) => p.args[0] === 'flock' || /python/.test(p.args[0] ?? ''))?.pid ?? -1
}

describe('errors say who holds the lock', { skip: !haveFlock && 'needs Linux /proc/locks and util-linux flock(1)' }, () => {
  const holders: ExternalHolder[] = []
  after(async () => { for (const h of holders) await h.kill() })

  it('LockBusyError from Lock.acquire (blocking: false) names the flock(1) holder', async () => {
    const path = fresh()
    holders.push(await holdWithFlockCommand(path))
    const pid = kernelPid(path)
    const error = await Lock.acquire(path, { blocking: false }).then(() => undefined, (e: unknown) => e)
    assert.ok(error instanceof LockBusyError)
    assert.equal(error.code, 'ELOCKED')
    assert.deepEqual(error.holderPids, [pid])
    assert.match(error.heldBy ?? '', new RegExp(`^pid ${pid} \\(flock -x ${path} -c`))
    assert.match(error.message, new RegExp(`^Lock is held elsewhere: ${path} \\(held by pid ${pid} \\(flock`))
    assert.match(error.stack ?? '', /held by pid/)
  })

  it('LockTimeoutError from Lock, LockFile.lock and lockSync', async () => {
    const path = fresh()
    holders.push(await holdWithFlockCommand(path, true))
    const pid = kernelPid(path)
    const lock = new Lock(path)
    await assert.rejects(lock.acquire({ timeout: 30 }), (e: unknown) => e instanceof LockTimeoutError && e.holderPids?.[0] === pid && /held by pid \d+ \(flock -s/.test(e.message))
    assert.throws(() => lock.acquireSync({ timeout: 30 }), (e: unknown) => e instanceof LockTimeoutError && e.holderPids?.[0] === pid)
    const reader = new Lock(path, { mode: 'shared' })
    assert.equal(await reader.acquire({ timeout: 30 }), true, 'a shared request is not blocked by it')
    reader.release()
    const file = LockFile.open(path)
    try {
      await assert.rejects(file.lock({ timeout: 30 }), (e: unknown) => e instanceof LockTimeoutError && e.heldBy?.startsWith(`pid ${pid} (`) === true)
      await assert.rejects(file.lock({ timeout: 0 }), (e: unknown) => e instanceof LockTimeoutError && e.holderPids?.[0] === pid)
      assert.throws(() => file.lockSync({ timeout: 30 }), (e: unknown) => e instanceof LockTimeoutError && e.holderPids?.[0] === pid)
    } finally {
      file.close()
    }
  })

  it('fcntl holders: a classic POSIX lock has a pid, an OFD lock does not', async () => {
    const path = fresh()
    holders.push(await holdWithPython(path, 'lockf', false, 10, 10))
    const pid = kernelPid(path)
    const file = LockFile.open(path, { backend: 'posix' })
    try {
      assert.throws(() => file.lockSync({ range: { start: 15, length: 1 }, timeout: 20 }), (e: unknown) => e instanceof LockTimeoutError && e.holderPids?.[0] === pid && /python/.test(e.heldBy ?? ''))
      file.lockSync({ range: { start: 0, length: 5 }, timeout: 1 }) // no overlap: no wait
    } finally {
      file.close()
    }
    const ofdPath = fresh()
    holders.push(await holdWithPython(ofdPath, 'ofd', false, 0, 0))
    await assert.rejects(new Lock(ofdPath, { backend: 'ofd' }).acquire({ timeout: 20 }),
      (e: unknown) => e instanceof LockTimeoutError && e.heldBy === 'an OFD lock (no pid in /proc/locks)' && e.holderPids?.length === 0)
  })

  it("the 'busy' log line names the holder; a free lock's lines do not look", async () => {
    const path = fresh()
    holders.push(await holdWith('flock', [path, '-c', 'echo locked; exec sleep 60']))
    const lines: string[] = []
    const fields: Array<Record<string, unknown>> = []
    const logger = { debug: (f: object, line: string): void => { fields.push(f as Record<string, unknown>); lines.push(line) } }
    assert.equal(new Lock(path, { logger }).tryAcquire(), false)
    assert.match(lines.at(-1) ?? '', new RegExp(`busy exclusive lock on ${path} \\(held by pid \\d+ \\(flock ${path} -c`))
    assert.match(String(fields.at(-1)?.heldBy), /^pid \d+ \(flock /, 'and as a structured field')
    const free = new Lock(fresh(), { logger })
    assert.equal(free.tryAcquire(), true)
    free.release()
    assert.ok(lines.slice(-2).every((line) => !line.includes('held by')))
  })
})
