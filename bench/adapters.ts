// Every contender that can wait for a lock, in its natural usage: how a user of
// that library takes the lock, waits for it and gives it back. The processes of
// the hand-off, throughput and many-waiters scenarios drive these.
import { closeSync, constants, openSync } from 'node:fs'
import { promisify } from 'node:util'
import * as locksmith from '../lib/index'
import { REF_SUFFIX, refLib, type LocksmithModule } from './compare'
import { peer, type PeerName } from './peers'

export interface Handle {
  /** Waits until this handle holds the lock. */
  acquire (): Promise<void>
  release (): void | Promise<void>
  close (): void
}

export interface Contender {
  id: string
  label: string
  /** The library it needs (undefined for locksmith). */
  peer?: PeerName
  /** How it waits, for the tables. */
  waits: string
  /** The lock kind a C process must take to conflict with it (for holders), if it uses a kernel lock. */
  kernelKind?: 'flock' | 'ofd' | 'posix'
  /** Prepares one independent lock on `path` (its own descriptor, its own object). */
  create (path: string): Handle
}

const LOCK_FILE_FLAGS = constants.O_RDWR | constants.O_CREAT

function descriptorHandle (path: string, acquire: (fd: number) => Promise<void>, release: (fd: number) => void | Promise<void>): Handle {
  const fd = openSync(path, LOCK_FILE_FLAGS, 0o644)
  return {
    acquire: () => acquire(fd),
    release: () => release(fd),
    close: () => closeSync(fd)
  }
}

function required<N extends PeerName> (name: N): NonNullable<ReturnType<typeof peer<N>>> {
  const module = peer(name)
  if (module === undefined) throw new Error(`${name} is not available`)
  return module
}

/** proper-lockfile's `retries` with the `retry` package's documented defaults: 1 s, then doubling. */
const PROPER_LOCKFILE_DOCUMENTED = { forever: true }
const PROPER_LOCKFILE_FAST = { forever: true, minTimeout: 10, maxTimeout: 10 }
/** A wait long enough never to run out during a benchmark. */
const LOCKFILE_FOREVER = 1e9

function properLockfile (retries: object): (path: string) => Handle {
  return (path) => {
    const library = required('proper-lockfile')
    closeSync(openSync(path, LOCK_FILE_FLAGS, 0o644)) // realpath (the default) needs the file to exist
    let release: (() => Promise<void>) | undefined
    return {
      acquire: async () => { release = await library.lock(path, { retries }) },
      release: async () => {
        const done = release
        release = undefined
        await done?.()
      },
      close: () => {}
    }
  }
}

function lockfile (pollPeriod: number | undefined): (path: string) => Handle {
  return (path) => {
    const library = required('lockfile')
    const target = `${path}.lock`
    const lock = promisify((callback: (error: Error | null) => void) =>
      library.lock(target, pollPeriod === undefined ? { wait: LOCKFILE_FOREVER } : { wait: LOCKFILE_FOREVER, pollPeriod }, callback))
    return {
      acquire: () => lock(),
      release: () => library.unlockSync(target),
      close: () => {}
    }
  }
}

/** locksmith as the README recommends it: a Lock per path, `await acquire()`, `release()`. */
function locksmithContender (lib: LocksmithModule, id: string, label: string): Contender {
  return {
    id,
    label,
    waits: 'native thread (one per path), kernel wake-up',
    kernelKind: 'flock',
    create (path) {
      const lock = new lib.Lock(path)
      return {
        acquire: async () => { await lock.acquire() },
        release: () => { lock.release() },
        close: () => { lock.release() }
      }
    }
  }
}

/** The other build of a --compare run (loaded only when asked for). */
export function refContender (label: string): Contender {
  return locksmithContender(refLib(), `locksmith${REF_SUFFIX}`, label)
}

export const CONTENDERS: Contender[] = [
  locksmithContender(locksmith, 'locksmith', 'locksmith'),
  {
    id: 'fs-native-extensions',
    label: 'fs-native-extensions',
    peer: 'fs-native-extensions',
    waits: 'a new native thread per wait',
    kernelKind: 'ofd',
    create (path) {
      const library = required('fs-native-extensions')
      return descriptorHandle(path, (fd) => library.waitForLock(fd), (fd) => library.unlock(fd))
    }
  },
  {
    id: 'os-lock',
    label: 'os-lock',
    peer: 'os-lock',
    waits: 'libuv thread pool (blocking fcntl)',
    kernelKind: 'posix',
    create (path) {
      const library = required('os-lock')
      return descriptorHandle(path, (fd) => library.lock(fd, { exclusive: true }), (fd) => library.unlock(fd))
    }
  },
  {
    id: 'fs-ext',
    label: 'fs-ext',
    peer: 'fs-ext',
    waits: 'libuv thread pool (blocking flock)',
    kernelKind: 'flock',
    create (path) {
      const library = required('fs-ext')
      const flock = (fd: number): Promise<void> => new Promise((resolve, reject) =>
        library.flock(fd, 'ex', (error) => error === null || error === undefined ? resolve() : reject(error)))
      return descriptorHandle(path, flock, (fd) => library.flockSync(fd, 'un'))
    }
  },
  {
    id: 'proper-lockfile',
    label: 'proper-lockfile (retries: documented backoff, 1 s doubling)',
    peer: 'proper-lockfile',
    waits: 'polls mkdir with backoff 1 s, 2 s, 4 s…',
    create: properLockfile(PROPER_LOCKFILE_DOCUMENTED)
  },
  {
    id: 'proper-lockfile-10ms',
    label: 'proper-lockfile (retries every 10 ms)',
    peer: 'proper-lockfile',
    waits: 'polls mkdir every 10 ms',
    create: properLockfile(PROPER_LOCKFILE_FAST)
  },
  {
    id: 'lockfile',
    label: 'lockfile (wait, pollPeriod 100 ms default)',
    peer: 'lockfile',
    waits: 'polls open(O_EXCL) every 100 ms',
    create: lockfile(undefined)
  },
  {
    id: 'lockfile-10ms',
    label: 'lockfile (wait, pollPeriod 10 ms)',
    peer: 'lockfile',
    waits: 'polls open(O_EXCL) every 10 ms',
    create: lockfile(10)
  }
]

export function contender (id: string): Contender {
  if (id === `locksmith${REF_SUFFIX}`) return refContender(id)
  const found = CONTENDERS.find((c) => c.id === id)
  if (found === undefined) throw new Error(`unknown contender ${id}`)
  return found
}

/** The poll period that sets a poller's hand-off latency (0 for kernel waits). */
export function pollPeriodMs (id: string): number {
  switch (id) {
    case 'proper-lockfile': return 1000
    case 'lockfile': return 100
    case 'proper-lockfile-10ms':
    case 'lockfile-10ms': return 10
    default: return 0
  }
}
