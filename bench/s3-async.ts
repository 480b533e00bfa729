// Scenario 3: asynchronous uncontended acquire + release, the call a server
// makes: `await lock.acquire()` when nobody else holds the lock.
import { closeSync, constants, openSync } from 'node:fs'
import { join } from 'node:path'
import type * as locksmith from '../lib/index'
import type { LocksmithModule } from './compare'
import type { Context } from './context'
import { microScenario, withComparison, type MicroCase } from './micro'
import { peer } from './peers'
import type { ScenarioResult } from './results'

export async function scenario3 (context: Context): Promise<ScenarioResult> {
  const dir = context.dir('s3')
  const file = (name: string): string => join(dir, `${name}.lock`)
  const fds: number[] = []
  const open = (name: string): number => {
    const fd = openSync(file(name), constants.O_RDWR | constants.O_CREAT, 0o644)
    fds.push(fd)
    return fd
  }
  const files: locksmith.LockFile[] = []
  const unavailable = { status: 'unavailable', reason: 'does not load' } as const
  const ownCases = (lib: LocksmithModule, file: (name: string) => string): MicroCase[] => [
    {
      id: 'locksmith',
      label: 'locksmith await lock.acquire() + release()',
      async: true,
      setup: () => { const lock = new lib.Lock(file('locksmith')); return async () => { await lock.acquire(); lock.release() } }
    },
    {
      id: 'locksmith-lockfile',
      label: 'locksmith await lockFile.lock() + unlock() (open file)',
      async: true,
      setup: () => {
        const f = lib.LockFile.open(file('locksmith-lockfile'))
        files.push(f)
        return async () => { await f.lock(); f.unlock() }
      }
    }
  ]
  const cases = withComparison(context, file, ownCases, () => [
    {
      id: 'fs-native-extensions',
      label: 'fs-native-extensions await waitForLock() + unlock()',
      async: true,
      setup: () => {
        const library = peer('fs-native-extensions')
        if (library === undefined) return unavailable
        const fd = open('fse')
        return async () => { await library.waitForLock(fd); library.unlock(fd) }
      }
    },
    {
      id: 'os-lock',
      label: 'os-lock await lock() + await unlock()',
      async: true,
      setup: () => {
        const library = peer('os-lock')
        if (library === undefined) return unavailable
        const fd = open('os-lock')
        return async () => { await library.lock(fd, { exclusive: true }); await library.unlock(fd) }
      }
    },
    {
      id: 'fs-ext',
      label: 'fs-ext flock(ex, callback) + flockSync(un)',
      async: true,
      setup: () => {
        const library = peer('fs-ext')
        if (library === undefined) return unavailable
        const fd = open('fs-ext')
        const lock = (): Promise<void> => new Promise((resolve, reject) =>
          library.flock(fd, 'ex', (error) => error === null || error === undefined ? resolve() : reject(error)))
        return async () => { await lock(); library.flockSync(fd, 'un') }
      }
    }
  ])
  const result = await microScenario({
    id: 's3',
    title: 'asynchronous uncontended acquire + release',
    measures: 'one awaited acquire of a free lock and its release',
    label: '3 async acquire + release'
  }, cases, context.quick)
  for (const f of files) f.close()
  for (const fd of fds) closeSync(fd)
  return result
}
