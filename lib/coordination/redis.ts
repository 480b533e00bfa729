// Redis backend: a lock is a key holding its owner's random value with a lease
// (PX); renewal and release are compare-and-set scripts, so a member can never
// extend or delete a lease that is no longer its own. Waiters subscribe to a
// channel the release script publishes on, and to the key's keyspace events
// (expiry) when the server has them enabled; a poll bounded by the holder's
// remaining TTL covers a server without them and messages lost in a reconnect.
//
// Fencing tokens: a counter key per name, incremented in the acquire script,
// and never set below the server's clock in microseconds. The counter alone
// would restart from 1 if the server lost its data; the clock floor keeps the
// tokens rising across such a restart as long as the server clock does.
import type { ChainableCommander, Redis, RedisOptions } from 'ioredis'
import { CoordinationError } from '../errors'
import type { RemoteBackend, TryResult, Watch } from './session'
import { ChannelWatch } from './watch'

type IoRedis = typeof import('ioredis')

const ACQUIRE = `
if redis.replicate_commands then redis.replicate_commands() end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local now = redis.call('TIME')
  local floor = now[1] .. string.format('%06d', tonumber(now[2]))
  local token = redis.call('INCR', KEYS[2])
  if token < tonumber(floor) then
    redis.call('SET', KEYS[2], floor)
    token = tonumber(floor)
  end
  return {1, token}
end
return {0, redis.call('PTTL', KEYS[1])}
`

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], 'released')
  return 1
end
return 0
`

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`

interface Scripts {
  locksmithAcquire (lock: string, fence: string, owner: string, ttl: number): Promise<[number, number]>
  locksmithRelease (lock: string, owner: string, channel: string): Promise<number>
  locksmithRenew (lock: string, owner: string, ttl: number): Promise<number>
}

const NAMESPACE = 'locksmith:'
const lockKey = (name: string): string => `${NAMESPACE}lock:${name}`
const fenceKey = (name: string): string => `${NAMESPACE}fence:${name}`
const releaseChannel = (name: string): string => `${NAMESPACE}released:${name}`

function loadClient (): IoRedis {
  try {
    // Loaded on first use: programs that only lock files never load it.
    return require('ioredis') as IoRedis
  } catch (error) {
    throw new CoordinationError('ERR_COORDINATOR_DRIVER_MISSING', "The redis:// backend needs the 'ioredis' package: npm install ioredis", error)
  }
}

/** Keyspace events that mean the key is gone. */
const GONE = new Set(['del', 'expired', 'evicted', 'unlink'])

interface Subscription {
  watches: Set<ChannelWatch>
  ready: Promise<unknown>
}

export class RedisBackend implements RemoteBackend {
  readonly kind = 'redis' as const
  readonly locksSurviveDisconnect = true
  readonly lease: number
  readonly pollInterval: number
  readonly #url: string
  readonly #db: number
  #client: IoRedis | undefined
  #commands: Redis | undefined
  #subscriber: Redis | undefined
  /** By lock name: the watches waiting on it. */
  readonly #subscriptions = new Map<string, Subscription>()
  /** Ends the current connection as broken (set while connected). */
  #closed: ((reason?: Error) => void) | undefined

  constructor (url: URL, leaseTtl: number) {
    this.#url = url.href
    const db = url.pathname.replace(/^\//, '')
    this.#db = db === '' ? 0 : Number(db)
    this.lease = leaseTtl
    this.pollInterval = leaseTtl
  }

  async connect (onClose: (error: Error) => void): Promise<void> {
    const client = this.#client ??= loadClient()
    const options: RedisOptions = {
      lazyConnect: true,
      retryStrategy: () => null, // the coordinator reconnects, with its own backoff
      enableOfflineQueue: false, // fail fast while disconnected instead of queueing stale renewals
      maxRetriesPerRequest: 0,
      autoResubscribe: false,
      connectTimeout: Math.min(10_000, Math.max(1000, this.lease)),
      // No commandTimeout: it costs a timer per command. A server that stops
      // answering is caught by the heartbeat watchdog (drop()).
      connectionName: 'locksmith'
    }
    const commands = new client.Redis(this.#url, options)
    const subscriber = commands.duplicate()
    commands.defineCommand('locksmithAcquire', { numberOfKeys: 2, lua: ACQUIRE })
    commands.defineCommand('locksmithRelease', { numberOfKeys: 1, lua: RELEASE })
    commands.defineCommand('locksmithRenew', { numberOfKeys: 1, lua: RENEW })
    let lastError: Error | undefined
    const closed = (reason?: Error): void => {
      if (this.#commands !== commands) return // not open yet, or closed on purpose
      this.#teardown()
      onClose(reason ?? lastError ?? new CoordinationError('ERR_COORDINATOR_DISCONNECTED', 'Connection to the Redis server closed'))
    }
    for (const connection of [commands, subscriber]) {
      connection.on('error', (error: Error) => { lastError = error })
      connection.on('close', () => closed())
    }
    subscriber.on('message', (channel: string, message: string) => this.#message(channel, message))
    // ioredis's connectTimeout covers the TCP handshake only; a server that
    // accepts and then never answers must not stall the reconnect loop.
    let timer: NodeJS.Timeout | undefined
    const silent = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new CoordinationError('ERR_COORDINATOR_CONNECT', `No answer from the Redis server within ${options.connectTimeout as number} ms`)), options.connectTimeout)
    })
    try {
      await Promise.race([Promise.all([commands.connect(), subscriber.connect()]), silent])
    } catch (error) {
      commands.disconnect()
      subscriber.disconnect()
      // ioredis rejects with "Connection is closed."; the socket's own error
      // (ECONNREFUSED 127.0.0.1:6379, ENOTFOUND...) says what went wrong.
      throw error instanceof CoordinationError ? error : lastError ?? error
    } finally {
      clearTimeout(timer)
    }
    this.#commands = commands
    this.#subscriber = subscriber
    this.#closed = closed
  }

  async close (): Promise<void> {
    this.#teardown()
  }

  drop (reason: Error): void {
    const closed = this.#closed
    if (closed !== undefined) closed(reason)
  }

  async tryAcquire (fullName: string, owner: string): Promise<TryResult> {
    const [won, value] = await this.#scripts().locksmithAcquire(lockKey(fullName), fenceKey(fullName), owner, this.lease)
    if (won === 1) return { token: value }
    return { token: undefined, retryAfter: Math.max(0, value) }
  }

  async release (fullName: string, owner: string): Promise<boolean> {
    return await this.#scripts().locksmithRelease(lockKey(fullName), owner, releaseChannel(fullName)) === 1
  }

  async renew (locks: ReadonlyArray<{ fullName: string, owner: string }>): Promise<boolean[]> {
    if (locks.length === 0) return []
    const pipeline = this.#connection().pipeline() as ChainableCommander & { locksmithRenew: (lock: string, owner: string, ttl: number) => unknown }
    for (const { fullName, owner } of locks) pipeline.locksmithRenew(lockKey(fullName), owner, this.lease)
    const results = await pipeline.exec()
    if (results === null) throw new CoordinationError('ERR_COORDINATOR_DISCONNECTED', 'Renewal did not run: the connection closed')
    return results.map(([error, value]) => {
      if (error !== null) throw error
      return value === 1
    })
  }

  async isOwner (fullName: string, owner: string): Promise<boolean> {
    return await this.#connection().get(lockKey(fullName)) === owner
  }

  async watch (fullName: string): Promise<Watch> {
    const subscriber = this.#subscriber
    if (subscriber === undefined) throw this.#disconnected()
    let subscription = this.#subscriptions.get(fullName)
    if (subscription === undefined) {
      const created: Subscription = {
        watches: new Set(),
        ready: subscriber.subscribe(releaseChannel(fullName), this.#keyspaceChannel(fullName))
      }
      created.ready.catch(() => this.#subscriptions.get(fullName) === created && this.#subscriptions.delete(fullName))
      this.#subscriptions.set(fullName, created)
      subscription = created
    }
    const watch = new ChannelWatch((closing) => this.#unwatch(fullName, closing))
    subscription.watches.add(watch)
    try {
      await subscription.ready
    } catch (error) {
      subscription.watches.delete(watch)
      throw error
    }
    return watch
  }

  isConnectionError (error: unknown): boolean {
    const ReplyError = (this.#client as { ReplyError?: new () => Error } | undefined)?.ReplyError
    return !(ReplyError !== undefined && error instanceof ReplyError)
  }

  #unwatch (fullName: string, watch: ChannelWatch): void {
    const subscription = this.#subscriptions.get(fullName)
    if (subscription === undefined || !subscription.watches.delete(watch) || subscription.watches.size > 0) return
    this.#subscriptions.delete(fullName)
    this.#subscriber?.unsubscribe(releaseChannel(fullName), this.#keyspaceChannel(fullName)).catch(() => {})
  }

  #message (channel: string, message: string): void {
    let name: string
    if (channel.startsWith(`${NAMESPACE}released:`)) {
      name = channel.slice(`${NAMESPACE}released:`.length)
    } else {
      const prefix = this.#keyspaceChannel('')
      if (!channel.startsWith(prefix) || !GONE.has(message)) return
      name = channel.slice(prefix.length)
    }
    for (const watch of this.#subscriptions.get(name)?.watches ?? []) watch.notify()
  }

  #keyspaceChannel (fullName: string): string {
    return `__keyspace@${this.#db}__:${lockKey(fullName)}`
  }

  #connection (): Redis {
    if (this.#commands === undefined) throw this.#disconnected()
    return this.#commands
  }

  #scripts (): Scripts {
    return this.#connection() as unknown as Scripts
  }

  #disconnected (): CoordinationError {
    return new CoordinationError('ERR_COORDINATOR_DISCONNECTED', 'Not connected to the Redis server')
  }

  #teardown (): void {
    const commands = this.#commands
    const subscriber = this.#subscriber
    this.#commands = undefined
    this.#subscriber = undefined
    this.#closed = undefined
    // Wake the waiters: they notice the disconnection and wait for the reconnect.
    for (const subscription of this.#subscriptions.values()) for (const watch of subscription.watches) watch.notify()
    this.#subscriptions.clear()
    commands?.disconnect()
    subscriber?.disconnect()
  }
}
