// Real Redis and PostgreSQL servers for the coordination tests: each on a free
// loopback port with a temporary data directory, stopped (and the directory
// removed) afterwards, and killable/restartable for fault tests. PostgreSQL
// refuses to run as root, so as root it runs as the `postgres` user.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'

const running = new Set<{ emergencyStop: () => void }>()
process.on('exit', () => { for (const server of running) server.emergencyStop() })

export function findExecutable (name: string, extraDirs: string[] = []): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...extraDirs]) {
    if (dir === '') continue
    const candidate = join(dir, name)
    if (existsSync(candidate)) return candidate
  }
  return undefined
}

/** Debian keeps PostgreSQL's server programs in /usr/lib/postgresql/<major>/bin; newest first. */
function postgresBinDirs (): string[] {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return []
  return readdirSync(root).sort((a, b) => Number(b) - Number(a)).map((major) => join(root, major, 'bin'))
}

export interface ServerCheck {
  /** A reason to skip, or false to run. In CI (CI=true) a missing server is never a skip: the tests fail instead. */
  skip: string | false
}

export function redisCheck (): ServerCheck {
  if (findExecutable('redis-server') !== undefined || process.env.CI === 'true') return { skip: false }
  return { skip: 'redis-server is not installed (Debian: apt-get install redis-server)' }
}

export function postgresCheck (): ServerCheck {
  const found = findExecutable('initdb', postgresBinDirs()) !== undefined
  if (process.env.CI === 'true') return { skip: false }
  if (!found) return { skip: 'PostgreSQL server programs are not installed (Debian: apt-get install postgresql)' }
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0) {
    return { skip: 'running as root and there is no postgres user to run the server as' }
  }
  return { skip: false }
}

export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  await once(server, 'close')
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** Resolves once `text` appears in the child's output; rejects if it exits first or time runs out. */
function waitForOutput (child: ChildProcess, text: string, timeout: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = ''
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      if (output.includes(text)) done()
    }
    const onExit = (code: number | null): void => finish(new Error(`${what} exited (${String(code)}) before it was ready:\n${output}`))
    const timer = setTimeout(() => finish(new Error(`${what} not ready after ${timeout} ms:\n${output}`)), timeout)
    const finish = (error?: Error): void => {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.stderr?.off('data', onData)
      child.off('exit', onExit)
      if (error === undefined) resolve()
      else reject(error)
    }
    const done = (): void => finish()
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.on('exit', onExit)
  })
}

async function waitExit (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await once(child, 'exit')
}

export interface RedisServerOptions {
  /** Append-only file with fsync on every write: data survives a kill. */
  appendonly?: boolean
}

export class RedisServer {
  readonly port: number
  readonly dir: string
  readonly url: string
  readonly #args: string[]
  readonly #binary: string
  #child: ChildProcess | undefined
  readonly #entry = { emergencyStop: (): void => { this.#child?.kill('SIGKILL'); rmSync(this.dir, { recursive: true, force: true }) } }

  static async start (options: RedisServerOptions = {}): Promise<RedisServer> {
    const binary = findExecutable('redis-server')
    if (binary === undefined) throw new Error('redis-server not found on PATH')
    const server = new RedisServer(binary, await freePort(), options)
    running.add(server.#entry)
    await server.#spawn()
    return server
  }

  private constructor (binary: string, port: number, options: RedisServerOptions) {
    this.#binary = binary
    this.port = port
    this.dir = mkdtempSync(join(tmpdir(), 'locksmith-redis-'))
    this.url = `redis://127.0.0.1:${port}/0`
    this.#args = [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '',
      '--appendonly', options.appendonly === true ? 'yes' : 'no', '--appendfsync', 'always',
      '--daemonize', 'no', '--protected-mode', 'no', '--logfile', '',
      // Expiry and deletion events, so waiters learn of a lease running out without polling.
      '--notify-keyspace-events', 'Kgx'
    ]
  }

  get pid (): number | undefined { return this.#child?.pid }

  async #spawn (): Promise<void> {
    const child = spawn(this.#binary, this.#args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    await waitForOutput(child, 'Ready to accept connections', 10_000, 'redis-server')
    child.stdout?.resume()
    child.stderr?.resume()
  }

  /** Kills the server (SIGKILL by default: no shutdown, no save). */
  async kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    child.kill(signal)
    await waitExit(child)
    this.#child = undefined
  }

  /** Starts it again on the same port and directory. */
  async restart (): Promise<void> {
    await this.kill()
    await this.#spawn()
  }

  async stop (): Promise<void> {
    await this.kill()
    running.delete(this.#entry)
    rmSync(this.dir, { recursive: true, force: true })
  }
}

export class PostgresServer {
  readonly port: number
  readonly dir: string
  readonly url: string
  readonly #bin: string
  #child: ChildProcess | undefined
  readonly #entry = { emergencyStop: (): void => { this.#signalPostmaster('SIGQUIT'); rmSync(this.dir, { recursive: true, force: true }) } }

  static async start (): Promise<PostgresServer> {
    const initdb = findExecutable('initdb', postgresBinDirs())
    if (initdb === undefined) throw new Error('initdb not found (PATH, /usr/lib/postgresql/*/bin)')
    const server = new PostgresServer(join(initdb, '..'), await freePort())
    running.add(server.#entry)
    server.#run('initdb', ['-D', server.#data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--no-instructions'])
    await server.#spawn()
    return server
  }

  private constructor (bin: string, port: number) {
    this.#bin = bin
    this.port = port
    this.dir = mkdtempSync(join(tmpdir(), 'locksmith-pg-'))
    if (process.getuid?.() === 0) {
      const id = (flag: string): number => Number(spawnSync('id', [flag, 'postgres']).stdout.toString().trim())
      chownSync(this.dir, id('-u'), id('-g'))
    }
    this.url = `postgresql://postgres@127.0.0.1:${port}/postgres`
  }

  get #data (): string { return join(this.dir, 'data') }

  /** A command as the user that may run PostgreSQL (root hands over to `postgres`). */
  #command (program: string, args: string[]): [string, string[]] {
    const path = join(this.#bin, program)
    if (process.getuid?.() === 0) return ['runuser', ['-u', 'postgres', '--', path, ...args]]
    return [path, args]
  }

  #run (program: string, args: string[]): void {
    const [command, argv] = this.#command(program, args)
    const result = spawnSync(command, argv, { encoding: 'utf8' })
    if (result.status !== 0) throw new Error(`${program} failed (${String(result.status)}): ${result.stderr}`)
  }

  async #spawn (): Promise<void> {
    const [command, argv] = this.#command('postgres', [
      '-D', this.#data, '-p', String(this.port), '-k', this.dir, '-c', 'listen_addresses=127.0.0.1',
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=40',
      '-c', 'shared_buffers=16MB', '-c', 'log_min_messages=warning'
    ])
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    await waitForOutput(child, 'ready to accept connections', 20_000, 'postgres')
    child.stdout?.resume()
    child.stderr?.resume()
  }

  #signalPostmaster (signal: NodeJS.Signals): boolean {
    try {
      const pid = Number(readFileSync(join(this.#data, 'postmaster.pid'), 'utf8').split('\n')[0])
      process.kill(pid, signal)
      return true
    } catch {
      return false
    }
  }

  /** Immediate shutdown (SIGQUIT, as `pg_ctl stop -m immediate`): every session dies, crash recovery on restart. */
  async kill (): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    if (!this.#signalPostmaster('SIGQUIT')) child.kill('SIGKILL')
    await waitExit(child)
    this.#child = undefined
  }

  async restart (): Promise<void> {
    await this.kill()
    await this.#spawn()
  }

  async stop (): Promise<void> {
    const child = this.#child
    if (child !== undefined) {
      if (!this.#signalPostmaster('SIGINT')) child.kill('SIGKILL') // fast shutdown
      await waitExit(child)
      this.#child = undefined
    }
    running.delete(this.#entry)
    rmSync(this.dir, { recursive: true, force: true })
  }
}
