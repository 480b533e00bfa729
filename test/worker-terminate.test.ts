// A worker terminated at the moment the kernel grants its pending lock: the
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

describe('worker.terminate() racing a grant', { skip: !isLinux }, () => {
  for (const [backend, rounds] of [['flock', 80], ['ofd', 80], ['posix', 50]] as const) {
    test(`${backend}: ${rounds} rounds, the process survives and nothing stays held`, () => {
      const path = join(dir, `${backend}.lock`)
      const result = spawnSync(process.execPath, [fixture, path, backend, String(rounds)], { encoding: 'utf8', timeout: 60_000 })
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
