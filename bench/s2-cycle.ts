// Scenario 2: the full cycle a short critical section pays: open (creating the
// file if needed) + lock + unlock + close, each library in its natural usage.
import { closeSync, constants, openSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { LocksmithModule } from './compare'
import type { Context } from './context'
import { cCase, microScenario, withComparison, type MicroCase } from './micro'
import { peer } from './peers'
import type { ScenarioResult } from './results'

const FLAGS = constants.O_RDWR | constants.O_CREAT

export async function scenario2 (context: Context): Promise<ScenarioResult> {
  const dir = context.dir('s2')
  const file = (name: string): string => join(dir, `${name}.lock`)
  const unavailable = { status: 'unavailable', reason: 'does not load' } as const
  const ownCases = (lib: LocksmithModule, file: (name: string) => string): MicroCase[] => [
    {
      id: 'locksmith',
      label: 'locksmith Lock tryAcquire/release',
      note: 'the Lock opens its descriptor on acquire and closes it when released',
      setup: () => { const lock = new lib.Lock(file('locksmith')); return () => { lock.tryAcquire(); lock.release() } }
    },
    {
      id: 'locksmith-new',
      label: 'locksmith new Lock() + tryAcquire/release',
      setup: () => { const path = file('locksmith-new'); return () => { const lock = new lib.Lock(path); lock.tryAcquire(); lock.release() } }
    },
    {
      id: 'locksmith-lockfile',
      label: 'locksmith LockFile.open + tryLock + close',
      setup: () => { const path = file('locksmith-lockfile'); return () => { const f = lib.LockFile.open(path); f.tryLock(); f.close() } }
    },
    {
      id: 'locksmith-async',
      label: 'locksmith await Lock.acquire() + release',
      async: true,
      setup: () => { const lock = new lib.Lock(file('locksmith-async')); return async () => { await lock.acquire(); lock.release() } }
    }
  ]
  const cases = withComparison(context, file, ownCases, () => [
    {
      id: 'fs-native-extensions',
      label: 'fs-native-extensions open + tryLock + unlock + close',
      setup: () => {
        const library = peer('fs-native-extensions')
        if (library === undefined) return unavailable
        const path = file('fse')
        return () => { const fd = openSync(path, FLAGS, 0o644); library.tryLock(fd); library.unlock(fd); closeSync(fd) }
      }
    },
    {
      id: 'fs-ext',
      label: 'fs-ext open + flockSync exnb/un + close',
      setup: () => {
        const library = peer('fs-ext')
        if (library === undefined) return unavailable
        const path = file('fs-ext')
        return () => { const fd = openSync(path, FLAGS, 0o644); library.flockSync(fd, 'exnb'); library.flockSync(fd, 'un'); closeSync(fd) }
      }
    },
    {
      id: 'os-lock',
      label: 'os-lock open + await lock(immediate)/unlock + close',
      async: true,
      setup: () => {
        const library = peer('os-lock')
        if (library === undefined) return unavailable
        const path = file('os-lock')
        return async () => {
          const fd = openSync(path, FLAGS, 0o644)
          await library.lock(fd, { exclusive: true, immediate: true })
          await library.unlock(fd)
          closeSync(fd)
        }
      }
    },
    {
      id: 'proper-lockfile-sync',
      label: 'proper-lockfile lockSync() + release()',
      setup: () => {
        const library = peer('proper-lockfile')
        if (library === undefined) return unavailable
        const path = file('proper-sync')
        closeSync(openSync(path, FLAGS, 0o644))
        return () => { library.lockSync(path)() }
      }
    },
    {
      id: 'proper-lockfile',
      label: 'proper-lockfile await lock() + release()',
      async: true,
      setup: () => {
        const library = peer('proper-lockfile')
        if (library === undefined) return unavailable
        const path = file('proper')
        closeSync(openSync(path, FLAGS, 0o644))
        return async () => { const release = await library.lock(path); await release() }
      }
    },
    {
      id: 'lockfile-sync',
      label: 'lockfile lockSync() + unlockSync()',
      setup: () => {
        const library = peer('lockfile')
        if (library === undefined) return unavailable
        const path = file('lockfile-sync')
        return () => { library.lockSync(path); library.unlockSync(path) }
      }
    },
    {
      id: 'lockfile',
      label: 'lockfile lock() + unlock() (callbacks)',
      async: true,
      setup: () => {
        const library = peer('lockfile')
        if (library === undefined) return unavailable
        const path = file('lockfile')
        const lock = promisify((callback: (error: Error | null) => void) => library.lock(path, {}, callback))
        const unlock = promisify((callback: (error: Error | null) => void) => library.unlock(path, callback))
        return async () => { await lock(); await unlock() }
      }
    },
    cCase(context.baseline, 'c-flock', 'C open + flock + flock(LOCK_UN) + close', (batches, batch) => ['cycle', 'flock', file('c-flock'), String(batches), String(batch)]),
    {
      ...cCase(context.baseline, 'c-flock-checked', 'C open + flock + fstat + stat + close', (batches, batch) => ['checked', 'flock', file('c-checked'), String(batches), String(batch)]),
      note: 'the system calls of a Lock: open, lock, the check that the path still names the locked file, and a close that gives the lock back'
    }
  ])
  const result = await microScenario({
    id: 's2',
    title: 'full cycle: open/create + lock + unlock + close',
    measures: 'one uncontended lock and release of a file by path, including opening and closing it',
    label: '2 open + lock + unlock + close'
  }, cases, context.quick)
  return result
}
