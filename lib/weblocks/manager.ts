// The W3C Web Locks API (https://w3c.github.io/web-locks/) over a realm that
// reaches past this thread: a LockManager runs the specification's algorithm
// for its own requests (one queue per name, shared holders side by side,
// ifAvailable, steal, signal) and asks its realm for the lock every other
// client must be kept out of: a kernel lock in the lock directory, or a
// Coordinator's server lock.
import { threadId } from 'node:worker_threads'
import type {
  Realm, RealmClient, RealmEntry, RealmGrant, WebLockInfo, WebLockMode, WebLockOptions, WebLockSnapshot
} from './types'

/** `node-<pid>-<threadId>`: the clientId Node's own navigator.locks gives this thread. */
export const CLIENT_ID = `node-${process.pid}-${threadId}`

/** Nanoseconds of CLOCK_MONOTONIC (on Linux one clock for every process): the order of requests. */
export function now (): number {
  return Number(process.hrtime.bigint())
}

export function domError (name: string, message: string): DOMException {
  return new DOMException(message, name)
}

function typeError (message: string): TypeError {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_TYPE' })
}

const kCreate = Symbol('locksmith.weblock')

/** The Web Locks API's Lock: what the callback is given. `signal` and `fencingToken` are extensions. */
const kAbort = Symbol('locksmith.weblock.abort')

export class WebLock {
  readonly #name: string
  readonly #mode: WebLockMode
  readonly #token: number | undefined
  /** Made when `signal` is first read: most callbacks never look. */
  #controller: AbortController | undefined
  #aborted = false
  #reason: unknown

  /** @internal Lock objects are made by the LockManager only. */
  constructor (key: symbol, name: string, mode: WebLockMode, token: number | undefined) {
    if (key !== kCreate) throw new TypeError('Illegal constructor')
    this.#name = name
    this.#mode = mode
    this.#token = token
  }

  /** @internal The holding ended early (stolen, lost). */
  [kAbort] (reason: unknown): void {
    if (this.#aborted) return
    this.#aborted = true
    this.#reason = reason
    this.#controller?.abort(reason)
  }

  get name (): string { return this.#name }
  get mode (): WebLockMode { return this.#mode }
  /**
   * Extension: aborted when this holding ends before the callback does: the
   * lock was stolen (reason: an AbortError DOMException) or, for a
   * Coordinator's locks, lost (reason: LockLostError).
   */
  get signal (): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#aborted) this.#controller.abort(this.#reason)
    }
    return this.#controller.signal
  }
  /** Extension: the fencing token of a Coordinator's lock (undefined elsewhere). */
  get fencingToken (): number | undefined { return this.#token }
  get [Symbol.toStringTag] (): string { return 'Lock' }
}

interface Request {
  readonly name: string
  readonly mode: WebLockMode
  readonly callback: (lock: WebLock | null) => unknown
  readonly resolve: (value: unknown) => void
  readonly reject: (reason: unknown) => void
  readonly signal: AbortSignal | undefined
  readonly steal: boolean
  readonly ifAvailable: boolean
  readonly stealTimeout: number
  /** Its place in the pending list: the request time (a steal goes before the head of its queue). */
  at: number
  onAbort: (() => void) | undefined
  /** Ends the realm wait in progress for this request. */
  acquiring: AbortController | undefined
  grant: RealmGrant | undefined
  /** The Lock given to the callback. */
  lock: WebLock | undefined
  stolen: boolean
}

/**
 * The specification's lock request queues and held lock set for one realm, in
 * this thread. Every LockManager of this thread on the same realm shares one.
 */
export class Core implements RealmClient {
  readonly realm: Realm
  readonly #queues = new Map<string, Request[]>()
  /** Held requests in grant order. */
  readonly #held: Request[] = []
  /** name -> [holders, exclusive?] */
  readonly #holders = new Map<string, { count: number, exclusive: boolean }>()

  constructor (realm: Realm) {
    this.realm = realm
    realm.attach(this)
  }

  add (request: Request): void {
    const { name } = request
    if (request.ifAvailable) {
      // Not grantable now (someone queued, or a conflicting holder here): no realm call at all.
      if (this.#queues.has(name) || !this.#modeFits(request)) {
        queueMicrotask(() => this.#answerNull(request))
        return
      }
      this.#queues.set(name, [request])
      this.#process(name)
      return
    }
    let queue = this.#queues.get(name)
    if (queue === undefined) {
      queue = []
      this.#queues.set(name, queue)
    }
    if (request.steal) {
      for (const held of this.#held.filter((h) => h.name === name)) {
        this.#break(held, domError('AbortError', `The lock '${name}' was stolen by another request`))
      }
      const head = queue[0]
      if (head !== undefined) {
        this.#cancel(head)
        request.at = Math.min(request.at, head.at - 1)
      }
      queue.unshift(request)
    } else {
      queue.push(request)
    }
    const signal = request.signal
    if (signal !== undefined) {
      request.onAbort = () => this.#abort(request, signal.reason)
      signal.addEventListener('abort', request.onAbort, { once: true })
    }
    this.#process(name)
    this.realm.changed()
  }

  snapshot (): { held: RealmEntry[], pending: RealmEntry[] } {
    const entry = (request: Request, at: number): RealmEntry =>
      ({ name: request.name, mode: request.mode, clientId: CLIENT_ID, pid: process.pid, threadId, at })
    const pending: RealmEntry[] = []
    for (const queue of this.#queues.values()) {
      for (const request of queue) if (!request.ifAvailable) pending.push(entry(request, request.at))
    }
    return { held: this.#held.map((request) => entry(request, request.at)), pending }
  }

  /** Another client of the realm steals `name`: this thread's holders lose it, as to a local steal. */
  stolen (name: string): void {
    const held = this.#held.filter((h) => h.name === name)
    if (held.length === 0) return
    for (const request of held) this.#break(request, domError('AbortError', `The lock '${name}' was stolen by another process`))
    this.#process(name)
    this.realm.changed()
  }

  /** The mode rule of "grantable": no holder here it conflicts with. */
  #modeFits (request: Request): boolean {
    const holders = this.#holders.get(request.name)
    if (holders === undefined) return true
    return request.mode === 'shared' && !holders.exclusive
  }

  /** Grants the head of the queue and those after it, for as long as each is grantable. */
  #process (name: string): void {
    const queue = this.#queues.get(name)
    if (queue === undefined) return
    while (queue.length > 0) {
      const head = queue[0] as Request
      if (head.acquiring !== undefined || !this.#modeFits(head)) return
      if (head.steal || (!head.ifAvailable && !this.realm.syncTry)) return this.#wait(head)
      let outcome: RealmGrant | null | Promise<RealmGrant | null>
      try {
        outcome = this.realm.tryAcquire(name, head.mode)
      } catch (error) {
        queue.shift()
        this.#settle(head, false, error)
        continue
      }
      if (outcome instanceof Promise) {
        const controller = new AbortController()
        head.acquiring = controller
        outcome.then((grant) => this.#acquired(head, grant, controller), (error: unknown) => this.#failed(head, error, controller))
        return
      }
      if (outcome !== null) {
        this.#grant(head, outcome)
        continue
      }
      if (head.ifAvailable) {
        queue.shift()
        this.#answerNull(head)
        continue
      }
      return this.#wait(head)
    }
    this.#queues.delete(name)
  }

  #wait (head: Request): void {
    const controller = new AbortController()
    head.acquiring = controller
    let waiting: Promise<RealmGrant>
    try {
      waiting = this.realm.acquire({ name: head.name, mode: head.mode, steal: head.steal, signal: controller.signal, stealTimeout: head.stealTimeout })
    } catch (error) {
      waiting = Promise.reject(error)
    }
    waiting.then((grant) => this.#acquired(head, grant, controller), (error: unknown) => this.#failed(head, error, controller))
  }

  #acquired (head: Request, grant: RealmGrant | null, controller: AbortController): void {
    if (head.acquiring !== controller) { // given up meanwhile (aborted, or displaced by a steal)
      grant?.release()
      return
    }
    head.acquiring = undefined
    const queue = this.#queues.get(head.name)
    if (queue?.[0] !== head) {
      grant?.release()
      return
    }
    if (grant === null && !head.ifAvailable) return this.#wait(head)
    if (grant === null) {
      queue.shift()
      this.#answerNull(head)
    } else {
      this.#grant(head, grant)
    }
    this.#process(head.name)
  }

  #failed (head: Request, error: unknown, controller: AbortController): void {
    if (head.acquiring !== controller) return
    head.acquiring = undefined
    const queue = this.#queues.get(head.name)
    const index = queue?.indexOf(head) ?? -1
    if (index >= 0) queue?.splice(index, 1)
    this.#settle(head, false, error)
    this.#process(head.name)
    this.realm.changed()
  }

  /** Stops the realm wait of a request that stays queued (a steal went ahead of it). */
  #cancel (request: Request): void {
    const controller = request.acquiring
    if (controller === undefined) return
    request.acquiring = undefined
    controller.abort(domError('AbortError', 'displaced'))
  }

  #abort (request: Request, reason: unknown): void {
    const queue = this.#queues.get(request.name)
    const index = queue?.indexOf(request) ?? -1
    if (index < 0) return // granted already: the signal no longer matters
    queue?.splice(index, 1)
    this.#cancel(request)
    this.#settle(request, false, reason)
    this.#process(request.name)
    this.realm.changed()
  }

  #grant (request: Request, grant: RealmGrant): void {
    const queue = this.#queues.get(request.name) as Request[]
    queue.shift()
    if (request.onAbort !== undefined) request.signal?.removeEventListener('abort', request.onAbort)
    request.grant = grant
    request.at = now()
    this.#held.push(request)
    const holders = this.#holders.get(request.name)
    if (holders === undefined) this.#holders.set(request.name, { count: 1, exclusive: request.mode === 'exclusive' })
    else holders.count++
    const lock = new WebLock(kCreate, request.name, request.mode, grant.fencingToken)
    request.lock = lock
    const lost = grant.lost
    if (lost !== undefined) {
      if (lost.aborted) lock[kAbort](lost.reason)
      else lost.addEventListener('abort', () => lock[kAbort](lost.reason), { once: true })
    }
    this.realm.changed()
    // Never inside request() itself: the callback runs from the microtask queue.
    queueMicrotask(() => {
      let result: unknown
      try {
        result = request.callback(lock)
      } catch (error) {
        result = Promise.reject(error)
      }
      Promise.resolve(result).then((value) => this.#release(request, true, value), (error: unknown) => this.#release(request, false, error))
    })
  }

  /** The callback's promise settled: release, then settle the request's promise the same way. */
  #release (request: Request, ok: boolean, value: unknown): void {
    if (request.stolen) return // its promise was rejected when the lock was taken away
    this.#drop(request)
    this.#process(request.name)
    this.realm.changed()
    this.#settle(request, ok, value)
  }

  /** A steal: the holder's lock is released now, its promise rejects with AbortError. */
  #break (request: Request, reason: DOMException): void {
    request.stolen = true
    this.#drop(request)
    request.lock?.[kAbort](reason)
    this.#settle(request, false, reason)
  }

  #drop (request: Request): void {
    const index = this.#held.indexOf(request)
    if (index >= 0) this.#held.splice(index, 1)
    const holders = this.#holders.get(request.name)
    if (holders !== undefined && --holders.count === 0) this.#holders.delete(request.name)
    request.grant?.release()
  }

  #answerNull (request: Request): void {
    let result: unknown
    try {
      result = request.callback(null)
    } catch (error) {
      return this.#settle(request, false, error)
    }
    this.#settle(request, true, result)
  }

  #settle (request: Request, ok: boolean, value: unknown): void {
    if (request.onAbort !== undefined) request.signal?.removeEventListener('abort', request.onAbort)
    if (ok) request.resolve(value)
    else request.reject(value)
  }
}

/** A brand check: only a real AbortSignal has a working `aborted` getter. */
const abortedGetter = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')?.get as (this: AbortSignal) => boolean

function isAbortSignal (value: unknown): value is AbortSignal {
  if (!(value instanceof AbortSignal)) return false
  try {
    abortedGetter.call(value)
    return true
  } catch {
    return false
  }
}

/** WebIDL's DOMString conversion: anything but a Symbol becomes a string. */
function domString (value: unknown, what: string): string {
  if (typeof value === 'symbol') throw typeError(`The "${what}" argument is a Symbol and cannot be converted to a string`)
  return `${value as string}`
}

export interface ParsedRequest {
  name: string
  mode: WebLockMode
  ifAvailable: boolean
  steal: boolean
  signal: AbortSignal | undefined
  callback: (lock: WebLock | null) => unknown
}

/**
 * request()'s arguments as the WebIDL bindings and the specification's steps
 * read them: TypeError for what cannot be converted, NotSupportedError for
 * what the algorithm refuses, the signal's reason for an aborted signal.
 * Unknown option keys are ignored, as a WebIDL dictionary ignores them.
 */
export function parseRequest (args: unknown[]): ParsedRequest {
  if (args.length < 2) throw typeError('The "callback" argument must be of type function. Received undefined')
  const name = domString(args[0], 'name')
  const options = args.length === 2 ? undefined : args[1]
  const callback = args.length === 2 ? args[1] : args[2]
  if (options !== undefined && options !== null && typeof options !== 'object' && typeof options !== 'function') {
    throw typeError('The "options" argument cannot be converted to a dictionary (LockOptions)')
  }
  const dict = (options ?? {}) as Record<string, unknown>
  // Dictionary members are read in lexicographic order, as WebIDL does.
  const ifAvailable = Boolean(dict.ifAvailable)
  const rawMode = dict.mode
  const mode = rawMode === undefined ? 'exclusive' : domString(rawMode, 'options.mode')
  if (mode !== 'exclusive' && mode !== 'shared') {
    throw Object.assign(new TypeError(`The "options.mode" value '${mode}' is not a valid LockMode ('exclusive' or 'shared')`), { code: 'ERR_INVALID_ARG_VALUE' })
  }
  const rawSignal = dict.signal
  if (rawSignal !== undefined && !isAbortSignal(rawSignal)) throw typeError('The "options.signal" property must be an instance of AbortSignal')
  const signal = rawSignal as AbortSignal | undefined
  const steal = Boolean(dict.steal)
  if (typeof callback !== 'function') throw typeError(`The "callback" argument must be of type function. Received ${typeof callback}`)
  if (name.startsWith('-')) throw domError('NotSupportedError', "Lock names starting with '-' are reserved")
  if (steal && ifAvailable) throw domError('NotSupportedError', 'ifAvailable and steal are mutually exclusive')
  if (steal && mode !== 'exclusive') throw domError('NotSupportedError', "steal can only be used with mode 'exclusive'")
  if (signal !== undefined && (steal || ifAvailable)) throw domError('NotSupportedError', 'signal cannot be used with steal or ifAvailable')
  if (signal?.aborted === true) throw signal.reason
  return { name, mode, ifAvailable, steal, signal, callback: callback as (lock: WebLock | null) => unknown }
}

/** Runs a parsed request on a core; the promise settles as the specification says. */
export function submit (core: Core, parsed: ParsedRequest, stealTimeout: number): Promise<unknown> {
  if (parsed.mode === 'shared' && !core.realm.shared) {
    return Promise.reject(domError('NotSupportedError', "mode 'shared' is not supported by this LockManager's backend"))
  }
  return new Promise((resolve, reject) => {
    // An object literal, not a spread: V8 copies spreads on a slow path.
    core.add({
      name: parsed.name,
      mode: parsed.mode,
      callback: parsed.callback,
      signal: parsed.signal,
      steal: parsed.steal,
      ifAvailable: parsed.ifAvailable,
      resolve,
      reject,
      stealTimeout,
      at: now(),
      onAbort: undefined,
      acquiring: undefined,
      grant: undefined,
      lock: undefined,
      stolen: false
    })
  })
}

/** query(): this thread's requests and the realm's others, held in grant order, pending in request order. */
export async function snapshotOf (core: Core): Promise<WebLockSnapshot> {
  const mine = core.snapshot()
  const others = await core.realm.others(mine.held)
  const info = (entry: RealmEntry): WebLockInfo => {
    const result: WebLockInfo = { name: entry.name, mode: entry.mode, clientId: entry.clientId, pid: entry.pid }
    if (entry.threadId !== undefined) result.threadId = entry.threadId
    return result
  }
  const byTime = (a: RealmEntry, b: RealmEntry): number => a.at - b.at
  return {
    held: [...mine.held, ...others.held].sort(byTime).map(info),
    pending: [...mine.pending, ...others.pending].sort(byTime).map(info)
  }
}

export type { WebLockOptions }
