// PostgreSQL backend: session-level advisory locks on one connection per
// coordinator. One connection runs one query at a time, so a blocking
// pg_advisory_lock() would stall every other lock of the coordinator; instead
// a try (pg_try_advisory_lock) is followed by waiting for a NOTIFY that the
// releasing member sends, with a poll every heartbeat as the fallback for a
// holder whose session ended without releasing (crash, lease expiry).
//
// Lease: the session sets idle_session_timeout (PostgreSQL 14+) to the lease,
// and the heartbeat queries more often than that. A member that stops (paused,
// partitioned, host gone) goes idle, the server ends its session, and its
// advisory locks go with it. Before 14 there is no lease: a lock is held for
// as long as the connection lives.
//
// Fencing tokens: a row per name in locksmith_fencing, incremented by the same
// statement that takes the advisory lock, never below the server clock in
// microseconds (so a restored backup cannot bring old tokens back).
//
// Order among members: a waiter has a row in locksmith_waiters (its place in
// line, and an expiry one lease ahead by the server clock, renewed by each of
// its tries); the free lock goes to the oldest live row, or to anyone when
// there is none. A crashed or paused waiter holds up the line for one lease at
// most. A blocking pg_advisory_lock() would be queued in order by the server
// too, but it occupies a connection for the whole wait: a connection per
// waiting name, each outside the lease (a busy session never idles out).
//
// Keys: the first 64 bits of the name's SHA-256, one bigint. With compat:
// 'tooz', tooz's pair of small integers instead (tooz-postgres.ts), taken by
// SINGLE_ACQUIRE without the line: tooz's members would not keep to it.
import { createHash } from 'node:crypto'
import type { Client, ClientConfig, Notification, QueryResult, QueryResultRow } from 'pg'
import { checkClientVersion } from './driver'
import { GROUP_TABLES, GROUPS, LEADERS, MEMBERS } from './postgres-group-tables'
import { CoordinationError } from '../errors'
import type { RemoteBackend, TryResult, Watch } from './session'
import { ChannelWatch } from './watch'

type Pg = typeof import('pg')

const CHANNEL = 'locksmith_released'
const TABLE = 'locksmith_fencing'

const WAITERS = 'locksmith_waiters'
const TRY = 'locksmith_try_acquire'

// One round trip per try: drop expired rows, find the head of the line, take
// the advisory lock only if it is free and nobody else is first, and advance
// the token in the same call; a busy try with `queue` keeps (or takes) a place.
const TRY_FUNCTION = `CREATE OR REPLACE FUNCTION ${TRY} (lock_key bigint, lock_name text, waiter text, queue boolean, ttl_ms integer)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  head text;
  granted bigint;
BEGIN
  DELETE FROM ${WAITERS} WHERE name = lock_name AND expires <= clock_timestamp();
  SELECT w.owner INTO head FROM ${WAITERS} w WHERE w.name = lock_name ORDER BY w.place LIMIT 1;
  IF (head IS NULL OR head = waiter) AND pg_try_advisory_lock(lock_key) THEN
    IF head IS NOT NULL THEN
      DELETE FROM ${WAITERS} WHERE name = lock_name AND owner = waiter;
    END IF;
    INSERT INTO ${TABLE} AS f (name, token) VALUES (lock_name, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)
    ON CONFLICT (name) DO UPDATE SET token = GREATEST(f.token + 1, EXCLUDED.token)
    RETURNING f.token INTO granted;
    RETURN granted;
  END IF;
  IF queue THEN
    INSERT INTO ${WAITERS} (name, owner, expires) VALUES (lock_name, waiter, clock_timestamp() + ttl_ms * interval '1 millisecond')
    ON CONFLICT (name, owner) DO UPDATE SET expires = EXCLUDED.expires;
  END IF;
  RETURN NULL;
END
$$`

const ACQUIRE = `SELECT ${TRY}($1::bigint, $2::text, $3::text, $4::boolean, $5::integer) AS token`

const LEAVE = `WITH gone AS (DELETE FROM ${WAITERS} WHERE name = $1 AND owner = $2 RETURNING 1)
SELECT pg_notify($3, $4) FROM gone`

// Another library's advisory keys (compat: 'tooz'): a plain try, as its own
// members make, and the token; no line. $1, $2: the two int4 keys.
const SINGLE_ACQUIRE = `WITH attempt AS (SELECT pg_try_advisory_lock($1::integer, $2::integer) AS won)
INSERT INTO ${TABLE} AS f (name, token)
SELECT $3, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint FROM attempt WHERE won
ON CONFLICT (name) DO UPDATE SET token = GREATEST(f.token + 1, EXCLUDED.token)
RETURNING token`
const SINGLE_UNLOCK = 'SELECT pg_advisory_unlock($1::integer, $2::integer)'
const SINGLE_RELEASE = 'SELECT pg_advisory_unlock($1::integer, $2::integer) AS released, pg_notify($3, $4)'

/** Serializes the creation of the tables and the function among members connecting at once. */
const SETUP_KEY = '7236498123019847123'

// objsubid 1: one bigint key; 2: a pair of int4 keys.
const HELD = `SELECT pg_backend_pid() AS pid, ARRAY(SELECT classid::text || ':' || objid::text || ':' || objsubid::text FROM pg_locks
WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()) AS ids`

function loadClient (): Pg {
  let client: Pg
  try {
    // Loaded on first use: programs that only lock files never load it.
    client = require('pg') as Pg
  } catch (error) {
    throw new CoordinationError('ERR_COORDINATOR_DRIVER_MISSING', "The postgresql:// backend needs the 'pg' package: npm install pg", error)
  }
  checkClientVersion('pg')
  return client
}

/**
 * A name as text: PostgreSQL text cannot hold NUL, which only the names of
 * group leadership locks have (groups.ts); there it becomes U+F0000, a
 * private-use character. The advisory key is still the hash of the name itself.
 */
function textName (fullName: string): string {
  return fullName.includes('\0') ? fullName.replaceAll('\0', '\u{F0000}') : fullName
}

/** The advisory lock key of a name: the first 64 bits of its SHA-256, signed. */
export function advisoryKey (fullName: string): bigint {
  return createHash('sha256').update(fullName).digest().readBigInt64BE(0)
}

/** How pg_locks shows a bigint advisory key: classid (high 32 bits) ':' objid (low 32 bits). */
export function lockId (key: bigint): string {
  const unsigned = BigInt.asUintN(64, key)
  return `${unsigned >> 32n}:${unsigned & 0xffffffffn}`
}

/** Another library's advisory lock for a name: a pair of int4 keys. */
export interface AdvisoryPair {
  /** The two keys, as pg_advisory_lock(int4, int4) takes them. */
  values: [number, number]
  /** The key in this session's bookkeeping, and the payload of its release NOTIFY (never a bigint key's decimal). */
  id: string
  /** How pg_locks shows it: classid ':' objid ':' objsubid (2). */
  shown: string
}

/** Another library's advisory keys (compat: 'tooz', tooz-postgres.ts), for the names it takes (undefined: locksmith's key). */
export interface AdvisoryKeys {
  key: (fullName: string) => AdvisoryPair | undefined
}

export class PostgresBackend implements RemoteBackend {
  readonly kind = 'postgresql' as const
  readonly locksSurviveDisconnect = false
  /** FIFO across members, except for the names another library's keys take (those have no line). */
  readonly fifo = true
  readonly pollInterval: number
  readonly #url: string
  readonly #leaseTtl: number
  #lease: number | undefined
  #backendPid: number | undefined
  #client: Client | undefined
  /** Key -> owner value of the holding this session has (advisory locks cannot tell our lock objects apart). */
  readonly #owners = new Map<string, string>()
  readonly #watches = new Map<string, Set<ChannelWatch>>()
  /** The connection runs one query at a time; requests queue here, in order. */
  #tail: Promise<unknown> = Promise.resolve()
  /** Ends the current connection as broken (set while connected). */
  #closed: ((reason?: Error) => void) | undefined
  readonly #pairs: AdvisoryKeys | undefined

  constructor (url: URL, leaseTtl: number, heartbeat: number, pairs?: AdvisoryKeys) {
    this.#url = url.href
    this.#leaseTtl = leaseTtl
    this.pollInterval = heartbeat
    this.#pairs = pairs
  }

  get lease (): number | undefined { return this.#lease }

  async connect (onClose: (error: Error) => void): Promise<void> {
    const pg = loadClient()
    const config: ClientConfig = {
      connectionString: this.#url,
      keepAlive: true,
      connectionTimeoutMillis: Math.min(10_000, Math.max(1000, this.#leaseTtl)),
      query_timeout: Math.max(1000, this.#leaseTtl),
      application_name: 'locksmith'
    }
    const client = new pg.Client(config)
    let lastError: Error | undefined
    const closed = (reason?: Error): void => {
      if (this.#client !== client) return // not open yet, or closed on purpose
      void this.#teardown()
      onClose(reason ?? lastError ?? new CoordinationError('ERR_COORDINATOR_DISCONNECTED', 'Connection to the PostgreSQL server closed'))
    }
    client.on('error', (error: Error) => {
      lastError = error
      closed()
    })
    client.on('end', () => closed())
    client.on('notification', (message: Notification) => this.#notified(message))
    try {
      await client.connect()
      const version = Number((await client.query<{ server_version_num: string }>('SHOW server_version_num')).rows[0]?.server_version_num)
      if (version >= 140000) {
        await client.query("SELECT set_config('idle_session_timeout', $1, false)", [String(this.#leaseTtl)])
        this.#lease = this.#leaseTtl
      } else {
        this.#lease = undefined
      }
      // The token upsert need not wait for its WAL flush: a commit lost in a crash
      // takes its token back, and the clock floor (GREATEST with the time in
      // microseconds) still puts the next token above it.
      await client.query("SELECT set_config('synchronous_commit', 'off', false)")
      await this.#ensureSchema(client)
      await client.query(`LISTEN ${CHANNEL}`)
      // Session locks need one server session: a pooler in transaction mode
      // (PgBouncer pool_mode=transaction) hands each statement to any backend.
      // The backend's pid is checked on every heartbeat.
      this.#backendPid = Number((await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid)
    } catch (error) {
      await client.end().catch(() => {})
      // end() only half-closes the socket; a silent server would keep it open.
      ;(client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream?.destroy?.()
      throw error
    }
    this.#tail = Promise.resolve()
    this.#client = client
    this.#closed = closed
  }

  drop (reason: Error): void {
    const closed = this.#closed
    if (closed !== undefined) closed(reason)
  }

  async close (): Promise<void> {
    await this.#teardown()
  }

  /** How often a queued waiter tries again, which renews its row (it lives one lease). */
  get #refresh (): number { return Math.max(1, Math.min(this.pollInterval, Math.floor(this.#leaseTtl / 3))) }

  async tryAcquire (fullName: string, owner: string, queue: boolean): Promise<TryResult> {
    const pair = this.#pairs?.key(fullName)
    if (pair !== undefined) return await this.#trySingle(fullName, pair, owner)
    const key = advisoryKey(fullName).toString()
    const token = await this.#enqueue(async (client) => {
      // Advisory locks are reentrant within a session: never ask for one this session holds.
      if (this.#owners.has(key)) return undefined
      let granted: string | undefined
      try {
        granted = (await client.query<{ token: string | null }>(ACQUIRE, [key, textName(fullName), owner, queue, this.#leaseTtl])).rows[0]?.token ?? undefined
      } catch (error) {
        // The lock may have been granted before the counter update failed: give it back.
        if (!this.isConnectionError(error)) await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch(() => {})
        throw error
      }
      if (granted !== undefined) this.#owners.set(key, owner) // inside the queue: the next request sees it
      return granted
    })
    if (token === undefined) return { token: undefined, retryAfter: queue ? this.#refresh : this.pollInterval }
    return { token: Number(token) }
  }

  /** A try on another library's key pair: no line to join or keep a place in. */
  async #trySingle (fullName: string, { values, id }: AdvisoryPair, owner: string): Promise<TryResult> {
    const token = await this.#enqueue(async (client) => {
      if (this.#owners.has(id)) return undefined
      let granted: string | undefined
      try {
        granted = (await client.query<{ token: string }>(SINGLE_ACQUIRE, [...values, textName(fullName)])).rows[0]?.token
      } catch (error) {
        if (!this.isConnectionError(error)) await client.query(SINGLE_UNLOCK, values).catch(() => {})
        throw error
      }
      if (granted !== undefined) this.#owners.set(id, owner)
      return granted
    })
    if (token === undefined) return { token: undefined, retryAfter: this.pollInterval }
    return { token: Number(token) }
  }

  async leave (fullName: string, owner: string): Promise<void> {
    if (this.#pairs?.key(fullName) !== undefined) return // no line on another library's keys
    // Those behind are told, as on a release: if it was first, the lock may be free for them now.
    await this.#query(LEAVE, [textName(fullName), owner, CHANNEL, advisoryKey(fullName).toString()])
  }

  async release (fullName: string, owner: string): Promise<boolean> {
    const pair = this.#pairs?.key(fullName)
    if (pair !== undefined) {
      const { values, id } = pair
      if (this.#owners.get(id) !== owner) return false
      return await this.#enqueue(async (client) => {
        if (this.#owners.get(id) !== owner) return false
        this.#owners.delete(id)
        const result = await client.query<{ released: boolean }>(SINGLE_RELEASE, [...values, CHANNEL, id])
        return result.rows[0]?.released === true
      })
    }
    const key = advisoryKey(fullName).toString()
    if (this.#owners.get(key) !== owner) return false
    return await this.#enqueue(async (client) => {
      if (this.#owners.get(key) !== owner) return false
      this.#owners.delete(key)
      const result = await client.query<{ released: boolean }>(
        'SELECT pg_advisory_unlock($1::bigint) AS released, pg_notify($2, $1::text)', [key, CHANNEL])
      return result.rows[0]?.released === true
    })
  }

  async renew (locks: ReadonlyArray<{ fullName: string, owner: string }>): Promise<boolean[]> {
    // Any query keeps the session from going idle; this one also checks what the session holds.
    const row = (await this.#query<{ pid: number, ids: string[] }>(HELD)).rows[0]
    if (Number(row?.pid) !== this.#backendPid) {
      // Not the session the locks were taken in: they may be held by a pooled backend someone else now uses.
      throw new CoordinationError('ERR_COORDINATOR_PROTOCOL', `The PostgreSQL session changed under the connection (backend ${String(row?.pid)}, was ${String(this.#backendPid)}): ` +
        'a pooler in transaction mode (PgBouncer pool_mode=transaction) breaks session advisory locks; connect directly or use session pooling')
    }
    const held = new Set(row?.ids ?? [])
    return locks.map(({ fullName, owner }) => {
      const pair = this.#pairs?.key(fullName)
      if (pair !== undefined) return this.#owners.get(pair.id) === owner && held.has(pair.shown)
      const key = advisoryKey(fullName)
      return this.#owners.get(key.toString()) === owner && held.has(`${lockId(key)}:1`)
    })
  }

  async isOwner (fullName: string, owner: string): Promise<boolean> {
    const [owned] = await this.renew([{ fullName, owner }])
    return owned === true
  }

  async watch (fullName: string, _owner: string): Promise<Watch> {
    this.#connection()
    const key = this.#pairs?.key(fullName)?.id ?? advisoryKey(fullName).toString()
    let watches = this.#watches.get(key)
    if (watches === undefined) {
      watches = new Set()
      this.#watches.set(key, watches)
    }
    const watch = new ChannelWatch((closing) => {
      const set = this.#watches.get(key)
      if (set?.delete(closing) === true && set.size === 0) this.#watches.delete(key)
    })
    watches.add(watch)
    return watch
  }

  isConnectionError (error: unknown): boolean {
    const code = (error as { code?: unknown } | undefined)?.code
    // SQLSTATE class 57: the server ended the session (shutdown, idle timeout, terminated).
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code.startsWith('57') || code.startsWith('08')
    return true
  }

  /** Creates what the locks need, once per database; members connecting at once take turns. */
  async #ensureSchema (client: Client): Promise<void> {
    const exists = await client.query<{ ready: boolean }>(
      `SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AND to_regprocedure($3) IS NOT NULL
        AND to_regclass($4) IS NOT NULL AND to_regclass($5) IS NOT NULL AND to_regclass($6) IS NOT NULL AS ready`,
      [TABLE, WAITERS, `${TRY}(bigint,text,text,boolean,integer)`, GROUPS, MEMBERS, LEADERS])
    if (exists.rows[0]?.ready === true) return
    await client.query('BEGIN')
    try {
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [SETUP_KEY])
      await client.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (name text PRIMARY KEY, token bigint NOT NULL)`)
      await client.query(`CREATE TABLE IF NOT EXISTS ${WAITERS} (name text NOT NULL, owner text NOT NULL,
        place bigserial, expires timestamptz NOT NULL, PRIMARY KEY (name, owner))`)
      await client.query(`CREATE INDEX IF NOT EXISTS ${WAITERS}_line ON ${WAITERS} (name, place)`)
      await client.query(TRY_FUNCTION)
      for (const sql of GROUP_TABLES) await client.query(sql)
      await client.query('COMMIT')
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {})
      throw error
    }
  }

  #notified (message: Notification): void {
    if (message.channel !== CHANNEL || message.payload === undefined) return
    for (const watch of this.#watches.get(message.payload) ?? []) watch.notify()
  }

  /** A query in turn on this session, for the group store (groups-postgres.ts). */
  async query<T extends QueryResultRow> (sql: string, values?: unknown[]): Promise<QueryResult<T>> {
    return await this.#query<T>(sql, values)
  }

  #query<T extends QueryResultRow> (sql: string, values?: unknown[]): Promise<QueryResult<T>> {
    return this.#enqueue(async (client) => await client.query<T>(sql, values))
  }

  /** Runs `task` once every earlier request on the connection has finished. */
  #enqueue<T> (task: (client: Client) => Promise<T>): Promise<T> {
    const client = this.#connection()
    const run = this.#tail.then(async () => await task(client))
    this.#tail = run.catch(() => {})
    return run
  }

  #connection (): Client {
    if (this.#client === undefined) throw new CoordinationError('ERR_COORDINATOR_DISCONNECTED', 'Not connected to the PostgreSQL server')
    return this.#client
  }

  async #teardown (): Promise<void> {
    const client = this.#client
    this.#client = undefined
    this.#closed = undefined
    this.#owners.clear()
    // Wake the waiters: they notice the disconnection and wait for the reconnect.
    for (const watches of this.#watches.values()) for (const watch of watches) watch.notify()
    this.#watches.clear()
    await client?.end().catch(() => {})
  }
}
