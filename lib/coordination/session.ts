// What a lock object sees of its coordinator, and the contract a server
// backend (Redis, PostgreSQL) fulfils. Internal: not exported from the package.
import type { Gates } from './gate'
import type { BackendKind, CoordinatorSettings, DistributedLock } from './types'
import type { LogFields } from '../log'

/** Internal operations of lock objects, keyed by symbols so they stay off the public surface. */
export const kShutdown = Symbol('shutdown')
export const kConfirm = Symbol('confirm')
export const kLose = Symbol('lose')
export const kOwner = Symbol('owner')

/** A lock object the coordinator keeps track of while it is held. */
export interface ManagedLock extends DistributedLock {
  /** The coordinator is stopping: give the lock back and abort the holding's signal with `reason`. */
  [kShutdown] (reason: Error): Promise<void>
}

/** A held lock whose lease the heartbeat renews. */
export interface LeasedLock extends ManagedLock {
  /** The owner value of the current holding (undefined when not held). */
  readonly [kOwner]: string | undefined
  /** The server confirmed the holding of `owner` at `sentAt` (performance.now() when the request left). */
  [kConfirm] (owner: string, sentAt: number): void
  /** The holding of `owner` is gone. */
  [kLose] (owner: string, error: Error): void
}

export interface Session {
  readonly kind: BackendKind
  readonly settings: CoordinatorSettings
  readonly gates: Gates
  readonly connected: boolean
  /** Aborted (reason: CoordinationError ERR_COORDINATOR_STOPPED) when the coordinator stops. */
  readonly lifetime: AbortSignal
  /** Throws unless started and not stopping. */
  checkRunning (): void
  /** Resolves once connected; rejects with the signal's reason. */
  whenConnected (signal: AbortSignal): Promise<void>
  held (lock: ManagedLock): void
  dropped (lock: ManagedLock): void
  lost (lock: DistributedLock, error: Error): void
  /** A fresh owner value: the member id and a per-coordinator random part, unique per acquisition. */
  newOwner (): string
  /** Whether log() writes anywhere (build messages only then). */
  readonly debug: boolean
  log (fields: Omit<LogFields, 'pid'>, message: string): void
}

/** A successful try returns the fencing token; a busy one says when to look again. */
export type TryResult = { token: number, retryAfter?: undefined } | { token: undefined, retryAfter: number }

/** Release notifications for one name, collected from the moment the watch starts. */
export interface Watch {
  /** Resolves at the next notification (or at once if one came since the last wait), or after `ms`. */
  wait (ms: number, signal: AbortSignal): Promise<void>
  close (): void
}

export interface RemoteBackend {
  readonly kind: 'redis' | 'postgresql' | 'etcd'
  /** Whether a held lock can outlive a broken connection (a Redis lease can; a PostgreSQL session lock cannot). */
  readonly locksSurviveDisconnect: boolean
  /** How long a confirmation vouches for a holding (ms), or undefined: for as long as the connection lives. */
  readonly lease: number | undefined
  /** Longest a waiter sleeps between tries when no notification comes. */
  readonly pollInterval: number
  /** Waiters across members are served in the order they first asked (a queue on the server). */
  readonly fifo?: boolean
  /** Opens the connection(s). `onClose` is called once if they break later (not after close()). */
  connect (onClose: (error: Error) => void): Promise<void>
  close (): Promise<void>
  /** Treats the connection as broken (the server stopped answering): onClose follows. */
  drop (reason: Error): void
  /**
   * One try for `owner`. With `queue`, a busy try leaves `owner` in the
   * server's queue for the name (FIFO backends), so later tries of the same
   * owner keep its place; leave() gives the place up.
   */
  tryAcquire (fullName: string, owner: string, queue: boolean): Promise<TryResult>
  /** Gives up `owner`'s place in the queue (a waiter that stopped waiting). */
  leave? (fullName: string, owner: string): Promise<void>
  /** Compare-and-delete: true if `owner` held it and it is now free. */
  release (fullName: string, owner: string): Promise<boolean>
  /** Extends the leases; true for each lock still held by its owner. */
  renew (locks: ReadonlyArray<{ fullName: string, owner: string }>): Promise<boolean[]>
  isOwner (fullName: string, owner: string): Promise<boolean>
  /** Notifications that `owner` (a waiter in the queue) may try again. */
  watch (fullName: string, owner: string): Promise<Watch>
  /** Whether an error means the connection (not the request) failed. */
  isConnectionError (error: unknown): boolean
}

export function noop (): void {}
