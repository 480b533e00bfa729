// Lock cycles in a loop that never yields to the event loop run in flat memory:
// nothing native is left for a finalizer that only runs when the loop turns.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { LockFile } from '../lib/index'
import { native } from '../lib/native'
import { collectGarbageUntil, isLinux, tempDir } from './helpers'

const dir = tempDir()
const fixture = join(__dirname, 'fixtures', 'memory-cycles.js')

function run (kind: 'lock' | 'lockfile', cycles: number): { growth: number, open: number } {
  const result = spawnSync(process.execPath, [fixture, join(dir, `${kind}.lock`), kind, String(cycles)], { encoding: 'utf8', timeout: 120_000 })
  assert.equal(result.status, 0, result.stderr)
  return JSON.parse(result.stdout.trim().split('\n').pop() as string) as { growth: number, open: number }
}

// About 330 bytes per cycle stayed behind when each open made a native object
// freed by a deferred finalizer: 200,000 cycles grew RSS by about 65 MB.
const BOUND = 24 * 1024 * 1024

describe('cycles that never yield stay flat', { skip: !isLinux }, () => {
  test('200,000 x new Lock() + await acquire() + release()', () => {
    const { growth, open } = run('lock', 200_000)
    assert.ok(growth < BOUND, `RSS grew by ${(growth / 1048576).toFixed(1)} MB`)
    assert.equal(open, 0, 'every open file closed and freed')
  })

  test('200,000 x LockFile.open + tryLock + unlock + close', () => {
    const { growth, open } = run('lockfile', 200_000)
    assert.ok(growth < BOUND, `RSS grew by ${(growth / 1048576).toFixed(1)} MB`)
    assert.equal(open, 0, 'every open file closed and freed')
  })
})

describe('the table of open files', () => {
  test('close() frees the entry at once', () => {
    const before = native.openCount()
    const files = Array.from({ length: 5 }, (_, i) => LockFile.open(join(dir, `table-${i}.lock`)))
    assert.equal(native.openCount(), before + 5)
    for (const file of files) file.close()
    assert.equal(native.openCount(), before)
  })

  // A finalizer closes a LockFile the program dropped without close(); if it
  // held a lock, that lock is gone, and only a warning can say so.
  const collectedWarningsDuring = async (body: () => Promise<void>): Promise<string[]> => {
    const seen: string[] = []
    const listener = (warning: Error & { code?: string }): void => {
      if (warning.code === 'LOCKSMITH_LOCKFILE_COLLECTED') seen.push(warning.message)
    }
    process.on('warning', listener)
    try {
      await body()
      await new Promise((resolve) => setImmediate(resolve)) // warnings are emitted on the next tick
    } finally {
      process.off('warning', listener)
    }
    return seen
  }

  test('a LockFile dropped while it holds a lock is closed once collected: the lock is released, and a warning says so', async () => {
    const path = join(dir, 'dropped-held.lock')
    const warnings = await collectedWarningsDuring(async () => {
      const before = native.openCount()
      ;(() => { assert.equal(LockFile.open(path).tryLock(), true) })()
      using probe = LockFile.open(path)
      assert.equal(probe.tryLock(), false, 'held by the dropped LockFile')
      assert.equal(await collectGarbageUntil(() => native.openCount() === before + 1), true, 'the dropped LockFile was closed')
      assert.equal(probe.tryLock(), true, 'its lock was released')
    })
    assert.equal(warnings.length, 1)
    assert.match(warnings[0] as string, /A LockFile of .*dropped-held\.lock was garbage-collected while it held a lock/)
  })

  test('a LockFile dropped without a lock is closed once collected, with no warning', async () => {
    const warnings = await collectedWarningsDuring(async () => {
      const before = native.openCount()
      ;(() => {
        const file = LockFile.open(join(dir, 'dropped-idle.lock'))
        assert.equal(file.tryLock(), true)
        file.unlock()
      })()
      assert.equal(await collectGarbageUntil(() => native.openCount() === before), true, 'the dropped LockFile was closed')
    })
    assert.deepEqual(warnings, [])
  })

  test('a borrowed descriptor\'s LockFile dropped while it holds a lock is only forgotten: the lock stays, with no warning', async () => {
    const path = join(dir, 'dropped-borrowed.lock')
    const fd = openSync(path, 'w')
    try {
      const warnings = await collectedWarningsDuring(async () => {
        const before = native.openCount()
        ;(() => { assert.equal(LockFile.fromFd(fd).tryLock(), true) })()
        assert.equal(await collectGarbageUntil(() => native.openCount() === before), true, 'the dropped LockFile was forgotten')
        using probe = LockFile.open(path)
        assert.equal(probe.tryLock(), false, 'the descriptor still holds its lock')
      })
      assert.deepEqual(warnings, [])
    } finally {
      closeSync(fd)
    }
  })
})
