// Every request to a server gets a deadline and a typed error. A server that
// accepts a request and never answers (stopped with SIGSTOP, a hung VM, a
// black-holed network path) must not leave a release() or a one-time try
// pending for ever: after the deadline (one lease: any grant that answer
// could still bring would already have run out) the request rejects with
// ERR_COORDINATOR_UNANSWERED and the connection is treated as broken, so the
// coordinator says `connected === false` and reconnects with backoff.
//
// Errors that mean "this server cannot serve us now" (a dropped socket, a
// Redis replica's READONLY after a failover, LOADING, MASTERDOWN, CLUSTERDOWN,
// a PostgreSQL session ended by the server) also drop the connection, so the
// reconnect finds the current primary; they reject with
// ERR_COORDINATOR_DISCONNECTED (the server's error as `cause`). Any other
// server error rejects with ERR_COORDINATOR_PROTOCOL. No raw client error
// reaches the caller.
import { CoordinationError } from '../errors'
import type { RemoteBackend, TryResult, Watch } from './session'

/** A backend's view of its own errors. */
export interface ErrorClassifier {
  /** The error means the connection (or the server's role) is unusable: reconnect. */
  isConnectionError (error: unknown): boolean
}

export function isCoordinationCode (error: unknown, ...codes: string[]): boolean {
  return error instanceof CoordinationError && codes.includes(error.code)
}

export class GuardedBackend implements RemoteBackend {
  readonly #inner: RemoteBackend
  readonly #deadline: number
  readonly #url: string

  constructor (inner: RemoteBackend, deadline: number, url: string) {
    this.#inner = inner
    this.#deadline = deadline
    this.#url = url
  }

  get kind (): RemoteBackend['kind'] { return this.#inner.kind }
  get locksSurviveDisconnect (): boolean { return this.#inner.locksSurviveDisconnect }
  get lease (): number | undefined { return this.#inner.lease }
  get pollInterval (): number { return this.#inner.pollInterval }
  get fifo (): boolean { return this.#inner.fifo === true }
  /** The per-request deadline (ms). */
  get deadline (): number { return this.#deadline }

  async connect (onClose: (error: Error) => void): Promise<void> { await this.#inner.connect(onClose) }
  async close (): Promise<void> { await this.#inner.close() }
  drop (reason: Error): void { this.#inner.drop(reason) }

  async tryAcquire (fullName: string, owner: string, queue: boolean): Promise<TryResult> {
    return await this.#call(`acquire '${fullName}'`, () => this.#inner.tryAcquire(fullName, owner, queue))
  }

  async leave (fullName: string, owner: string): Promise<void> {
    if (this.#inner.leave === undefined) return
    await this.#call(`leave the queue of '${fullName}'`, () => (this.#inner.leave as NonNullable<RemoteBackend['leave']>)(fullName, owner))
  }

  async release (fullName: string, owner: string): Promise<boolean> {
    return await this.#call(`release '${fullName}'`, () => this.#inner.release(fullName, owner))
  }

  async renew (locks: ReadonlyArray<{ fullName: string, owner: string }>): Promise<boolean[]> {
    return await this.#call('renew leases', () => this.#inner.renew(locks))
  }

  async isOwner (fullName: string, owner: string): Promise<boolean> {
    return await this.#call(`check the owner of '${fullName}'`, () => this.#inner.isOwner(fullName, owner))
  }

  async watch (fullName: string, owner: string): Promise<Watch> {
    return await this.#call(`watch '${fullName}'`, () => this.#inner.watch(fullName, owner))
  }

  /** Any other request on the backend's connection (a group store's), with the same deadline and typed errors. */
  async call<T> (what: string, request: () => Promise<T>): Promise<T> {
    return await this.#call(what, request)
  }

  isConnectionError (error: unknown): boolean {
    if (error instanceof CoordinationError) return error.code === 'ERR_COORDINATOR_DISCONNECTED' || error.code === 'ERR_COORDINATOR_UNANSWERED'
    return this.#inner.isConnectionError(error)
  }

  async #call<T> (what: string, request: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const unanswered = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const error = new CoordinationError('ERR_COORDINATOR_UNANSWERED', `No answer from ${this.#url} within ${this.#deadline} ms (${what}); the connection is treated as broken`)
        this.#inner.drop(error)
        reject(error)
      }, this.#deadline)
    })
    try {
      return await Promise.race([request(), unanswered])
    } catch (error) {
      throw this.#typed(error, what)
    } finally {
      clearTimeout(timer)
    }
  }

  #typed (error: unknown, what: string): Error {
    if (error instanceof CoordinationError) return error
    const message = (error as Error | undefined)?.message ?? String(error)
    if (this.#inner.isConnectionError(error)) {
      const typed = new CoordinationError('ERR_COORDINATOR_DISCONNECTED', `Cannot ${what} on ${this.#url}: ${message}`, error)
      this.#inner.drop(typed) // reconnect: to the new primary after a failover, or when the server is back
      return typed
    }
    return new CoordinationError('ERR_COORDINATOR_PROTOCOL', `Cannot ${what} on ${this.#url}: the server answered ${message}`, error)
  }
}
