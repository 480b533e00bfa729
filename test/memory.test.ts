// Lock cycles in a loop that never yields to the event loop run in flat memory:
// nothing native is left for a finalizer that only runs when the loop turns.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { LockFile } from '../lib/index'
import { native } from '../lib/native'
import { isLinux, tempDir } from './helpers'

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

  test('a LockFile dropped without close() is closed once collected', { skip: global.gc === undefined && 'needs --expose-gc' }, async () => {
    const before = native.openCount()
    ;(() => { LockFile.open(join(dir, 'dropped.lock')).tryLock() })()
    assert.equal(native.openCount(), before + 1)
    for (let i = 0; i < 20 && native.openCount() > before; i++) {
      global.gc?.()
      await new Promise((resolve) => setImmediate(resolve))
    }
    assert.equal(native.openCount(), before)
  })
})
