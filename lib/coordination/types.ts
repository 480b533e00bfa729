// The shape every coordinated lock has, whatever stores it: the Lock API
// (acquire/block/release/acquired/await using) plus what a lock held through a
// server needs: a fencing token, a signal for loss, and an ownership check.
import type { AcquireOptions } from '../wait-options'

export type BackendKind = 'file' | 'redis' | 'postgresql' | 'etcd'

export interface DistributedLock extends AsyncDisposable {
  /** The name as given to getLock() (after template formatting). */
  readonly name: string
  /** The name in the backend: the coordinator's prefix + name. */
  readonly fullName: string
  /** Whether this object holds the lock now (false as soon as its lease cannot be vouched for). */
  readonly acquired: boolean
  /**
   * Strictly increasing per name across members and restarts: pass it to the
   * resource you protect, which rejects writes with a token lower than one it
   * has seen. `undefined` while not held.
   */
  readonly fencingToken: number | undefined
  /** Aborted (reason: LockLostError) when the current holding is lost rather than released. */
  readonly signal: AbortSignal
  /**
   * Waits (default): resolves true once held; rejects with LockTimeoutError
   * (code ETIMEDOUT) after `timeout` ms, or with the signal's reason.
   * `timeout: Infinity` (default) waits as long as it takes; a numeric
   * `blocking` is an alias of `timeout` (give one of them). `blocking: false`:
   * one try, resolves true or false (no `timeout` with it). Unknown option
   * keys are refused (ERR_INVALID_ARG_VALUE).
   */
  acquire (options?: AcquireOptions): Promise<boolean>
  /**
   * After a failed one-time try: waits until held, bounded by `timeout` (or a
   * numeric `blocking`) and the signal, like acquire().
   */
  block (options?: AcquireOptions): Promise<true>
  /** Synchronous single try; only locks that need no server have it (file://). */
  tryAcquire?: () => boolean
  /**
   * Gives the lock back. Resolves true if this object held it until now, false
   * if it did not (never acquired, already released, or lost meanwhile).
   */
  release (): Promise<boolean>
  /** Asks the backend whether this member still holds the lock (false if that cannot be confirmed now). */
  isStillOwner (): Promise<boolean>
}

/** Unknown keys are refused (ERR_INVALID_ARG_VALUE, with a did-you-mean hint). */
export interface CoordinatorOptions {
  /** Prepended to the member id and to every lock name (Cinder: 'cinder-'). Default ''. */
  prefix?: string
  /** This member's id after the prefix. Default: `<hostname>.<pid>`. */
  agentId?: string
  /** Milliseconds between heartbeats (lease renewal, connection check). Default 1000 (at most leaseTtl / 3). */
  heartbeat?: number
  /** First reconnect delay in milliseconds. Default 100. */
  initialReconnectBackoff?: number
  /** Longest reconnect delay in milliseconds. Default 10000. */
  maxReconnectBackoff?: number
  /** How long a lock stays valid without a heartbeat, in milliseconds. Default 30000. */
  leaseTtl?: number
  /**
   * Redis only: a grant counts once this many replicas have acknowledged it
   * (WAIT); otherwise it is given back and acquire() rejects with
   * ERR_COORDINATOR_REPLICATION. With every replica counted, a failover cannot
   * lose a grant or bring back a lower fencing token. Default 0.
   */
  replicas?: number
  /**
   * 'tooz': take each lock where OpenStack's tooz takes it on the same backend
   * (its file, key or advisory-lock layout), so tooz members and this one
   * exclude each other. What it keeps and loses: lib/coordination/tooz.ts and
   * the README. Default: locksmith's own layout, which tooz does not see.
   */
  compat?: 'tooz'
}

/** Settled options, all numbers in milliseconds. */
export interface CoordinatorSettings {
  prefix: string
  agentId: string
  memberId: string
  heartbeat: number
  initialReconnectBackoff: number
  maxReconnectBackoff: number
  leaseTtl: number
  replicas: number
  compat: 'tooz' | undefined
}

export interface ReconnectingEvent {
  /** 1 for the first retry after a loss. */
  attempt: number
  /** Milliseconds until this attempt. */
  delay: number
  /** Why the last attempt (or the connection) failed. */
  error: Error | undefined
}

export interface LockLostEvent {
  name: string
  lock: DistributedLock
  error: Error
}

/** A member appeared in (memberJoined) or went from (memberLeft: left, expired, or its group was deleted) a group this coordinator watches. */
export interface MemberEvent {
  group: string
  member: string
}

/** A term of leadership of a group, from campaign() until resign(), loss or stop(). */
export interface LeadershipTerm {
  group: string
  /** Higher for every new term of the group, across members and restarts (the term's lock's fencing token). */
  fencingToken: number
  /** Aborted (reason: LockLostError, or ERR_COORDINATOR_STOPPED) when the term ends without resign(). */
  signal: AbortSignal
}

export interface LeadershipLostEvent {
  group: string
  fencingToken: number
  error: Error
}

export interface CoordinatorEvents {
  connected: []
  disconnected: [error: Error]
  reconnecting: [event: ReconnectingEvent]
  lockLost: [event: LockLostEvent]
  memberJoined: [event: MemberEvent]
  memberLeft: [event: MemberEvent]
  elected: [term: LeadershipTerm]
  leadershipLost: [event: LeadershipLostEvent]
}
