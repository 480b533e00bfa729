// Groups on PostgreSQL: a table of groups and a table of members whose rows
// carry the server-clock time their lease ends; readers see only rows whose
// time has not passed, so an expired member is gone without a sweeper, and
// the heartbeat pushes a live member's time forward. The leader is the
// session holding the group's leadership advisory lock, mapped to its member
// by a row the leader writes when elected (session pid -> member id).
import type { QueryResult, QueryResultRow } from 'pg'
import type { DeleteResult, GroupStore, JoinResult, LeaveResult } from './group-store'
import { advisoryKey, lockId } from './postgres'
import { GROUPS, LEADERS, MEMBERS } from './postgres-group-tables'

type Query = <T extends QueryResultRow>(sql: string, values?: unknown[]) => Promise<QueryResult<T>>

const LEASE_END = "clock_timestamp() + $4 * interval '1 millisecond'"

// The session commits asynchronously (postgres.ts: a lost token is harmless);
// a group or a membership must not vanish in a server crash after the call
// resolved, so these statements commit synchronously (a transaction-local
// setting, read at the statement's own commit). Renewals stay asynchronous:
// the next heartbeat repeats a lost one.
const DURABLE = "durable AS (SELECT set_config('synchronous_commit', 'on', true) AS setting)"
const DURABLE_CHECK = '(SELECT setting IS NOT NULL FROM durable) AS durable'

const JOIN = `WITH ${DURABLE}, g AS (SELECT name FROM ${GROUPS} WHERE name = $1),
ins AS (INSERT INTO ${MEMBERS} AS m (group_name, member, capabilities, expires_at)
  SELECT name, $2, $3, ${LEASE_END} FROM g
  ON CONFLICT (group_name, member) DO UPDATE SET capabilities = EXCLUDED.capabilities, expires_at = EXCLUDED.expires_at
  WHERE m.expires_at <= clock_timestamp()
  RETURNING 1)
SELECT EXISTS (SELECT 1 FROM g) AS found, EXISTS (SELECT 1 FROM ins) AS done, ${DURABLE_CHECK}`

const LEAVE = `WITH ${DURABLE}, g AS (SELECT 1 FROM ${GROUPS} WHERE name = $1),
gone AS (DELETE FROM ${MEMBERS} WHERE group_name = $1 AND member = $2 RETURNING expires_at > clock_timestamp() AS live)
SELECT EXISTS (SELECT 1 FROM g) AS found, COALESCE((SELECT live FROM gone), false) AS done, ${DURABLE_CHECK}`

const UPDATE = `WITH ${DURABLE}, g AS (SELECT 1 FROM ${GROUPS} WHERE name = $1),
up AS (UPDATE ${MEMBERS} SET capabilities = $3 WHERE group_name = $1 AND member = $2 AND expires_at > clock_timestamp() RETURNING 1)
SELECT EXISTS (SELECT 1 FROM g) AS found, EXISTS (SELECT 1 FROM up) AS done, ${DURABLE_CHECK}`

const DELETE = `WITH ${DURABLE}, live AS (SELECT 1 FROM ${MEMBERS} WHERE group_name = $1 AND expires_at > clock_timestamp() LIMIT 1),
gone AS (DELETE FROM ${GROUPS} WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM live) RETURNING 1),
leader AS (DELETE FROM ${LEADERS} WHERE group_name = $1 AND EXISTS (SELECT 1 FROM gone))
SELECT EXISTS (SELECT 1 FROM ${GROUPS} WHERE name = $1) AS found, EXISTS (SELECT 1 FROM gone) AS done, ${DURABLE_CHECK}`

const READ = `SELECT m.member, m.capabilities FROM ${GROUPS} g
LEFT JOIN ${MEMBERS} m ON m.group_name = g.name AND m.expires_at > clock_timestamp() WHERE g.name = $1`

const RENEW = `UPDATE ${MEMBERS} SET expires_at = clock_timestamp() + $3 * interval '1 millisecond'
WHERE member = $1 AND group_name = ANY ($2::text[]) AND expires_at > clock_timestamp() RETURNING group_name`

const ELECTED = `INSERT INTO ${LEADERS} (group_name, member, pid) VALUES ($1, $2, pg_backend_pid())
ON CONFLICT (group_name) DO UPDATE SET member = EXCLUDED.member, pid = EXCLUDED.pid`

const LEADER = `SELECT l.member FROM ${LEADERS} l JOIN pg_locks k ON k.pid = l.pid
WHERE l.group_name = $1 AND k.locktype = 'advisory' AND k.granted AND k.objsubid = 1 AND k.classid::text || ':' || k.objid::text = $2`

interface Outcome { found: boolean, done: boolean }

export class PostgresGroupStore implements GroupStore {
  /** The session's queries; it created the tables with the locks' own objects (postgres.ts, ensureSchema). */
  readonly #query: Query
  readonly #lease: number

  constructor (query: Query, lease: number) {
    this.#query = query
    this.#lease = lease
  }

  async create (group: string): Promise<boolean> {
    return (await this.#query(`WITH ${DURABLE} INSERT INTO ${GROUPS} (name) SELECT $1 FROM durable ON CONFLICT DO NOTHING RETURNING 1`, [group])).rows.length === 1
  }

  async delete (group: string): Promise<DeleteResult> {
    const { found, done } = await this.#outcome(DELETE, [group])
    return done ? 'deleted' : found ? 'not-empty' : 'missing'
  }

  async join (group: string, member: string, capabilities: string): Promise<JoinResult> {
    // Rows of members long expired are cleared here rather than by a sweeper.
    await this.#query(`DELETE FROM ${MEMBERS} WHERE group_name = $1 AND expires_at <= clock_timestamp()`, [group])
    let outcome: Outcome
    try {
      outcome = await this.#outcome(JOIN, [group, member, capabilities, this.#lease])
    } catch (error) {
      if ((error as { code?: string }).code === '23503') return 'missing' // the group was deleted meanwhile
      throw error
    }
    return outcome.done ? 'joined' : outcome.found ? 'member' : 'missing'
  }

  async leave (group: string, member: string): Promise<LeaveResult> {
    return leaveResult(await this.#outcome(LEAVE, [group, member]))
  }

  async update (group: string, member: string, capabilities: string): Promise<LeaveResult> {
    return leaveResult(await this.#outcome(UPDATE, [group, member, capabilities]))
  }

  async members (group: string): Promise<Map<string, string> | undefined> {
    const { rows } = await this.#query<{ member: string | null, capabilities: string | null }>(READ, [group])
    if (rows.length === 0) return undefined
    const members = new Map<string, string>()
    for (const row of rows) if (row.member !== null) members.set(row.member, row.capabilities ?? 'null')
    return members
  }

  async renew (member: string, groups: readonly string[]): Promise<boolean[]> {
    const { rows } = await this.#query<{ group_name: string }>(RENEW, [member, groups, this.#lease])
    const renewed = new Set(rows.map((row) => row.group_name))
    return groups.map((group) => renewed.has(group))
  }

  async leader (group: string, lockName: string): Promise<string | undefined> {
    const { rows } = await this.#query<{ member: string }>(LEADER, [group, lockId(advisoryKey(lockName))])
    return rows[0]?.member
  }

  async elected (group: string, _lockName: string, member: string): Promise<void> {
    await this.#query(ELECTED, [group, member])
  }

  async close (): Promise<void> {}

  async #outcome (sql: string, values: unknown[]): Promise<Outcome> {
    const row = (await this.#query<{ found: boolean, done: boolean }>(sql, values)).rows[0]
    return { found: row?.found === true, done: row?.done === true }
  }

}

function leaveResult ({ found, done }: Outcome): LeaveResult {
  return done ? 'left' : found ? 'not-member' : 'missing'
}
