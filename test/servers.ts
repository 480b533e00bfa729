// Real Redis and PostgreSQL servers for the coordination tests: each on a free
// loopback port with a temporary data directory, stopped (and the directory
// removed) afterwards, and killable/restartable for fault tests. PostgreSQL
// refuses to run as root, so as root it runs as the `postgres` user.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
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
  /** Start as a replica of the server on this loopback port. */
  replicaOf?: number
  /** A cluster node (--cluster-enabled yes); form the cluster with RedisCluster.start(). */
  cluster?: boolean
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
    if (options.replicaOf !== undefined) this.#args.push('--replicaof', '127.0.0.1', String(options.replicaOf), '--replica-announce-ip', '127.0.0.1')
    if (options.cluster === true) {
      this.#args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(this.dir, 'nodes.conf'), '--cluster-node-timeout', '2000',
        '--cluster-announce-ip', '127.0.0.1')
    }
  }

  get pid (): number | undefined { return this.#child?.pid }

  /** SIGSTOP: the server keeps its sockets and accepts connections, but answers nothing. */
  pause (): void { this.#child?.kill('SIGSTOP') }
  resume (): void { this.#child?.kill('SIGCONT') }

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
    this.resume()
    await this.kill()
    running.delete(this.#entry)
    rmSync(this.dir, { recursive: true, force: true })
  }
}

export function sentinelCheck (): ServerCheck {
  if ((findExecutable('redis-sentinel') !== undefined && findExecutable('redis-server') !== undefined) || process.env.CI === 'true') return { skip: false }
  return { skip: 'redis-sentinel is not installed (Debian: apt-get install redis-sentinel)' }
}

export function clusterCheck (): ServerCheck {
  if ((findExecutable('redis-cli') !== undefined && findExecutable('redis-server') !== undefined) || process.env.CI === 'true') return { skip: false }
  return { skip: 'redis-cli is not installed (Debian: apt-get install redis-tools)' }
}

/** One redis-sentinel process monitoring the master `name` on a loopback port. */
export class RedisSentinel {
  readonly port: number
  readonly dir: string
  #child: ChildProcess | undefined
  readonly #entry = { emergencyStop: (): void => { this.#child?.kill('SIGKILL'); rmSync(this.dir, { recursive: true, force: true }) } }

  static async start (masterPort: number, name = 'mymaster', quorum = 2): Promise<RedisSentinel> {
    const binary = findExecutable('redis-sentinel')
    if (binary === undefined) throw new Error('redis-sentinel not found on PATH')
    const sentinel = new RedisSentinel(await freePort())
    running.add(sentinel.#entry)
    const config = join(sentinel.dir, 'sentinel.conf')
    writeFileSync(config, [
      `port ${sentinel.port}`, 'bind 127.0.0.1', 'daemonize no', 'protected-mode no', `dir ${sentinel.dir}`, 'logfile ""',
      'sentinel announce-ip 127.0.0.1',
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} ${quorum}`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 4000`,
      `sentinel parallel-syncs ${name} 1`, ''
    ].join('\n'))
    const child = spawn(binary, [config], { stdio: ['ignore', 'pipe', 'pipe'] })
    sentinel.#child = child
    await waitForOutput(child, '+monitor master', 10_000, 'redis-sentinel')
    child.stdout?.resume()
    child.stderr?.resume()
    return sentinel
  }

  private constructor (port: number) {
    this.port = port
    this.dir = mkdtempSync(join(tmpdir(), 'locksmith-sentinel-'))
  }

  async stop (): Promise<void> {
    const child = this.#child
    if (child !== undefined) {
      child.kill('SIGKILL')
      await waitExit(child)
      this.#child = undefined
    }
    running.delete(this.#entry)
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** A Redis cluster of `masters` nodes (no replicas) on loopback ports. */
export class RedisCluster {
  readonly nodes: RedisServer[]

  static async start (masters = 3): Promise<RedisCluster> {
    const nodes: RedisServer[] = []
    try {
      for (let i = 0; i < masters; i++) nodes.push(await RedisServer.start({ cluster: true }))
      const cli = findExecutable('redis-cli')
      if (cli === undefined) throw new Error('redis-cli not found on PATH')
      const created = spawnSync(cli, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
        { encoding: 'utf8', timeout: 30_000 })
      if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`)
      // Every node must agree the cluster is up before a client asks for slots.
      const deadline = Date.now() + 20_000
      for (const node of nodes) {
        for (;;) {
          const info = spawnSync(cli, ['-p', String(node.port), 'cluster', 'info'], { encoding: 'utf8', timeout: 5000 }).stdout
          if (info.includes('cluster_state:ok')) break
          if (Date.now() > deadline) throw new Error(`cluster not ok on ${node.port}: ${info}`)
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
      }
    } catch (error) {
      await Promise.all(nodes.map(async (node) => await node.stop()))
      throw error
    }
    return new RedisCluster(nodes)
  }

  private constructor (nodes: RedisServer[]) {
    this.nodes = nodes
  }

  get url (): string { return `redis+cluster://${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}` }

  async stop (): Promise<void> {
    await Promise.all(this.nodes.map(async (node) => await node.stop()))
  }
}

export function etcdCheck (): ServerCheck {
  if (findExecutable('etcd') !== undefined || process.env.CI === 'true') return { skip: false }
  return { skip: 'etcd is not installed (Debian: apt-get install etcd-server)' }
}

/** A single-member etcd on loopback ports with a temporary data directory. */
export class EtcdServer {
  readonly port: number
  readonly peerPort: number
  readonly dir: string
  readonly url: string
  readonly #binary: string
  #child: ChildProcess | undefined
  readonly #entry = { emergencyStop: (): void => { this.#child?.kill('SIGKILL'); rmSync(this.dir, { recursive: true, force: true }) } }

  static async start (): Promise<EtcdServer> {
    const binary = findExecutable('etcd')
    if (binary === undefined) throw new Error('etcd not found on PATH')
    const server = new EtcdServer(binary, await freePort(), await freePort())
    running.add(server.#entry)
    await server.#spawn()
    return server
  }

  private constructor (binary: string, port: number, peerPort: number) {
    this.#binary = binary
    this.port = port
    this.peerPort = peerPort
    this.dir = mkdtempSync(join(tmpdir(), 'locksmith-etcd-'))
    this.url = `etcd://127.0.0.1:${port}`
  }

  get pid (): number | undefined { return this.#child?.pid }

  async #spawn (): Promise<void> {
    const client = `http://127.0.0.1:${this.port}`
    const peer = `http://127.0.0.1:${this.peerPort}`
    const child = spawn(this.#binary, [
      '--name', 'test', '--data-dir', join(this.dir, 'data'),
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `test=${peer}`, '--initial-cluster-state', 'new',
      '--listen-metrics-urls', '', '--enable-pprof=false', '--log-level', 'info', '--logger', 'zap'
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    await waitForOutput(child, 'serving client traffic', 20_000, 'etcd')
    child.stdout?.resume()
    child.stderr?.resume()
  }

  pause (): void { this.#child?.kill('SIGSTOP') }
  resume (): void { this.#child?.kill('SIGCONT') }

  async kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    child.kill('SIGCONT')
    child.kill(signal)
    await waitExit(child)
    this.#child = undefined
  }

  /** Killed and started again on the same ports and data: raft keeps the revisions. */
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

  /** `durable`: fsync, synchronous commits and full page writes on, as in production (for measuring commit costs). */
  static async start (options: { durable?: boolean } = {}): Promise<PostgresServer> {
    const initdb = findExecutable('initdb', postgresBinDirs())
    if (initdb === undefined) throw new Error('initdb not found (PATH, /usr/lib/postgresql/*/bin)')
    const server = new PostgresServer(join(initdb, '..'), await freePort(), options.durable === true)
    running.add(server.#entry)
    server.#run('initdb', ['-D', server.#data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--no-instructions'])
    await server.#spawn()
    return server
  }

  readonly #durable: boolean

  private constructor (bin: string, port: number, durable = false) {
    this.#durable = durable
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
      ...(this.#durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']), '-c', 'max_connections=40',
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
