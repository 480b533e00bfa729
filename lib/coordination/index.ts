// Coordinator: one member of a group that shares locks through a backend
// chosen by URL (file://, redis://, postgresql://). It connects, keeps the
// leases of held locks alive with a heartbeat, reconnects with exponential
// backoff when the connection breaks, and reports every lock it can no longer
// vouch for as lost, never assuming one is still held. On the same heartbeat
// it keeps group memberships alive and elects group leaders (groups.ts).
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import { CoordinationError, invalidArgType, invalidArgValue, LockLostError } from '../errors'
import { debugLog, defaultLogger, type Logger } from '../log'
import { formatName, type LockNameSpec } from '../template'
import { Backoff } from './backoff'
import { EtcdBackend } from './etcd'
import { FileLock } from './file'
import { ensureLockPath } from '../lockpath'
import { Gates } from './gate'
import { GuardedBackend } from './guard'
import { Heartbeat } from './heartbeat'
import type { GroupStore } from './group-store'
import { Groups, type CampaignOptions } from './groups'
import { EtcdGroupStore } from './groups-etcd'
import { FileGroupStore } from './groups-file'
import { PostgresGroupStore } from './groups-postgres'
import { RedisGroupStore } from './groups-redis'
import { coordinatorSettings, validateLockName } from './options'
import { PostgresBackend } from './postgres'
import { RedisBackend } from './redis'
import { RemoteLock } from './remote'
import { sleep } from './scope'
import { toozLayouts, type ToozLayouts } from './tooz'
import { kConfirm, kLose, kOwner, kShutdown, type LeasedLock, type ManagedLock, type RemoteBackend, type Session } from './session'
import { currentLock, makeSynchronized, type SynchronizedDecorator, type SynchronizedOptions } from './synchronized'
import type { BackendKind, CoordinatorEvents, CoordinatorOptions, CoordinatorSettings, DistributedLock, LeadershipTerm } from './types'
import { parseBackendUrl, redact, type BackendUrl } from './url'

export type { BackendKind, CoordinatorEvents, CoordinatorOptions, DistributedLock, LeadershipLostEvent, LeadershipTerm, LockLostEvent, MemberEvent, ReconnectingEvent } from './types'
export type { CampaignOptions } from './groups'
export type { SynchronizedDecorator, SynchronizedOptions } from './synchronized'
export { backoffDelay, backoffBase } from './backoff'

type State = 'stopped' | 'starting' | 'connected' | 'disconnected' | 'stopping'

export interface CoordinatorConstructorOptions extends CoordinatorOptions {
  /** Anything with a `debug(message)` method. Default: the NODE_DEBUG/DEBUG/LOG_LEVEL switches. */
  logger?: Logger
}

export class Coordinator extends EventEmitter<CoordinatorEvents> implements AsyncDisposable {
  /** The backend URL, password hidden. */
  readonly url: string
  readonly backend: BackendKind
  /** prefix + agentId: how this member shows up as an owner. */
  readonly memberId: string
  readonly prefix: string
  readonly agentId: string
  readonly #settings: CoordinatorSettings
  readonly #target: BackendUrl
  readonly #remote: RemoteBackend | undefined
  /** compat: 'tooz': where tooz takes the locks of this backend. */
  readonly #tooz: ToozLayouts | undefined
  readonly #logger: Logger | undefined
  readonly #gates = new Gates()
  readonly #held = new Set<ManagedLock>()
  readonly #connectedWaiters = new Set<() => void>()
  readonly #heartbeat: Heartbeat
  readonly #backoff: Backoff
  readonly #session: Session
  readonly #groups: Groups
  #state: State = 'stopped'
  #lifetime = new AbortController()
  #transition: Promise<void> | undefined
  /** Owner values are `<member id>/<nonce>:<count>`: unique even when two members share an id. */
  readonly #ownerNonce = randomBytes(12).toString('base64url')
  #acquisitions = 0

  /**
   * @param url `file:///dir` (default: a private per-user directory), `redis://host:port/db`
   *   or `postgresql://user:password@host:port/database`
   */
  constructor (url?: string | URL, options?: CoordinatorConstructorOptions) {
    super()
    this.#target = parseBackendUrl(url)
    this.#settings = coordinatorSettings(options)
    const logger = options?.logger
    if (logger !== undefined && typeof logger?.debug !== 'function') {
      throw invalidArgType('options.logger', 'an object with a debug() method', logger)
    }
    this.#logger = logger ?? defaultLogger
    this.url = redact(this.#target.url)
    this.backend = this.#target.kind
    this.memberId = this.#settings.memberId
    this.prefix = this.#settings.prefix
    this.agentId = this.#settings.agentId
    const { leaseTtl, heartbeat } = this.#settings
    if (this.#settings.replicas > 0 && (this.backend !== 'redis' || this.#target.mode === 'cluster')) {
      throw invalidArgValue('options.replicas', this.#settings.replicas, 'is for redis:// and redis+sentinel:// (one primary and its replicas)')
    }
    const tooz = this.#tooz = this.#settings.compat === 'tooz' ? toozLayouts(this.#target, this.#settings) : undefined
    const remote = this.backend === 'redis'
      ? new RedisBackend(this.#target, leaseTtl, this.#settings.replicas, tooz?.redis)
      : this.backend === 'postgresql'
        ? new PostgresBackend(this.#target.url, leaseTtl, heartbeat, tooz?.postgres)
        : this.backend === 'etcd' ? new EtcdBackend(this.#target.endpoints ?? [], leaseTtl, tooz?.etcd) : undefined
    // Every request has a deadline of one lease and a typed error (lib/coordination/guard.ts).
    this.#remote = remote === undefined ? undefined : new GuardedBackend(remote, leaseTtl, this.url)
    this.#heartbeat = new Heartbeat(heartbeat, () => this.#beat(), (error) => this.#log('heartbeat failed', `heartbeat failed: ${String(error)}`))
    this.#backoff = new Backoff(this.#settings.initialReconnectBackoff, this.#settings.maxReconnectBackoff)
    this.#session = this.#makeSession()
    this.#groups = this.#makeGroups(remote)
  }

  /** Started and not stopped (connected or reconnecting). */
  get started (): boolean { return this.#state === 'connected' || this.#state === 'disconnected' }
  get connected (): boolean { return this.#state === 'connected' }

  /** Connects (creates the directory for file://) and starts the heartbeat. Rejects if the first connection fails. */
  async start (): Promise<void> {
    while (this.#transition !== undefined) await this.#transition.catch(() => {})
    if (this.started) return
    this.#transition = this.#start()
    try {
      await this.#transition
    } finally {
      this.#transition = undefined
    }
  }

  /** Leaves its groups, releases every lock this coordinator holds (ending its terms), ends waits (ERR_COORDINATOR_STOPPED), disconnects. */
  async stop (): Promise<void> {
    while (this.#transition !== undefined) await this.#transition.catch(() => {})
    if (!this.started) return
    this.#transition = this.#stop()
    try {
      await this.#transition
    } finally {
      this.#transition = undefined
    }
  }

  /**
   * A lock object for `name` (the backend sees prefix + name). With `data`, the
   * name is a template formatted from it: getLock('volume-{volume.id}', { volume }).
   * Each call returns a new object; objects of one coordinator exclude each other.
   */
  getLock (name: string, data?: unknown): DistributedLock {
    validateLockName(name)
    const formatted = data === undefined ? name : validateLockName(formatName(name, data))
    const fullName = this.#settings.prefix + formatted
    if (this.#remote !== undefined) return new RemoteLock(this.#session, this.#remote, formatted, fullName)
    return new FileLock(this.#session, this.#target.directory as string, formatted, fullName, this.#tooz?.file)
  }

  /**
   * A decorator (or wrapper) that runs a function while holding the lock its
   * call names: a name, a template such as '{f_name}-{vol.id}' filled from the
   * call's parameters, several templates, or a key function.
   */
  synchronized (name: LockNameSpec, options?: SynchronizedOptions): SynchronizedDecorator {
    return makeSynchronized((lockName) => this.getLock(lockName), name, options, this)
  }

  /** Creates group `name` (the backend sees prefix + name). ERR_GROUP_ALREADY_EXISTS if it exists. */
  async createGroup (name: string): Promise<void> { await this.#groups.create(name) }

  /** Deletes an empty group (ERR_GROUP_NOT_EMPTY while it has live members, ERR_GROUP_NOT_FOUND). */
  async deleteGroup (name: string): Promise<void> { await this.#groups.delete(name) }

  /**
   * Joins group `name` as this member, with `capabilities` (any JSON value;
   * default null) for the others to read. The membership lasts while the
   * heartbeat renews it: stop() leaves, and a member that stops beating is
   * gone one lease later (file://: when its process ends).
   */
  async joinGroup (name: string, capabilities?: unknown): Promise<void> { await this.#groups.join(name, capabilities) }

  /** Leaves group `name` (ERR_GROUP_NOT_MEMBER if this member is not in it). */
  async leaveGroup (name: string): Promise<void> { await this.#groups.leave(name) }

  /** The ids of the live members of group `name`, sorted. */
  async getMembers (name: string): Promise<string[]> { return await this.#groups.members(name) }

  /** The capabilities `member` joined group `name` with (or last updated to). */
  async getMemberCapabilities (name: string, member: string): Promise<unknown> { return await this.#groups.capabilities(name, member) }

  /** Replaces this member's capabilities in group `name`. */
  async updateCapabilities (name: string, capabilities: unknown): Promise<void> { await this.#groups.update(name, capabilities) }

  /** Emits memberJoined / memberLeft for group `name` without joining it (joined groups are watched anyway). */
  async watchGroup (name: string): Promise<void> { await this.#groups.watch(name) }

  /** Stops watchGroup(); true if it was watched. */
  unwatchGroup (name: string): boolean { return this.#groups.unwatch(name) }

  /** The groups this member is in (left, expired and deleted ones drop out). */
  get groups (): string[] { return this.#groups.joined }

  /**
   * Resolves once this member leads group `name`, with the term: its fencing
   * token (higher for every new term) and a signal aborted if the term is lost.
   * One term per group at a time across all members, as far as the backend's
   * lock guarantees it. Rejects on `timeout` (ETIMEDOUT) or `signal`.
   */
  async campaign (name: string, options?: CampaignOptions): Promise<LeadershipTerm> { return await this.#groups.campaign(name, options) }

  /** Ends this member's term in group `name`; true if it was leading until now. */
  async resign (name: string): Promise<boolean> { return await this.#groups.resign(name) }

  /** The member id of the leader of group `name`, or undefined while nobody leads. */
  async leader (name: string): Promise<string | undefined> { return await this.#groups.leader(name) }

  /** This member's current term in group `name`, if it leads it. */
  leadership (name: string): LeadershipTerm | undefined { return this.#groups.term(name) }

  /**
   * The W3C Web Locks API (navigator.locks' interface) over this coordinator's
   * backend: exclusive everywhere, shared on file:// only (elsewhere
   * NotSupportedError). The callback's Lock also has `fencingToken` and
   * `signal` (aborted if the lock is lost). Loaded on first use.
   */
  get locks (): import('../weblocks/index').LockManager {
    return (require('../weblocks/coordinator') as typeof import('../weblocks/coordinator')).coordinatorLocks(this)
  }

  /**
   * Inside a function run by this coordinator's synchronized(): the lock held
   * for the call (the one named `name` when it takes several), to read its
   * `fencingToken` and pass its `signal` on. Undefined elsewhere.
   */
  currentLock (name?: string): DistributedLock | undefined {
    return currentLock(this, name)
  }

  async [Symbol.asyncDispose] (): Promise<void> {
    await this.stop()
  }

  async #start (): Promise<void> {
    this.#state = 'starting'
    this.#lifetime = new AbortController()
    this.#backoff.reset()
    try {
      await this.#connect()
    } catch (error) {
      this.#state = 'stopped'
      if (error instanceof CoordinationError && error.code === 'ERR_COORDINATOR_DRIVER_MISSING') throw error
      throw new CoordinationError('ERR_COORDINATOR_CONNECT', `Cannot connect to ${this.url}: ${(error as Error).message}`, error)
    }
    this.#state = 'connected'
    this.#log('connected', `member ${this.memberId} connected to ${this.url}`)
    this.#emit('connected')
    this.#heartbeat.start()
  }

  async #stop (): Promise<void> {
    this.#state = 'stopping'
    this.#heartbeat.stop()
    await this.#groups.shutdown()
    const reason = new CoordinationError('ERR_COORDINATOR_STOPPED', `The coordinator of member ${this.memberId} stopped`)
    this.#lifetime.abort(reason)
    await Promise.all([...this.#held].map(async (lock) => await lock[kShutdown](reason)))
    this.#held.clear()
    await this.#remote?.close()
    this.#state = 'stopped'
    this.#log('stopped', `member ${this.memberId} stopped`)
  }

  async #connect (): Promise<void> {
    if (this.#remote === undefined) {
      // The default directory is checked for safety (private to this user); an explicit one is created if missing.
      ensureLockPath(this.#target.isDefault === true ? undefined : this.#target.directory)
      return
    }
    await this.#remote.connect((error) => this.#disconnected(error))
  }

  /** Renews the leases of held locks (and, for PostgreSQL, keeps the session from going idle), then the group memberships. */
  async #beat (): Promise<void> {
    const remote = this.#remote
    if (this.#state !== 'connected') return
    if (remote === undefined) return this.#beatGroups()
    const locks: Array<{ lock: LeasedLock, fullName: string, owner: string }> = []
    for (const lock of this.#held) {
      const leased = lock as LeasedLock
      const owner = leased[kOwner]
      if (owner !== undefined && leased.acquired) locks.push({ lock: leased, fullName: leased.fullName, owner })
    }
    const sentAt = performance.now()
    let results: boolean[]
    // Watchdog: a server that accepts requests but never answers is as good as gone.
    let timer: NodeJS.Timeout | undefined
    const silent = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new CoordinationError('ERR_COORDINATOR_DISCONNECTED', `No answer from ${this.url} within the lease (${this.#settings.leaseTtl} ms)`)), this.#settings.leaseTtl)
    })
    try {
      results = await Promise.race([remote.renew(locks), silent])
    } catch (error) {
      this.#log('renewal failed', `renewal failed: ${(error as Error).message}`) // the lease timers decide about the locks
      if (error instanceof CoordinationError && this.#state === 'connected') remote.drop(error)
      return
    } finally {
      clearTimeout(timer)
    }
    results.forEach((renewed, index) => {
      const { lock, owner } = locks[index] as { lock: LeasedLock, owner: string }
      if (renewed) lock[kConfirm](owner, sentAt)
      else lock[kLose](owner, new LockLostError(lock.fullName, 'the server no longer has it as ours (lease expired, or taken over after expiry)'))
    })
    this.#beatGroups()
  }

  /** Group work runs beside the lock renewals, never in front of the next one. */
  #beatGroups (): void {
    this.#groups.beat().catch((error: unknown) => this.#log('group check failed', `group check failed: ${(error as Error).message}`))
  }

  #makeGroups (remote: RedisBackend | PostgresBackend | EtcdBackend | undefined): Groups {
    const guarded = this.#remote as GuardedBackend | undefined
    const store: GroupStore = remote instanceof RedisBackend
      ? new RedisGroupStore(() => remote.commands(), this.#settings.leaseTtl)
      : remote instanceof PostgresBackend
        ? new PostgresGroupStore(async (sql, values) => await remote.query(sql, values), this.#settings.leaseTtl)
        : remote instanceof EtcdBackend
          ? new EtcdGroupStore(remote)
          : new FileGroupStore(this.#target.directory as string)
    const directory = this.#target.directory as string
    return new Groups({
      session: this.#session,
      store,
      memberId: this.memberId,
      prefix: this.prefix,
      call: async (what, request) => guarded === undefined ? await request() : await guarded.call(what, request),
      emit: (event, ...args) => this.#emit(event, ...args),
      lock: (session, name, fullName) => guarded === undefined
        ? new FileLock(session, directory, name, fullName)
        : new RemoteLock(session, guarded, name, fullName)
    })
  }

  #disconnected (error: Error): void {
    if (this.#state !== 'connected') return
    this.#state = 'disconnected'
    this.#log('disconnected', `disconnected from ${this.url}: ${error.message}`)
    this.#emit('disconnected', error)
    if (this.#remote?.locksSurviveDisconnect === false) {
      for (const lock of [...this.#held]) {
        const leased = lock as LeasedLock
        const owner = leased[kOwner]
        if (owner !== undefined) leased[kLose](owner, new LockLostError(lock.fullName, `the connection to the server broke (${error.message}); the session's locks ended with it`))
      }
    }
    void this.#reconnect(error)
  }

  async #reconnect (cause: Error): Promise<void> {
    const signal = this.#lifetime.signal
    let error: Error = cause
    for (;;) {
      const { attempt, delay } = this.#backoff.next()
      this.#log('reconnecting', `reconnecting to ${this.url} in ${delay} ms (attempt ${attempt})`)
      this.#emit('reconnecting', { attempt, delay, error })
      try {
        await sleep(delay, signal)
      } catch {
        return // stopped
      }
      try {
        await this.#connect()
      } catch (failure) {
        error = failure as Error
        continue
      }
      if (signal.aborted || this.#state !== 'disconnected') {
        await this.#remote?.close()
        return
      }
      this.#backoff.reset()
      this.#state = 'connected'
      this.#log('reconnected', `reconnected to ${this.url}`)
      this.#emit('connected')
      for (const wake of [...this.#connectedWaiters]) wake()
      this.#heartbeat.beatNow() // confirm the surviving leases at once
      return
    }
  }

  #makeSession (): Session {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const coordinator = this
    return {
      kind: this.backend,
      settings: this.#settings,
      gates: this.#gates,
      get connected () { return coordinator.#state === 'connected' },
      get lifetime () { return coordinator.#lifetime.signal },
      checkRunning: () => {
        if (this.#state === 'stopping') throw new CoordinationError('ERR_COORDINATOR_STOPPED', `The coordinator of member ${this.memberId} is stopping`)
        if (!this.started) throw new CoordinationError('ERR_COORDINATOR_NOT_STARTED', `The coordinator of member ${this.memberId} is not started: call start() first`)
      },
      whenConnected: async (signal) => await this.#whenConnected(signal),
      held: (lock) => { this.#held.add(lock) },
      dropped: (lock) => { this.#held.delete(lock) },
      lost: (lock, error) => this.#emit('lockLost', { name: lock.name, lock, error }),
      newOwner: () => `${this.memberId}/${this.#ownerNonce}:${++this.#acquisitions}`,
      debug: this.#logger !== undefined,
      log: (fields, message) => { debugLog(this.#logger, { ...fields, pid: process.pid }, `coordination: ${message}`) }
    }
  }

  #whenConnected (signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason)
    if (this.#state === 'connected') return Promise.resolve()
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        this.#connectedWaiters.delete(wake)
        signal.removeEventListener('abort', onAbort)
        resolve()
      }
      const onAbort = (): void => {
        this.#connectedWaiters.delete(wake)
        reject(signal.reason)
      }
      this.#connectedWaiters.add(wake)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** A throwing listener must not break the coordinator's own bookkeeping. */
  #emit<K extends keyof CoordinatorEvents> (event: K, ...args: CoordinatorEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: CoordinatorEvents[K]) => boolean)(event, ...args)
    } catch (error) {
      process.nextTick(() => { throw error })
    }
  }

  #log (event: string, message: string): void {
    debugLog(this.#logger, { event, pid: process.pid }, `coordination: ${message}`)
  }
}
