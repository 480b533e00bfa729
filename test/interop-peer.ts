// The Python side of the interoperability tests: a long-lived Python process
// (test/fixtures/interop/peer.py) that takes locks with the real libraries
// (oslo.concurrency, fasteners, filelock, tooz; flock as cli2 uses it) on command.
// One process serves a whole test file, since Python and oslo's imports take
// from 0.1 to 2 seconds to start.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

/** The peer script, read from the source tree (tests run from dist/test). */
const PEER = join(__dirname, '..', '..', 'test', 'fixtures', 'interop', 'peer.py')

export interface PeerEvent { id: number, event: string, error?: string, [key: string]: unknown }

/**
 * The interpreter that has the Debian packages: python3-oslo.concurrency and
 * friends install into /usr/lib/python3/dist-packages, which a python3 found
 * first on PATH (pyenv, a virtualenv) may not see. LOCKSMITH_TEST_PYTHON wins.
 */
function interpreters (): string[] {
  const chosen = process.env.LOCKSMITH_TEST_PYTHON
  if (chosen !== undefined && chosen !== '') return [chosen]
  return [...(existsSync('/usr/bin/python3') ? ['/usr/bin/python3'] : []), 'python3']
}

const DEBIAN_PACKAGES: Record<string, string> = {
  oslo_concurrency: 'python3-oslo.concurrency',
  fasteners: 'python3-fasteners',
  filelock: 'python3-filelock',
  tooz: 'python3-tooz',
  redis: 'python3-redis',
  psycopg2: 'python3-psycopg2',
  etcd3gw: 'python3-etcd3gw'
}

const found = new Map<string, { python: string } | { missing: string }>()

/**
 * An interpreter that can import every module, or why there is none (a
 * message for `skip`). Finding a module does not import it (oslo's imports
 * alone take a second or two): the peer imports it when first used.
 */
export function pythonWith (modules: string[]): { python: string } | { missing: string } {
  const key = modules.join(',')
  const known = found.get(key)
  if (known !== undefined) return known
  let result: { python: string } | { missing: string } = { missing: 'no python3 interpreter' }
  if (process.platform === 'win32') {
    result = { missing: 'the Python peers lock with fcntl (POSIX only)' }
  } else {
    for (const python of interpreters()) {
      const probe = spawnSync(python, ['-c', 'import importlib.util,sys\nprint(" ".join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))', ...modules], { encoding: 'utf8' })
      if (probe.status !== 0) continue
      const absent = probe.stdout.trim()
      if (absent === '') {
        result = { python }
        break
      }
      const packages = absent.split(' ').map((m) => DEBIAN_PACKAGES[m] ?? m)
      result = { missing: `${python} cannot import ${absent.split(' ').join(', ')} (apt-get install ${packages.join(' ')})` }
    }
  }
  found.set(key, result)
  return result
}

/** The reason to skip (a string) or false. */
export function skipUnless (modules: string[]): string | false {
  const found = pythonWith(modules)
  return 'missing' in found ? found.missing : false
}

export class PythonPeer {
  readonly child: ChildProcessWithoutNullStreams
  readonly #events: PeerEvent[] = []
  readonly #listeners = new Set<() => void>()
  #nextId = 1
  #stderr = ''
  #exited = false

  static async start (modules: string[]): Promise<PythonPeer> {
    const found = pythonWith(modules)
    if ('missing' in found) throw new Error(found.missing)
    const peer = new PythonPeer(found.python)
    await peer.waitFor(0, ['ready'])
    return peer
  }

  private constructor (python: string) {
    // -u: unbuffered; -B: no __pycache__ in the source tree.
    this.child = spawn(python, ['-u', '-B', PEER], { stdio: ['pipe', 'pipe', 'pipe'] })
    let buffered = ''
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk
      let newline: number
      while ((newline = buffered.indexOf('\n')) >= 0) {
        this.#events.push(JSON.parse(buffered.slice(0, newline)) as PeerEvent)
        buffered = buffered.slice(newline + 1)
      }
      this.#notify()
    })
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => { this.#stderr += chunk })
    this.child.on('exit', () => { this.#exited = true; this.#notify() })
    // A peer left running (a failed hook) must not keep the test process alive.
    this.child.unref()
    for (const stream of [this.child.stdin, this.child.stdout, this.child.stderr]) (stream as unknown as { unref?: () => void }).unref?.()
  }

  get pid (): number { return this.child.pid as number }

  #notify (): void {
    for (const listener of [...this.#listeners]) listener()
  }

  /** Sends a command; returns its id (events about it carry the same id). */
  send (op: string, fields: Record<string, unknown> = {}): number {
    const id = this.#nextId++
    this.child.stdin.write(JSON.stringify({ ...fields, op, id }) + '\n')
    return id
  }

  /** The events seen so far about a command. */
  events (id: number): string[] {
    return this.#events.filter((e) => e.id === id).map((e) => e.event)
  }

  /**
   * The first event about `id` among `names` (an 'error' event throws), once
   * it has arrived; rejects after `timeoutMs`.
   */
  async waitFor (id: number, names: string[], timeoutMs = 15000): Promise<PeerEvent> {
    return await new Promise((resolve, reject) => {
      const check = (): void => {
        const event = this.#events.find((e) => e.id === id && (names.includes(e.event) || e.event === 'error'))
        if (event !== undefined) {
          done()
          if (event.event === 'error') reject(new Error(`python: ${event.error ?? ''}`))
          else resolve(event)
        } else if (this.#exited) {
          done()
          reject(new Error(`the Python peer exited: ${this.#stderr}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`no ${names.join('/')} from Python for command ${id} within ${timeoutMs} ms (events: ${this.events(id).join(', ') || 'none'}) ${this.#stderr}`))
      }, timeoutMs)
      const done = (): void => {
        clearTimeout(timer)
        this.#listeners.delete(check)
      }
      this.#listeners.add(check)
      check()
    })
  }

  /** Sends a command and waits for its first outcome. */
  async request (op: string, fields: Record<string, unknown> = {}, outcomes = ['done']): Promise<PeerEvent> {
    return await this.waitFor(this.send(op, fields), outcomes)
  }

  /** Takes a lock (op: oslo, oslo_synchronized, rw, filelock, cli2, tooz): 'acquired' or 'busy'. */
  async take (op: string, fields: Record<string, unknown>): Promise<{ id: number, event: string }> {
    const id = this.send(op, fields)
    const { event } = await this.waitFor(id, ['acquired', 'busy'])
    return { id, event }
  }

  /** Starts a blocking acquire and returns its id without waiting. */
  start (op: string, fields: Record<string, unknown>): number {
    return this.send(op, { ...fields, blocking: true })
  }

  /** Gives back what command `of` holds; resolves once it is released. */
  async release (of: number): Promise<void> {
    this.send('release', { of })
    await this.waitFor(of, ['released'])
  }

  async close (): Promise<void> {
    if (this.#exited) return
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    this.child.ref() // so that the exit is waited for
    this.child.kill('SIGKILL')
    await exited
  }
}

/** Whether `promise` is still pending after `ms` milliseconds. */
export async function stillPending (promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false
  promise.then(() => { settled = true }, () => { settled = true })
  await new Promise((resolve) => setTimeout(resolve, ms))
  return !settled
}
