// Scenario 1: try-lock + unlock on a file that is already open, uncontended,
// synchronous. The floor is two system calls (bench/baseline.c `try`).
import { closeSync, constants, openSync } from 'node:fs'
import { join } from 'node:path'
import * as locksmith from '../lib/index'
import type { LocksmithModule } from './compare'
import type { Context } from './context'
import { cCase, microScenario, withComparison, type MicroCase } from './micro'
import { peer } from './peers'
import type { ScenarioResult } from './results'

export async function scenario1 (context: Context): Promise<ScenarioResult> {
  const dir = context.dir('s1')
  const file = (name: string): string => join(dir, `${name}.lock`)
  const fds: number[] = []
  const files: locksmith.LockFile[] = []
  const open = (name: string): number => {
    const fd = openSync(file(name), constants.O_RDWR | constants.O_CREAT, 0o644)
    fds.push(fd)
    return fd
  }
  const ownCases = (lib: LocksmithModule, file: (name: string) => string): MicroCase[] => {
    const lockFile = (name: string, backend: 'flock' | 'ofd'): locksmith.LockFile => {
      const f = lib.LockFile.open(file(name), { backend })
      files.push(f)
      return f
    }
    return [
      {
        id: 'locksmith',
        label: 'locksmith LockFile (flock)',
        setup: () => { const f = lockFile('locksmith', 'flock'); return () => { f.tryLock(); f.unlock() } }
      },
      {
        id: 'locksmith-ofd',
        label: 'locksmith LockFile (ofd)',
        setup: () => { const f = lockFile('locksmith-ofd', 'ofd'); return () => { f.tryLock(); f.unlock() } }
      }
    ]
  }
  const cases = withComparison(context, file, ownCases, () => [
    {
      id: 'fs-native-extensions',
      label: 'fs-native-extensions tryLock/unlock (ofd)',
      setup: () => {
        const library = peer('fs-native-extensions')
        if (library === undefined) return { status: 'unavailable', reason: 'does not load' }
        const fd = open('fse')
        return () => { library.tryLock(fd); library.unlock(fd) }
      }
    },
    {
      id: 'fs-ext',
      label: 'fs-ext flockSync exnb/un (flock)',
      setup: () => {
        const library = peer('fs-ext')
        if (library === undefined) return { status: 'unavailable', reason: 'does not load' }
        const fd = open('fs-ext')
        return () => { library.flockSync(fd, 'exnb'); library.flockSync(fd, 'un') }
      }
    },
    {
      id: 'os-lock',
      label: 'os-lock',
      setup: () => ({ status: 'unsupported', reason: 'no synchronous API: lock() and unlock() go through the libuv thread pool (see scenario 3)' })
    },
    cCase(context.baseline, 'c-flock', 'C flock(LOCK_EX|LOCK_NB) + flock(LOCK_UN)', (batches, batch) => ['try', 'flock', file('c-flock'), String(batches), String(batch)]),
    cCase(context.baseline, 'c-ofd', 'C fcntl(F_OFD_SETLK) lock + unlock', (batches, batch) => ['try', 'ofd', file('c-ofd'), String(batches), String(batch)])
  ])
  const result = await microScenario({
    id: 's1',
    title: 'try-lock + unlock on an open file (sync, uncontended)',
    measures: 'one non-blocking exclusive lock and one unlock on a descriptor opened beforehand',
    label: '1 try-lock + unlock'
  }, cases, context.quick)
  for (const f of files) f.close()
  for (const fd of fds) closeSync(fd)
  return result
}
