// etcd backend, over etcd's gRPC gateway (JSON over HTTP/1.1, /v3/...), with
// node:http only: no gRPC stack and no client package to install.
//
// The recipe is etcd's concurrency Mutex: each coordinator has one lease,
// kept alive by the heartbeat. A member that wants a name puts a key
// `locksmith/lock/<name>/<owner>` under its lease (only if that key does not
// exist yet); the holder is the key with the lowest creation revision under
// the name's prefix. A waiter watches its predecessor (the key created just
// before its own) for deletion and looks again, so waiters are served in the
// order they asked, across members, and nobody polls.
//
// Fencing token: the creation revision of the holder's key. Revisions are
// assigned by raft, grow by one per write cluster-wide, never repeat, and
// survive restarts and leader changes (they are in the replicated log), so
// the token needs no clock.
//
// Lease: a member that stops renewing (crash, pause, partition) loses its
// lease after its TTL; etcd deletes its keys, and the next waiter's watch
// fires. etcd rounds a TTL up to whole seconds, and to at least its minimum
// (1.5 election timeouts; 2 s by default).
//
// With compat: 'tooz' a name is tooz's single key instead, with no queue
// (tooz-etcd.ts); the lease, the watch and the revision token stay.
import { Agent, request, type IncomingMessage } from 'node:http'
import { CoordinationError } from '../errors'
import type { RemoteBackend, TryResult, Watch } from './session'
import { ChannelWatch } from './watch'
import type { Endpoint } from './url'

const PREFIX = 'locksmith/lock/'

export const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64')
export const unb64 = (text: string | undefined): string => Buffer.from(text ?? '', 'base64').toString('utf8')

/** The key range just past every key that starts with `prefix`. */
export function rangeEnd (prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8')
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) + 1
  return bytes.toString('base64')
}

export const namePrefix = (fullName: string): string => `${PREFIX}${encodeURIComponent(fullName)}/`
const ownerKey = (fullName: string, owner: string): string => `${namePrefix(fullName)}${encodeURIComponent(owner)}`

interface KeyValue { key?: string, value?: string, create_revision?: string, mod_revision?: string, lease?: string }
interface Header { cluster_id?: string, member_id?: string, revision?: string, raft_term?: string }
export interface RangeResponse { header?: Header, kvs?: KeyValue[], count?: string }
export interface TxnResponse { header?: Header, succeeded?: boolean, responses?: Array<{ response_range?: RangeResponse, response_put?: unknown, response_delete_range?: unknown }> }

/** An error answer from etcd (HTTP status and gRPC code). */
export class EtcdError extends Error {
  readonly status: number
  readonly grpcCode: number | undefined
  constructor (status: number, message: string, grpcCode: number | undefined) {
    super(message)
    this.name = 'EtcdError'
    this.status = status
    this.grpcCode = grpcCode
  }
}

/** gRPC codes that mean "this member cannot serve now": unavailable, deadline exceeded, aborted, internal, unknown. */
const RETRY_CODES = new Set([1, 2, 4, 10, 13, 14])

/** The place of a waiter in a name's queue: the key (base64) to watch for deletion, from the revision after `revision`. */
interface Place { predecessor: string, revision: number }

/** One JSON request to etcd's gateway. */
export type Post = <T>(path: string, body: unknown) => Promise<T>

/**
 * Another library's layout (compat: 'tooz', tooz-etcd.ts) instead of
 * locksmith's queue: a name is one key, created by its holder under its lease.
 */
export interface EtcdLayout {
  /** The key of `fullName`, or undefined to leave the name in locksmith's layout. */
  key: (fullName: string) => string | undefined
  /** One try: the token, or the place to watch from. */
  tryAcquire: (post: Post, key: string, owner: string, lease: string) => Promise<{ token: number, place?: undefined } | { token?: undefined, place: Place }>
  isOwner: (post: Post, key: string, owner: string) => Promise<boolean>
}

export class EtcdBackend implements RemoteBackend {
  readonly kind = 'etcd' as const
  readonly locksSurviveDisconnect = true
  /** FIFO across members, except for the names a layout takes (one key each, no queue). */
  readonly fifo = true
  readonly pollInterval: number
  readonly #endpoints: Endpoint[]
  readonly #leaseTtl: number
  readonly #requestTimeout: number
  #agent = new Agent({ keepAlive: true, maxSockets: 16 })
  #current = 0
  #leaseId: string | undefined
  #lease = 0
  #onClose: ((error: Error) => void) | undefined
  /** owner -> its place in the queue, from its last busy try. */
  readonly #places = new Map<string, Place>()
  readonly #watches = new Set<EtcdWatch>()
  /** Keys of tries that got no answer (owner -> key): maybe written, never wanted. */
  readonly #uncertain = new Map<string, string>()
  /** owner -> its try under way. */
  readonly #inflight = new Map<string, Promise<TryResult>>()
  readonly #layout: EtcdLayout | undefined
  readonly #postBound: Post = async (path, body) => await this.#post(path, body)

  constructor (endpoints: Endpoint[], leaseTtl: number, layout?: EtcdLayout) {
    this.#endpoints = endpoints
    this.#leaseTtl = leaseTtl
    this.#requestTimeout = leaseTtl
    this.pollInterval = leaseTtl
    this.#layout = layout
  }

  /** The layout's key for the name, if a layout takes it. */
  #singleKey (fullName: string): string | undefined {
    return this.#layout?.key(fullName)
  }

  #key (fullName: string, owner: string): string {
    return this.#singleKey(fullName) ?? ownerKey(fullName, owner)
  }

  get lease (): number { return this.#lease }

  async connect (onClose: (error: Error) => void): Promise<void> {
    let lastError: unknown
    // Each member in turn, starting with the one that worked last.
    for (let i = 0; i < this.#endpoints.length; i++) {
      try {
        await this.#handshake()
        this.#onClose = onClose
        return
      } catch (error) {
        lastError = error
        if (error instanceof CoordinationError && error.code === 'ERR_COORDINATOR_PROTOCOL') throw error
        this.#current = (this.#current + 1) % this.#endpoints.length
      }
    }
    this.#agent.destroy() // no socket outlives a failed connect
    this.#agent = new Agent({ keepAlive: true, maxSockets: 16 })
    throw lastError
  }

  async #handshake (): Promise<void> {
    const status = await this.#post<{ version?: string, header?: Header }>('/v3/maintenance/status', {})
    if (typeof status?.version !== 'string' || status.header?.cluster_id === undefined) {
      throw new CoordinationError('ERR_COORDINATOR_PROTOCOL', `${this.#base()} answered /v3/maintenance/status, but not like etcd`)
    }
    if (this.#leaseId !== undefined && await this.#keepAlive(this.#leaseId) > 0) {
      // The lease survived the outage; keys of tries whose answer was lost are deleted.
      for (const [owner, key] of [...this.#uncertain]) {
        await this.#post('/v3/kv/txn', {
          compare: [{ key: b64(key), target: 'VALUE', result: 'EQUAL', value: b64(owner) }],
          success: [{ request_delete_range: { key: b64(key) } }]
        })
        this.#uncertain.delete(owner)
      }
      return
    }
    this.#uncertain.clear() // they went with the old lease
    const ttl = Math.max(1, Math.ceil(this.#leaseTtl / 1000))
    const granted = await this.#post<{ ID?: string, TTL?: string, error?: string }>('/v3/lease/grant', { TTL: String(ttl) })
    if (granted.ID === undefined || granted.error !== undefined) throw new CoordinationError('ERR_COORDINATOR_PROTOCOL', `etcd granted no lease: ${String(granted.error)}`)
    this.#leaseId = granted.ID
    // Local validity never exceeds what was asked: the server may round the TTL up, never down.
    this.#lease = Math.min(this.#leaseTtl, Number(granted.TTL ?? ttl) * 1000)
  }

  async close (): Promise<void> {
    const lease = this.#leaseId
    this.#onClose = undefined
    this.#closeWatches()
    this.#places.clear()
    this.#leaseId = undefined
    // Revoking the lease deletes every key this member has, held or queued, at once.
    if (lease !== undefined) await this.#post('/v3/lease/revoke', { ID: lease }).catch(() => {})
    this.#agent.destroy()
    this.#agent = new Agent({ keepAlive: true, maxSockets: 16 })
  }

  drop (reason: Error): void {
    const onClose = this.#onClose
    if (onClose === undefined) return
    this.#onClose = undefined
    this.#closeWatches()
    this.#agent.destroy()
    this.#agent = new Agent({ keepAlive: true, maxSockets: 16 })
    // The next attempt tries the next member of the cluster.
    this.#current = (this.#current + 1) % this.#endpoints.length
    onClose(reason)
  }

  async tryAcquire (fullName: string, owner: string, queue: boolean): Promise<TryResult> {
    const attempt = this.#tryAcquire(fullName, owner, queue)
    this.#inflight.set(owner, attempt)
    try {
      return await attempt
    } catch (error) {
      // The put may have been applied even though no answer came back; the
      // key would live on under this member's lease, renewed by its own
      // heartbeat, and block the name for ever. Delete it once connected again.
      this.#uncertain.set(owner, this.#key(fullName, owner))
      throw error
    } finally {
      if (this.#inflight.get(owner) === attempt) this.#inflight.delete(owner)
    }
  }

  async #tryAcquire (fullName: string, owner: string, queue: boolean): Promise<TryResult> {
    const lease = this.#requireLease()
    const single = this.#singleKey(fullName)
    if (this.#layout !== undefined && single !== undefined) {
      const { token, place } = await this.#layout.tryAcquire(this.#postBound, single, owner, lease)
      // No queue to leave: a waiter's place goes with its watch (or its last try).
      if (place === undefined || !queue) this.#places.delete(owner)
      else this.#places.set(owner, place)
      return token !== undefined ? { token } : { token: undefined, retryAfter: this.pollInterval }
    }
    const key = ownerKey(fullName, owner)
    const prefix = namePrefix(fullName)
    // Put our key unless it is there already (a waiter's earlier try), then read the head of the queue.
    const txn = await this.#post<TxnResponse>('/v3/kv/txn', {
      compare: [{ key: b64(key), target: 'CREATE', result: 'EQUAL', create_revision: '0' }],
      success: [
        { request_put: { key: b64(key), value: b64(owner), lease } },
        { request_range: { key: b64(prefix), range_end: rangeEnd(prefix), sort_order: 'ASCEND', sort_target: 'CREATE', limit: '1' } }
      ],
      failure: [
        { request_range: { key: b64(key) } },
        { request_range: { key: b64(prefix), range_end: rangeEnd(prefix), sort_order: 'ASCEND', sort_target: 'CREATE', limit: '1' } }
      ]
    })
    const revision = Number(txn.header?.revision)
    const mine = txn.succeeded === true ? revision : Number(txn.responses?.[0]?.response_range?.kvs?.[0]?.create_revision)
    const head = txn.responses?.[1]?.response_range?.kvs?.[0]
    if (!Number.isSafeInteger(mine) || head === undefined) throw new CoordinationError('ERR_COORDINATOR_PROTOCOL', `etcd answered a lock transaction for '${fullName}' without the keys it wrote`)
    if (Number(head.create_revision) === mine) {
      this.#places.delete(owner)
      return { token: mine }
    }
    if (!queue) {
      await this.#post('/v3/kv/deleterange', { key: b64(key) })
      return { token: undefined, retryAfter: this.pollInterval }
    }
    // Busy: find the key just ahead of ours, to watch for its deletion.
    const ahead = await this.#post<RangeResponse>('/v3/kv/range', {
      key: b64(prefix), range_end: rangeEnd(prefix), sort_order: 'DESCEND', sort_target: 'CREATE', max_create_revision: String(mine - 1), limit: '1'
    })
    const predecessor = ahead.kvs?.[0]?.key
    if (predecessor === undefined) return { token: undefined, retryAfter: 0 } // it went away meanwhile: look again now
    this.#places.set(owner, { predecessor, revision: Number(ahead.header?.revision ?? revision) })
    return { token: undefined, retryAfter: this.pollInterval }
  }

  async leave (fullName: string, owner: string): Promise<void> {
    // Requests travel on parallel sockets: a try still under way (its waiter
    // gave up) could put the key after this delete. Delete after it settles.
    await this.#inflight.get(owner)?.catch(() => {})
    this.#places.delete(owner)
    await this.release(fullName, owner)
  }

  async release (fullName: string, owner: string): Promise<boolean> {
    const key = b64(this.#key(fullName, owner))
    const txn = await this.#post<TxnResponse>('/v3/kv/txn', {
      compare: [{ key, target: 'VALUE', result: 'EQUAL', value: b64(owner) }],
      success: [{ request_delete_range: { key } }]
    })
    return txn.succeeded === true
  }

  async renew (locks: ReadonlyArray<{ fullName: string, owner: string }>): Promise<boolean[]> {
    const lease = this.#requireLease()
    const ttl = await this.#keepAlive(lease)
    if (ttl <= 0) {
      // The lease ran out (a pause, a long outage): every key under it is gone. Report the
      // locks lost, and start over with a new lease through a reconnect.
      this.#leaseId = undefined
      const error = new CoordinationError('ERR_COORDINATOR_DISCONNECTED', 'The etcd lease of this member expired')
      setImmediate(() => this.drop(error))
      return locks.map(() => false)
    }
    if (locks.length === 0) return []
    // Keys can also vanish by hand (etcdctl del): check each is still ours.
    const txn = await this.#post<TxnResponse>('/v3/kv/txn', {
      success: locks.map(({ fullName, owner }) => ({ request_range: { key: b64(this.#key(fullName, owner)) } }))
    })
    return locks.map(({ owner }, index) => {
      const kv = txn.responses?.[index]?.response_range?.kvs?.[0]
      return kv !== undefined && unb64(kv.value) === owner && kv.lease === lease
    })
  }

  async isOwner (fullName: string, owner: string): Promise<boolean> {
    const single = this.#singleKey(fullName)
    if (this.#layout !== undefined && single !== undefined) return await this.#layout.isOwner(this.#postBound, single, owner)
    const prefix = namePrefix(fullName)
    const head = await this.#post<RangeResponse>('/v3/kv/range', {
      key: b64(prefix), range_end: rangeEnd(prefix), sort_order: 'ASCEND', sort_target: 'CREATE', limit: '1'
    })
    const kv = head.kvs?.[0]
    return kv !== undefined && unb64(kv.key) === ownerKey(fullName, owner) && unb64(kv.value) === owner
  }

  async watch (fullName: string, owner: string): Promise<Watch> {
    this.#requireLease()
    const single = this.#singleKey(fullName) !== undefined
    const watch = new EtcdWatch(() => this.#places.get(owner), (path, body, onObject) => this.#stream(path, body, onObject), (closing) => {
      this.#watches.delete(closing)
      if (single) this.#places.delete(owner)
    })
    this.#watches.add(watch)
    return watch
  }

  isConnectionError (error: unknown): boolean {
    if (error instanceof EtcdError) return error.status >= 500 || (error.grpcCode !== undefined && RETRY_CODES.has(error.grpcCode))
    if (error instanceof CoordinationError) return error.code !== 'ERR_COORDINATOR_PROTOCOL'
    return true // sockets: refused, reset, timed out
  }

  /** One request, for the group store (groups-etcd.ts). */
  async request<T> (path: string, body: unknown): Promise<T> {
    return await this.#post<T>(path, body)
  }

  /** This member's lease (its keys go with it); throws while disconnected. */
  currentLease (): string {
    return this.#requireLease()
  }

  #requireLease (): string {
    if (this.#onClose === undefined || this.#leaseId === undefined) throw new CoordinationError('ERR_COORDINATOR_DISCONNECTED', 'Not connected to etcd')
    return this.#leaseId
  }

  /** The lease's remaining TTL in seconds after a keep-alive; 0 if it no longer exists. */
  async #keepAlive (lease: string): Promise<number> {
    const reply = await this.#post<{ result?: { TTL?: string }, error?: { grpc_code?: number, message?: string } }>('/v3/lease/keepalive', { ID: lease })
    if (reply.error?.grpc_code === 5) return 0 // NOT_FOUND: the lease expired
    if (reply.error !== undefined) throw new EtcdError(503, `etcd keep-alive failed: ${String(reply.error.message)}`, reply.error.grpc_code)
    return Number(reply.result?.TTL ?? 0)
  }

  #closeWatches (): void {
    for (const watch of [...this.#watches]) watch.broken()
    this.#watches.clear()
  }

  #base (): string {
    const { host, port } = this.#endpoints[this.#current] as Endpoint
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  }

  #send (path: string, body: unknown): { response: Promise<IncomingMessage>, abort: () => void } {
    const url = new URL(path, this.#base())
    const payload = JSON.stringify(body)
    let abort = (): void => {}
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(url, {
        method: 'POST',
        agent: this.#agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
      }, resolve)
      req.on('error', reject)
      abort = () => req.destroy()
      req.end(payload)
    })
    return { response, abort }
  }

  /** One request, one JSON answer. */
  async #post<T> (path: string, body: unknown): Promise<T> {
    const { response, abort } = this.#send(path, body)
    const timer = setTimeout(abort, this.#requestTimeout)
    try {
      const res = await response
      const chunks: Buffer[] = []
      for await (const chunk of res) chunks.push(chunk as Buffer)
      const text = Buffer.concat(chunks).toString('utf8')
      let parsed: Record<string, unknown>
      try {
        parsed = JSON.parse(text) as Record<string, unknown>
      } catch {
        throw new CoordinationError('ERR_COORDINATOR_PROTOCOL', `${this.#base()}${path} answered HTTP ${String(res.statusCode)} with something other than JSON (not an etcd gRPC gateway?)`)
      }
      if (res.statusCode !== 200) {
        const message = typeof parsed.message === 'string' ? parsed.message : typeof parsed.error === 'string' ? parsed.error : text.slice(0, 200)
        throw new EtcdError(res.statusCode ?? 0, `etcd: ${message}`, typeof parsed.code === 'number' ? parsed.code : undefined)
      }
      return parsed as T
    } finally {
      clearTimeout(timer)
    }
  }

  /** A streaming request (watch): `onObject` for each JSON object; the returned function ends it. */
  #stream (path: string, body: unknown, onObject: (object: Record<string, unknown> | undefined) => void): () => void {
    const { response, abort } = this.#send(path, body)
    let ended = false
    const end = (object?: Record<string, unknown>): void => {
      if (ended) return
      ended = true
      onObject(object)
    }
    response.then((res) => {
      let buffered = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffered += chunk
        let newline: number
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim()
          buffered = buffered.slice(newline + 1)
          if (line === '') continue
          try {
            if (!ended) onObject(JSON.parse(line) as Record<string, unknown>)
          } catch {
            end() // not a watch answer: wake the waiter, which looks again
          }
        }
      })
      res.on('end', () => end())
      res.on('error', () => end())
    }, () => end())
    return () => {
      ended = true
      abort()
    }
  }
}

type Streamer = (path: string, body: unknown, onObject: (object: Record<string, unknown> | undefined) => void) => () => void

/**
 * Waits for the deletion of the waiter's predecessor key, from the revision
 * of the try that found it (so a deletion between that try and the watch is
 * not missed). A new predecessor after a later try gets a new watch.
 */
class EtcdWatch extends ChannelWatch implements Watch {
  readonly #place: () => Place | undefined
  readonly #streamer: Streamer
  #watching: Place | undefined
  #stop: (() => void) | undefined

  constructor (place: () => Place | undefined, streamer: Streamer, onClose: (watch: EtcdWatch) => void) {
    super((watch) => onClose(watch as EtcdWatch))
    this.#place = place
    this.#streamer = streamer
  }

  /** The connection went: wake the waiter so it notices. */
  broken (): void {
    this.#stop?.()
    this.#stop = undefined
    this.#watching = undefined
    this.notify()
  }

  override wait (ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason)
    const place = this.#place()
    if (place === undefined) return Promise.resolve() // no predecessor known: look again now
    if (place !== this.#watching) this.#follow(place)
    return super.wait(ms, signal)
  }

  #follow (place: Place): void {
    this.#stop?.()
    this.#watching = place
    this.discard()
    this.#stop = this.#streamer('/v3/watch', {
      create_request: { key: place.predecessor, start_revision: String(place.revision + 1), filters: ['NOPUT'] }
    }, (object) => {
      const result = object?.result as { events?: unknown[], canceled?: boolean, compact_revision?: string } | undefined
      // A deletion, a cancelled or compacted watch, or the stream ending: look again.
      if (object === undefined || result === undefined || result.canceled === true || (result.events?.length ?? 0) > 0 || result.compact_revision !== undefined) {
        if (this.#watching === place) {
          this.#stop?.()
          this.#stop = undefined
          this.#watching = undefined
        }
        this.notify()
      }
    })
  }

  override close (): void {
    this.#stop?.()
    this.#stop = undefined
    super.close()
  }
}
