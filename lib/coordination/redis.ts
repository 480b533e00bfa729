// Redis backend: a lock is a key holding its owner's random value with a lease
// (PX); renewal and release are compare-and-set scripts, so a member can never
// extend or delete a lease that is no longer its own. Waiters subscribe to a
// channel the release script publishes on, and to the key's keyspace events
// (expiry) when the server has them enabled; a poll bounded by the holder's
// remaining TTL covers a server without them and messages lost in a reconnect.
// Waiters of all members line up in a queue per name on the server (see
// ACQUIRE), so a member that releases and asks again at once goes to the back.
// With compat: 'tooz' a name's lock is tooz's key instead (tooz-redis.ts),
// taken by SINGLE_ACQUIRE: no queue, since tooz's members would not keep to it.
//
// Fencing tokens: a counter key per name, incremented in the acquire script,
// and never set below the server's clock in microseconds. The counter alone
// would restart from 1 if the server lost its data; the clock floor keeps the
// tokens rising across such a restart as long as the server clock does.
//
// Topologies: one server; the master that Sentinel names (redis+sentinel://,
// or tooz's ?sentinel=); a cluster (redis+cluster://). All keys of one lock
// carry the hash tag {name}, so the keys a script touches share a slot.
// A reply that says the server cannot take writes now (READONLY from a
// demoted primary, LOADING, MASTERDOWN, CLUSTERDOWN) drops the connection, and
// the reconnect asks Sentinel (or the cluster) again.
import { createHash } from 'node:crypto'
import type { ChainableCommander, Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis'
import { checkClientVersion } from './driver'
import { CoordinationError } from '../errors'
import type { RemoteBackend, TryResult, Watch } from './session'
import type { BackendUrl, Endpoint } from './url'
import { ChannelWatch } from './watch'

type IoRedis = typeof import('ioredis')

// The queue of a name: a sorted set of waiting owners (score: place in line)
// and a hash of their deadlines (server clock, ms). A waiter's entry lives one
// lease past its last try, and waiters try again at least every third of a
// lease, so a live waiter keeps its place and a crashed or paused one holds
// up the line for one lease at most. The free lock goes to the oldest live
// entry, or to anyone when the line is empty. A queue lost or left stale by a
// failover heals the same way: stale heads are dropped, and a waiter whose
// entry vanished is put back at the end on its next try.
// The next fencing token of the name (KEYS[2]): its counter, raised to the
// server clock in microseconds when behind it. Shared by both acquire scripts.
const NEXT_TOKEN = `
local function nextToken (clock)
  local floor = clock[1] .. string.format('%06d', tonumber(clock[2]))
  local token = redis.call('INCR', KEYS[2])
  if token < tonumber(floor) then
    redis.call('SET', KEYS[2], floor) -- as text: a Lua number this large would be sent in exponent form
    token = tonumber(floor)
  end
  return token
end
`

const ACQUIRE = `
if redis.replicate_commands then redis.replicate_commands() end
${NEXT_TOKEN}
local owner, ttl = ARGV[1], tonumber(ARGV[2])
local holder = redis.call('GET', KEYS[1])
if holder == owner then
  -- A retry of a grant whose answer was lost: nobody else held it since, so the counter is its token.
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {1, tonumber(redis.call('GET', KEYS[2]))}
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local headDeadline
if not holder then
  -- Free: it goes to the first live entry, or to anyone if there is none. Stale heads are dropped.
  local head
  while true do
    local first = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
    if not first then break end
    local deadline = tonumber(redis.call('HGET', KEYS[4], first))
    if deadline and deadline > now then
      head, headDeadline = first, deadline
      break
    end
    redis.call('ZREM', KEYS[3], first)
    redis.call('HDEL', KEYS[4], first)
  end
  if not head or head == owner then
    redis.call('SET', KEYS[1], owner, 'PX', ttl)
    if head then
      redis.call('ZREM', KEYS[3], owner)
      redis.call('HDEL', KEYS[4], owner)
    end
    return {1, nextToken(clock)}
  end
end
if ARGV[3] == '1' then
  if not redis.call('ZSCORE', KEYS[3], owner) then
    local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
    redis.call('ZADD', KEYS[3], last[2] and tonumber(last[2]) + 1 or 0, owner)
  end
  redis.call('HSET', KEYS[4], owner, now + ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
  redis.call('PEXPIRE', KEYS[4], ttl)
end
if holder then return {0, redis.call('PTTL', KEYS[1])} end
return {0, headDeadline - now}
`

// Another library's lock key (compat: 'tooz'): its holders take it with SET NX
// PX and know no queue, so neither does this. The counter is locksmith's.
const SINGLE_ACQUIRE = `
if redis.replicate_commands then redis.replicate_commands() end
${NEXT_TOKEN}
local owner, ttl = ARGV[1], tonumber(ARGV[2])
if redis.call('SET', KEYS[1], owner, 'NX', 'PX', ttl) then
  return {1, nextToken(redis.call('TIME'))}
end
if redis.call('GET', KEYS[1]) == owner then
  -- A retry of a grant whose answer was lost: nobody else held it since, so the counter is its token.
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {1, tonumber(redis.call('GET', KEYS[2]))}
end
return {0, redis.call('PTTL', KEYS[1])}
`

// A waiter that gives up leaves the line; if it was first and the lock is
// free, the others are told, as on a release.
const LEAVE = `
local first = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 and first == ARGV[1] and redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('PUBLISH', ARGV[2], 'released')
end
return 0
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
  locksmithAcquire (lock: string, fence: string, queue: string, deadlines: string, owner: string, ttl: number, enqueue: '0' | '1'): Promise<[number, number]>
  locksmithSingleAcquire (lock: string, fence: string, owner: string, ttl: number): Promise<[number, number]>
  locksmithLeave (lock: string, queue: string, deadlines: string, owner: string, channel: string): Promise<number>
  locksmithRelease (lock: string, owner: string, channel: string): Promise<number>
  locksmithRenew (lock: string, owner: string, ttl: number): Promise<number>
}

export const NAMESPACE = 'locksmith:'
/**
 * The hash tag of a name: the name itself, unless a '}' in it would end the
 * tag early (or leave it empty); then a digest of it. Redis Cluster hashes
 * only the part between the first '{' and the next '}'.
 */
export function hashTag (name: string): string {
  return name.includes('}') || name === '' ? `#${createHash('sha1').update(name).digest('hex')}` : name
}
export const lockKey = (name: string): string => `${NAMESPACE}lock:{${hashTag(name)}}`
export const fenceKey = (name: string): string => `${NAMESPACE}fence:{${hashTag(name)}}`
export const queueKey = (name: string): string => `${NAMESPACE}queue:{${hashTag(name)}}`
export const deadlinesKey = (name: string): string => `${NAMESPACE}deadlines:{${hashTag(name)}}`
const releaseChannel = (name: string): string => `${NAMESPACE}released:${name}`

/**
 * Another library's lock keys (compat: 'tooz', tooz-redis.ts) instead of
 * locksmith's key and queue, for the names it takes.
 */
export interface RedisLayout {
  /** The key that is the lock of `fullName` (it holds the owner's value, with a TTL), or undefined to leave the name in locksmith's layout. */
  lockKey: (fullName: string) => string | undefined
  /** Longest a waiter of those names sleeps between tries (default: the lease); the other library's holders release without publishing. */
  pollInterval?: number
}

/** Replies that mean "not here, not now": reconnect (and ask Sentinel or the cluster again). */
const RECONNECT_REPLIES = /^(READONLY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|NOAUTH|MISCONF)\b/

function loadClient (): IoRedis {
  let client: IoRedis
  try {
    // Loaded on first use: programs that only lock files never load it.
    client = require('ioredis') as IoRedis
  } catch (error) {
    throw new CoordinationError('ERR_COORDINATOR_DRIVER_MISSING', "The redis:// backend needs the 'ioredis' package: npm install ioredis", error)
  }
  checkClientVersion('ioredis')
  return client
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
  /** FIFO across members, except for the names a layout takes (those have no queue). */
  readonly fifo = true
  readonly lease: number
  readonly pollInterval: number
  readonly #url: string
  readonly #target: BackendUrl
  readonly #db: number
  /** Replicas that must acknowledge a grant (WAIT) before it counts. */
  readonly #replicas: number
  #client: IoRedis | undefined
  #commands: Redis | Cluster | undefined
  #subscriber: Redis | Cluster | undefined
  /** By lock name: the watches waiting on it. */
  readonly #subscriptions = new Map<string, Subscription>()
  /** Keyspace channel -> lock name, for the names watched. */
  readonly #keyspaceNames = new Map<string, string>()
  /** Ends the current connection as broken (set while connected). */
  #closed: ((reason?: Error) => void) | undefined
  readonly #layout: RedisLayout | undefined

  constructor (target: BackendUrl, leaseTtl: number, replicas = 0, layout?: RedisLayout) {
    this.#target = target
    this.#replicas = replicas
    this.#url = target.url.href
    this.#db = target.db ?? 0
    this.lease = leaseTtl
    this.pollInterval = leaseTtl
    this.#layout = layout
  }

  /** The layout's key for the name, if a layout takes it. */
  #singleKey (fullName: string): string | undefined {
    return this.#layout?.lockKey(fullName)
  }

  /** The key that is the lock of a name. */
  #lockKey (fullName: string): string {
    return this.#singleKey(fullName) ?? lockKey(fullName)
  }

  /** How often a queued waiter refreshes its entry (which lives one lease). */
  get #refresh (): number { return Math.max(1, Math.floor(this.lease / 3)) }

  get #mode (): 'single' | 'sentinel' | 'cluster' { return this.#target.mode ?? 'single' }

  /** The connections for this URL's topology. */
  #open (client: IoRedis, options: RedisOptions): { commands: Redis | Cluster, subscriber: Redis | Cluster } {
    const url = this.#target.url
    const auth = {
      username: url.username === '' ? undefined : decodeURIComponent(url.username),
      password: url.password === '' ? undefined : decodeURIComponent(url.password),
      tls: url.protocol.startsWith('rediss') ? {} : undefined
    }
    const endpoints = this.#target.endpoints as Endpoint[]
    if (this.#mode === 'cluster') {
      const clusterOptions: ClusterOptions = {
        lazyConnect: true,
        enableOfflineQueue: false,
        clusterRetryStrategy: () => null,
        scaleReads: 'master',
        maxRedirections: 8,
        slotsRefreshTimeout: options.connectTimeout,
        redisOptions: { ...options, ...auth, lazyConnect: undefined }
      }
      const commands = new client.Cluster(endpoints, clusterOptions)
      return { commands, subscriber: commands.duplicate() }
    }
    if (this.#mode === 'sentinel') {
      const search = url.searchParams
      const sentinelOptions: RedisOptions = {
        ...options,
        ...auth,
        db: this.#db,
        sentinels: endpoints,
        name: this.#target.masterName,
        role: 'master',
        sentinelPassword: search.get('sentinelPassword') ?? undefined,
        sentinelRetryStrategy: () => null,
        // Sentinel's +switch-master closes the connection at once, before any write sees READONLY.
        failoverDetector: true,
        enableTLSForSentinelMode: auth.tls !== undefined
      }
      const commands = new client.Redis(sentinelOptions)
      return { commands, subscriber: new client.Redis(sentinelOptions) }
    }
    const commands = new client.Redis(this.#url, options)
    return { commands, subscriber: commands.duplicate() }
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
    const { commands, subscriber } = this.#open(client, options)
    commands.defineCommand('locksmithAcquire', { numberOfKeys: 4, lua: ACQUIRE })
    commands.defineCommand('locksmithSingleAcquire', { numberOfKeys: 2, lua: SINGLE_ACQUIRE })
    commands.defineCommand('locksmithLeave', { numberOfKeys: 3, lua: LEAVE })
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
      if (this.#mode === 'single') await Promise.race([this.#checkRole(commands as Redis), silent])
    } catch (error) {
      hangUp(commands)
      hangUp(subscriber)
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

  /** A replica (a demoted primary after a failover) cannot grant locks: refuse it, and keep reconnecting. */
  async #checkRole (commands: Redis): Promise<void> {
    let role: unknown
    try {
      role = await commands.call('ROLE')
    } catch (error) {
      // Servers that refuse ROLE (some managed services rename it) are taken at their word.
      if (/unknown command|NOPERM/i.test((error as Error).message)) return
      throw error
    }
    const kind = Array.isArray(role) ? String(role[0]) : undefined
    if (kind === 'master') return
    if (kind === undefined) throw new CoordinationError('ERR_COORDINATOR_PROTOCOL', `${this.#url} did not answer ROLE like a Redis server`)
    throw new CoordinationError('ERR_COORDINATOR_CONNECT', `${this.#url} is a Redis ${kind}, not the primary (after a failover, point the URL at the new primary or use redis+sentinel://)`)
  }

  drop (reason: Error): void {
    const closed = this.#closed
    if (closed !== undefined) closed(reason)
  }

  async tryAcquire (fullName: string, owner: string, queue: boolean): Promise<TryResult> {
    const single = this.#singleKey(fullName)
    if (single !== undefined) return await this.#trySingle(fullName, single, owner)
    const [won, value] = await this.#scripts().locksmithAcquire(
      lockKey(fullName), fenceKey(fullName), queueKey(fullName), deadlinesKey(fullName), owner, this.lease, queue ? '1' : '0')
    if (won === 1) {
      if (this.#replicas > 0) await this.#replicated(fullName, owner)
      return { token: value }
    }
    // A queued waiter tries again before its entry's lease runs out, which also puts it back in line if the entry was lost.
    return { token: undefined, retryAfter: Math.max(0, queue ? Math.min(value, this.#refresh) : value) }
  }

  async leave (fullName: string, owner: string): Promise<void> {
    if (this.#singleKey(fullName) !== undefined) return // no queue on another library's key
    await this.#scripts().locksmithLeave(lockKey(fullName), queueKey(fullName), deadlinesKey(fullName), owner, releaseChannel(fullName))
  }

  /** A try on another library's key: no queue to join or keep a place in. */
  async #trySingle (fullName: string, key: string, owner: string): Promise<TryResult> {
    const [won, value] = await this.#scripts().locksmithSingleAcquire(key, fenceKey(fullName), owner, this.lease)
    if (won === 1) {
      if (this.#replicas > 0) await this.#replicated(fullName, owner)
      return { token: value }
    }
    // PTTL -1: a holder's key without a TTL (another library's lock taken without one).
    // Only these names poll faster: the rest keep locksmith's layout and its release messages.
    return { token: undefined, retryAfter: Math.min(value < 0 ? this.pollInterval : value, this.#layout?.pollInterval ?? this.pollInterval) }
  }

  /**
   * WAIT until enough replicas have the grant (the lock key and the counter);
   * a grant they did not all acknowledge in time is given back.
   */
  async #replicated (fullName: string, owner: string): Promise<void> {
    const timeout = Math.max(1, Math.floor(this.lease / 3))
    // The same connection as the grant: WAIT counts that connection's writes.
    const acknowledged = Number(await (this.#connection() as Redis).call('WAIT', String(this.#replicas), String(timeout)))
    if (acknowledged >= this.#replicas) return
    await this.release(fullName, owner).catch(() => {})
    throw new CoordinationError('ERR_COORDINATOR_REPLICATION',
      `Only ${acknowledged} of the ${this.#replicas} replicas required acknowledged the grant of '${fullName}' within ${timeout} ms; it was given back`)
  }

  async release (fullName: string, owner: string): Promise<boolean> {
    return await this.#scripts().locksmithRelease(this.#lockKey(fullName), owner, releaseChannel(fullName)) === 1
  }

  async renew (locks: ReadonlyArray<{ fullName: string, owner: string }>): Promise<boolean[]> {
    if (locks.length === 0) {
      // Idle: a ping, so a dead or silent server is noticed while nothing is held.
      await this.#connection().ping()
      return []
    }
    if (this.#mode === 'cluster') {
      // A cluster pipeline must stay in one slot; the names' slots differ.
      const scripts = this.#scripts()
      return await Promise.all(locks.map(async ({ fullName, owner }) => await scripts.locksmithRenew(this.#lockKey(fullName), owner, this.lease) === 1))
    }
    const pipeline = this.#connection().pipeline() as ChainableCommander & { locksmithRenew: (lock: string, owner: string, ttl: number) => unknown }
    for (const { fullName, owner } of locks) pipeline.locksmithRenew(this.#lockKey(fullName), owner, this.lease)
    const results = await pipeline.exec()
    if (results === null) throw new CoordinationError('ERR_COORDINATOR_DISCONNECTED', 'Renewal did not run: the connection closed')
    return results.map(([error, value]) => {
      if (error !== null) throw error
      return value === 1
    })
  }

  async isOwner (fullName: string, owner: string): Promise<boolean> {
    return await this.#connection().get(this.#lockKey(fullName)) === owner
  }

  async watch (fullName: string, _owner: string): Promise<Watch> {
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
    if (ReplyError !== undefined && error instanceof ReplyError) return RECONNECT_REPLIES.test(error.message)
    return true
  }

  #unwatch (fullName: string, watch: ChannelWatch): void {
    const subscription = this.#subscriptions.get(fullName)
    if (subscription === undefined || !subscription.watches.delete(watch) || subscription.watches.size > 0) return
    this.#subscriptions.delete(fullName)
    this.#keyspaceNames.delete(`__keyspace@${this.#db}__:${this.#lockKey(fullName)}`)
    this.#subscriber?.unsubscribe(releaseChannel(fullName), this.#keyspaceChannel(fullName)).catch(() => {})
  }

  #message (channel: string, message: string): void {
    let name: string | undefined
    if (channel.startsWith(`${NAMESPACE}released:`)) {
      name = channel.slice(`${NAMESPACE}released:`.length)
    } else {
      if (!GONE.has(message)) return
      name = this.#keyspaceNames.get(channel)
      if (name === undefined) return
    }
    for (const watch of this.#subscriptions.get(name)?.watches ?? []) watch.notify()
  }

  #keyspaceChannel (fullName: string): string {
    const channel = `__keyspace@${this.#db}__:${this.#lockKey(fullName)}`
    this.#keyspaceNames.set(channel, fullName)
    return channel
  }

  /** The command connection, for the group store (groups-redis.ts). */
  commands (): Redis | Cluster { return this.#connection() }

  #connection (): Redis | Cluster {
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
    this.#keyspaceNames.clear()
    if (commands !== undefined) hangUp(commands)
    if (subscriber !== undefined) hangUp(subscriber)
  }
}

/**
 * Closes a connection at once. disconnect() only half-closes the socket (FIN),
 * which leaves it open for as long as a silent or stopped server keeps its end.
 */
function hangUp (connection: Redis | Cluster): void {
  connection.disconnect()
  const nodes = 'nodes' in connection && typeof connection.nodes === 'function' ? connection.nodes() : [connection as Redis]
  for (const node of nodes) (node as unknown as { stream?: { destroy?: () => void } }).stream?.destroy?.()
}
