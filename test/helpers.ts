// Shared test utilities: temporary directories, a forked lock holder driven
// over IPC, and /proc counters for leak checks.
import { fork, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir as osTmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

export const isLinux = process.platform === 'linux'

/** A fresh temporary directory, removed when the process exits. */
export function tempDir (prefix = 'locksmith-test-'): string {
  const dir = mkdtempSync(join(osTmpdir(), prefix))
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export interface HolderReply { event: string, [key: string]: unknown }

/**
 * A child process that takes locks on command (test/fixtures/holder.ts). It
 * holds them on a live event loop until told otherwise or killed.
 */
export class Holder {
  readonly child: ChildProcess
  readonly #replies: HolderReply[] = []
  readonly #waiting: Array<(reply: HolderReply) => void> = []

  /** Starts a holder process and waits until it is ready for commands. */
  static async start (env: NodeJS.ProcessEnv = {}): Promise<Holder> {
    const holder = new Holder(env)
    const first = await holder.next()
    if (first.event !== 'ready') throw new Error(`holder did not start: ${JSON.stringify(first)}`)
    return holder
  }

  private constructor (env: NodeJS.ProcessEnv) {
    this.child = fork(join(__dirname, 'fixtures', 'holder.js'), [], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    this.child.on('message', (reply: HolderReply) => {
      const next = this.#waiting.shift()
      if (next !== undefined) next(reply)
      else this.#replies.push(reply)
    })
  }

  /** Sends a command and waits for the child's next reply. */
  async send (message: Record<string, unknown>): Promise<HolderReply> {
    const reply = this.next()
    this.child.send(message)
    return await reply
  }

  /** Sends a command without waiting for its reply (collect it later with next()). */
  post (message: Record<string, unknown>): void {
    this.child.send(message)
  }

  next (): Promise<HolderReply> {
    const queued = this.#replies.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    return new Promise((resolve) => this.#waiting.push(resolve))
  }

  async kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = once(this.child, 'exit')
    this.child.kill(signal)
    await exited
  }
}

/** Whether util-linux flock(1) can take the lock right now (flock(2) semantics). */
export function flockCommandCanLock (path: string, shared = false): boolean {
  const result = spawnSync('flock', [shared ? '-s' : '-x', '-n', '-E', '99', path, 'true'])
  if (result.status === 99) return false
  if (result.status === 0) return true
  throw new Error(`flock(1) failed: ${result.status} ${result.stderr?.toString()}`)
}

/** Whether a Python fcntl lock of the given kind can be had right now (from another process). */
export function pythonCanLock (path: string, kind: 'lockf' | 'ofd', shared = false, start = 0, length = 0): boolean {
  const script = kind === 'lockf'
    ? `import fcntl,sys\nf=open(sys.argv[1],'a+')\ntry:\n  fcntl.lockf(f, (fcntl.LOCK_SH if sys.argv[2]=='1' else fcntl.LOCK_EX)|fcntl.LOCK_NB, int(sys.argv[4]), int(sys.argv[3]))\nexcept OSError:\n  sys.exit(99)\n`
    : `import fcntl,struct,sys,os\nf=open(sys.argv[1],'a+')\nt=fcntl.F_RDLCK if sys.argv[2]=='1' else fcntl.F_WRLCK\narg=struct.pack('hhqqi', t, 0, int(sys.argv[3]), int(sys.argv[4]), 0)\ntry:\n  fcntl.fcntl(f, 37, arg)\nexcept OSError:\n  sys.exit(99)\n`
  const result = spawnSync('python3', ['-c', script, path, shared ? '1' : '0', String(start), String(length)])
  if (result.status === 99) return false
  if (result.status === 0) return true
  throw new Error(`python3 failed: ${result.status} ${result.stderr?.toString()}`)
}

/** This process's open descriptors; with `under`, only those of files in that directory. */
export function openFdCount (under?: string): number {
  const fds = readdirSync('/proc/self/fd')
  if (under === undefined) return fds.length
  const dir = realpathSync(under)
  return fds.filter((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`)
      return target === dir || target.startsWith(dir + '/')
    } catch {
      return false // closed since the listing (the listing's own descriptor)
    }
  }).length
}

/**
 * locksmith's native waiter threads in this process, not Node's own: those
 * waiting now ("locksmith-wait"), or those kept idle for the next wait ("locksmith-idle").
 */
export function waiterThreadCount (state: 'waiting' | 'idle' = 'waiting'): number {
  const name = state === 'waiting' ? 'locksmith-wait' : 'locksmith-idle'
  let count = 0
  for (const task of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim() === name) count++
    } catch {
      // the thread ended while we looked
    }
  }
  return count
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The waiter-thread count once it equals `expected`, or whatever it is after `withinMs`.
 * A thread already joined can stay listed in /proc/self/task for a moment while the
 * kernel finishes its exit, so a count taken right after a join may still include it.
 */
export async function waiterThreadCountSettled (expected: number, withinMs = 2000): Promise<number> {
  const deadline = performance.now() + withinMs
  let count = waiterThreadCount()
  while (count !== expected && performance.now() < deadline) {
    await sleep(5)
    count = waiterThreadCount()
  }
  return count
}

/** A program nobody here wrote, holding a lock until killed. It prints "locked" once it holds it. */
export interface ExternalHolder { kill: () => Promise<void> }

export async function holdWith (command: string, args: string[]): Promise<ExternalHolder> {
  const { spawn } = await import('node:child_process')
  // Its own process group, so killing it also kills a child that inherited the lock.
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true })
  await new Promise<void>((resolve, reject) => {
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('locked')) resolve()
    })
    child.on('exit', (code) => reject(new Error(`${command} exited with ${code} before locking`)))
  })
  return {
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      process.kill(-(child.pid as number), 'SIGKILL')
      await exited
    }
  }
}

/** util-linux flock(1) holding the file (flock(2) semantics). */
export function holdWithFlockCommand (path: string, shared = false): Promise<ExternalHolder> {
  return holdWith('flock', [shared ? '-s' : '-x', path, '-c', 'echo locked; exec sleep 60'])
}

/** Python holding a classic POSIX lock (lockf) or an OFD lock (fcntl 37/38) on a byte range. */
export function holdWithPython (path: string, kind: 'lockf' | 'ofd', shared = false, start = 0, length = 0): Promise<ExternalHolder> {
  const script = kind === 'lockf'
    ? 'import fcntl,sys,time\nf=open(sys.argv[1],"a+")\nfcntl.lockf(f, fcntl.LOCK_SH if sys.argv[2]=="1" else fcntl.LOCK_EX, int(sys.argv[4]), int(sys.argv[3]))\nprint("locked", flush=True)\ntime.sleep(60)\n'
    : 'import fcntl,struct,sys,time\nf=open(sys.argv[1],"a+")\nt=fcntl.F_RDLCK if sys.argv[2]=="1" else fcntl.F_WRLCK\nfcntl.fcntl(f, 38, struct.pack("hhqqi", t, 0, int(sys.argv[3]), int(sys.argv[4]), 0))\nprint("locked", flush=True)\ntime.sleep(60)\n'
  return holdWith('python3', ['-c', script, path, shared ? '1' : '0', String(start), String(length)])
}

/** Polls `probe` every 25 ms until it gives a value (for conditions in another process that nothing announces). */
export async function waitFor<T> (probe: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/**
 * Runs the garbage collector, letting finalizers run between rounds, until
 * `done()` or 20 rounds. No --expose-gc needed: V8 gives `gc` to contexts
 * made after the flag is set.
 */
export async function collectGarbageUntil (done: () => boolean): Promise<boolean> {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  for (let round = 0; round < 20 && !done(); round++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return done()
}
