// A lock held through a server (Redis, PostgreSQL). The lease bookkeeping
// lives here, the same for every server: a holding is valid until the last
// confirmation's send time plus the lease (minus a drift margin); a timer
// declares it lost the moment that passes unconfirmed, so `acquired` is never
// true on a lease nobody can vouch for.
import { performance } from 'node:perf_hooks'
import { CoordinationError, LockLostError, LockTimeoutError } from '../errors'
import type { AcquireOptions } from '../wait-options'
import type { Gate } from './gate'
import { acquireSettings, alreadyHeld, alreadyPending } from './options'
import { sleep, WaitScope } from './scope'
import { kConfirm, kLose, kOwner, kShutdown, noop, type LeasedLock, type RemoteBackend, type Session, type TryResult, type Watch } from './session'

/** Clock drift and scheduling slack subtracted from every lease (as Redlock does). */
function driftMargin (lease: number): number {
  return Math.ceil(lease * 0.01) + 2
}

/** Settles like `promise`, or rejects with the signal's reason as soon as it aborts. */
function raceAbort<T> (promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then((value) => {
      signal.removeEventListener('abort', onAbort)
      resolve(value)
    }, (error: unknown) => {
      signal.removeEventListener('abort', onAbort)
      reject(error)
    })
  })
}

interface Holding {
  owner: string
  token: number
  validUntil: number
  timer: NodeJS.Timeout | undefined
  gate: Gate
}

export class RemoteLock implements LeasedLock {
  readonly name: string
  readonly fullName: string
  readonly #session: Session
  readonly #backend: RemoteBackend
  #holding: Holding | undefined
  #pending = false
  #controller = new AbortController()

  constructor (session: Session, backend: RemoteBackend, name: string, fullName: string) {
    this.#session = session
    this.#backend = backend
    this.name = name
    this.fullName = fullName
  }

  get acquired (): boolean {
    const holding = this.#holding
    if (holding !== undefined && performance.now() >= holding.validUntil) {
      this[kLose](holding.owner, new LockLostError(this.fullName, 'its lease ran out before it could be renewed'))
    }
    return this.#holding !== undefined
  }

  get fencingToken (): number | undefined {
    return this.acquired ? this.#holding?.token : undefined
  }

  get signal (): AbortSignal { return this.#controller.signal }

  get [kOwner] (): string | undefined { return this.#holding?.owner }

  async acquire (options?: AcquireOptions): Promise<boolean> {
    const { blocking, signal } = acquireSettings(options)
    this.#checkIdle()
    this.#session.checkRunning()
    if (signal?.aborted) throw signal.reason
    return await this.#acquire(blocking === false ? 'once' : blocking === true ? undefined : blocking, signal)
  }

  async block (options?: AcquireOptions): Promise<true> {
    const { blocking, signal } = acquireSettings(options)
    this.#checkIdle()
    this.#session.checkRunning()
    if (signal?.aborted) throw signal.reason
    await this.#acquire(typeof blocking === 'number' ? blocking : undefined, signal)
    return true
  }

  async release (): Promise<boolean> {
    if (!this.acquired) return false
    const holding = this.#holding as Holding
    this.#end(holding)
    let released: boolean
    try {
      released = await this.#backend.release(this.fullName, holding.owner)
    } catch (error) {
      // Unreachable or silent server: the lease runs out on its own (Redis,
      // etcd), or the session and its locks are already gone (PostgreSQL).
      // Either way this object no longer holds it, but nobody confirmed that
      // the server let it go: say so rather than report a release.
      this.#session.log({ event: 'release unconfirmed', names: [this.fullName] }, `release of ${this.fullName} not confirmed: ${(error as Error).message}`)
      const lease = this.#backend.lease
      throw new CoordinationError('ERR_COORDINATOR_RELEASE_UNCONFIRMED',
        `The release of '${this.fullName}' was not confirmed by the server (${(error as Error).message}); ` +
        (this.#backend.locksSurviveDisconnect && lease !== undefined
          ? `the server frees it when its lease runs out, at most ${lease} ms after the last renewal`
          : 'the server frees it when it notices the session is gone'), error)
    } finally {
      holding.gate.leave()
    }
    if (released) {
      if (this.#session.debug) this.#session.log({ event: 'released', names: [this.fullName] }, `released ${this.fullName} (token ${holding.token})`)
      return true
    }
    const error = new LockLostError(this.fullName, 'the server no longer had it as ours when it was released')
    this.#controller.abort(error)
    this.#session.lost(this, error)
    return false
  }

  async isStillOwner (): Promise<boolean> {
    if (!this.acquired) return false
    const owner = (this.#holding as Holding).owner
    let owned: boolean
    try {
      owned = await this.#backend.isOwner(this.fullName, owner)
    } catch {
      return false // cannot confirm now; the lease timer decides whether it is lost
    }
    if (!owned) this[kLose](owner, new LockLostError(this.fullName, 'the server no longer has it as ours'))
    return owned && this.acquired
  }

  async [Symbol.asyncDispose] (): Promise<void> {
    await this.release()
  }

  [kConfirm] (owner: string, sentAt: number): void {
    const holding = this.#holding
    if (holding === undefined || holding.owner !== owner) return
    this.#setLease(holding, sentAt)
  }

  [kLose] (owner: string, error: Error): void {
    const holding = this.#holding
    if (holding === undefined || holding.owner !== owner) return
    this.#end(holding)
    holding.gate.leave()
    this.#controller.abort(error)
    this.#session.log({ event: 'lost', names: [this.fullName] }, `lost ${this.fullName} (token ${holding.token}): ${error.message}`)
    this.#session.lost(this, error)
    // If the server still has it as ours, free it for others (compare-and-delete is safe).
    if (this.#session.connected) this.#backend.release(this.fullName, owner).catch(noop)
  }

  async [kShutdown] (reason: Error): Promise<void> {
    const holding = this.#holding
    if (holding === undefined) return
    this.#end(holding)
    this.#controller.abort(reason)
    try {
      await this.#backend.release(this.fullName, holding.owner)
    } catch {
      // the lease runs out on its own
    } finally {
      holding.gate.leave()
    }
  }

  #checkIdle (): void {
    if (this.#holding !== undefined && this.acquired) throw alreadyHeld(this.fullName)
    if (this.#pending) throw alreadyPending(this.fullName)
  }

  /** `timeout`: 'once' tries once; undefined waits for ever; a number waits that many ms. */
  async #acquire (timeout: 'once' | number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
    this.#pending = true
    const once = timeout === 'once' || timeout === 0
    // One owner value for the whole wait: on a FIFO backend it is the waiter's place in the queue.
    const owner = this.#session.newOwner()
    const started = performance.now()
    const gate = this.#session.gates.get(this.fullName)
    let entered = gate.tryEnter()
    let busy = false
    try {
      if (entered && signal === undefined && (once || timeout === undefined) && this.#session.connected) {
        // Fast path: one round trip, no timers or listeners.
        let result: TryResult | undefined
        try {
          result = await this.#try(gate, undefined, owner, !once)
        } catch (error) {
          // A blocking acquire waits out a broken connection in the slow path.
          if (once || !this.#backend.isConnectionError(error)) {
            gate.leave()
            throw error
          }
        }
        if (result?.token !== undefined) return this.#won(started)
        if (once) {
          gate.leave()
          return this.#busy(timeout)
        }
        busy = result !== undefined
      } else if (!entered && once) {
        return this.#busy(timeout)
      }
      const scope = new WaitScope(this.fullName, once ? undefined : timeout as number | undefined, [signal, this.#session.lifetime])
      try {
        if (!entered) {
          if (this.#session.debug) this.#session.log({ event: 'waiting', names: [this.fullName] }, `waiting for ${this.fullName}`)
          await gate.enter(scope.signal)
          entered = true
        }
        let won = false
        try {
          won = await this.#contend(once, scope, gate, busy, owner)
        } finally {
          if (!won) {
            gate.leave()
            if (!once && this.#backend.fifo === true) this.#leaveQueue(owner)
          }
        }
        return won ? this.#won(started) : this.#busy(timeout)
      } finally {
        scope.dispose()
      }
    } catch (error) {
      if (error instanceof LockTimeoutError && this.#session.debug) this.#session.log({ event: 'timed out', names: [this.fullName] }, `timed out waiting for ${this.fullName}`)
      throw error
    } finally {
      this.#pending = false
    }
  }

  #won (started: number): true {
    if (this.#session.debug) {
      const waitedMs = Math.round((performance.now() - started) * 10) / 10
      this.#session.log({ event: 'acquired', names: [this.fullName], waitedMs }, `acquired ${this.fullName} (token ${String(this.#holding?.token)}) after ${waitedMs.toFixed(1)} ms`)
    }
    return true
  }

  #busy (timeout: 'once' | number | undefined): false {
    if (timeout === 0) throw new LockTimeoutError(this.fullName, 0)
    if (this.#session.debug) this.#session.log({ event: 'busy', names: [this.fullName] }, `busy: ${this.fullName}`)
    return false
  }

  /**
   * One try. With a scope, an abort ends the wait for the reply at once; a
   * grant that arrives after that is given straight back. A grant that arrives
   * after the coordinator began stopping is given back too.
   */
  async #try (gate: Gate, scope: WaitScope | undefined, owner: string, queue: boolean): Promise<TryResult> {
    const sentAt = performance.now()
    const attempt = this.#backend.tryAcquire(this.fullName, owner, queue)
    let result: TryResult
    if (scope === undefined) {
      result = await attempt
    } else {
      try {
        result = await raceAbort(attempt, scope.signal)
      } catch (error) {
        if (scope.signal.aborted) attempt.then((late) => { if (late.token !== undefined) this.#giveBack(owner) }, noop)
        throw error
      }
    }
    if (result.token === undefined) return result
    const abandoned = scope?.signal.aborted === true ? scope.signal : this.#session.lifetime.aborted ? this.#session.lifetime : undefined
    if (abandoned !== undefined) {
      this.#giveBack(owner)
      throw abandoned.reason
    }
    this.#grant(owner, result.token, sentAt, gate)
    return result
  }

  #giveBack (owner: string): void {
    this.#backend.release(this.fullName, owner).catch(noop)
  }

  /** A waiter that gave up leaves the server's queue, so the ones behind it are not held up. */
  #leaveQueue (owner: string): void {
    // While disconnected the backend remembers it and leaves after the reconnect.
    this.#backend.leave?.(this.fullName, owner).catch(noop)
  }

  /** Tries, and (unless `once`) waits for a release notification or the poll bound between tries. */
  async #contend (once: boolean, scope: WaitScope, gate: Gate, busy: boolean, owner: string): Promise<boolean> {
    let watch: Watch | undefined
    try {
      for (;;) {
        scope.throwIfAborted()
        if (!this.#session.connected) {
          if (once) throw new CoordinationError('ERR_COORDINATOR_DISCONNECTED', `Not connected to the ${this.#backend.kind} server; cannot try '${this.fullName}'`)
          watch?.close()
          watch = undefined
          await this.#session.whenConnected(scope.signal)
        }
        try {
          // Once busy, listen before the next try, so a release between that try and the wait is not missed.
          if (busy && watch === undefined) watch = await raceAbort(this.#backend.watch(this.fullName, owner), scope.signal)
          const result = await this.#try(gate, scope, owner, !once)
          if (result.token !== undefined) return true
          if (once) return false
          busy = true
          if (watch === undefined) continue
          await watch.wait(Math.max(1, Math.min(result.retryAfter, this.#backend.pollInterval)), scope.signal)
        } catch (error) {
          if (scope.signal.aborted) throw scope.signal.reason
          if (once || !this.#backend.isConnectionError(error)) throw error
          // The connection is failing: wait a beat; the coordinator reconnects if it broke.
          watch?.close()
          watch = undefined
          await sleep(this.#session.settings.heartbeat, scope.signal)
        }
      }
    } finally {
      watch?.close()
    }
  }

  #grant (owner: string, token: number, sentAt: number, gate: Gate): void {
    if (this.#controller.signal.aborted) this.#controller = new AbortController()
    const holding: Holding = { owner, token, validUntil: Infinity, timer: undefined, gate }
    this.#holding = holding
    this.#setLease(holding, sentAt)
    this.#session.held(this)
  }

  #setLease (holding: Holding, sentAt: number): void {
    const lease = this.#backend.lease
    if (lease === undefined) return
    holding.validUntil = Math.max(holding.validUntil === Infinity ? 0 : holding.validUntil, sentAt + lease - driftMargin(lease))
    if (holding.timer !== undefined) clearTimeout(holding.timer)
    holding.timer = setTimeout(() => {
      holding.timer = undefined
      void this.acquired // declares the loss if the lease really ran out
      if (this.#holding === holding) this.#setLease(holding, sentAt) // a renewal raced the timer
    }, Math.max(0, holding.validUntil - performance.now()) + 1)
    holding.timer.unref()
  }

  #end (holding: Holding): void {
    if (holding.timer !== undefined) clearTimeout(holding.timer)
    holding.timer = undefined
    if (this.#holding === holding) this.#holding = undefined
    this.#session.dropped(this)
  }
}
