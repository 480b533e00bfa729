// A worker terminated (or exiting by itself) at the moment the kernel grants its pending lock: the
// grant's delivery meets an environment that is shutting down. The process must
// survive (no C++ exception may escape into the runtime), and the grant must be
// given back: nothing held, no descriptor or waiter thread left.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { LockFile } from '../lib/index'
import { isLinux, tempDir } from './helpers'

const dir = tempDir()
const fixture = join(__dirname, 'fixtures', 'terminate-race.js')

describe('a worker ending as its lock is granted', { skip: !isLinux }, () => {
  const cases = [['flock', 80, 'terminate'], ['ofd', 80, 'terminate'], ['posix', 50, 'terminate'], ['flock', 40, 'exit']] as const
  for (const [backend, rounds, end] of cases) {
    const how = end === 'exit' ? 'process.exit() in the worker' : 'terminate()'
    test(`${backend}, ${how}: ${rounds} rounds, the process survives and nothing stays held`, () => {
      const path = join(dir, `${backend}-${end}.lock`)
      const result = spawnSync(process.execPath, [fixture, path, backend, String(rounds), end], { encoding: 'utf8', timeout: 60_000 })
      assert.equal(result.signal, null, `the process died by ${result.signal}: ${result.stderr}`)
      assert.equal(result.status, 0, result.stderr)
      const report = JSON.parse(result.stdout.trim().split('\n').pop() as string) as
        { rounds: number, free: boolean, fdsBefore: number, fdsAfter: number, threads: number }
      assert.equal(report.rounds, rounds)
      assert.equal(report.free, true, 'a grant given to a dying worker must be given back')
      assert.ok(report.fdsAfter <= report.fdsBefore, `descriptors: ${report.fdsBefore} before, ${report.fdsAfter} after`)
      assert.equal(report.threads, 0, 'no waiter thread left')
      // And from this process too, after the child is gone.
      using file = LockFile.open(path, { backend })
      assert.equal(file.tryLock(), true)
    })
  }
})
