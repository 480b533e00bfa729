// Group membership and leader election for a Coordinator, on whatever store
// its backend has (group-store.ts). A membership lives as long as the
// member's heartbeat renews it: a member that stops beating is gone one lease
// later, with no sweeper. Each member looks at the groups it watches (the ones
// it joined, plus watchGroup()) on every heartbeat and reports the difference
// as memberJoined / memberLeft events, so everyone hears of a change within a
// heartbeat of the store having it.
//
// Leadership of a group is the holding of one lock per group under a name no
// getLock() name can have (it contains NUL), so a term has that lock's fencing
// token, its signal for loss, its lease and its per-backend guarantees.
import { GroupError, invalidArgType, invalidArgValue, LockError, outOfRange } from '../errors'
import { refuseUnknownKeys, validateObject } from '../validate'
import { signalSetting, waitSetting } from '../wait-options'
import type { GroupStore } from './group-store'
import type { Session } from './session'
import type { CoordinatorEvents, DistributedLock, LeadershipTerm } from './types'

/** Longest group name, in UTF-16 code units. */
const MAX_GROUP_NAME_LENGTH = 256
/** Largest capabilities value, as JSON in UTF-8 bytes. */
const MAX_CAPABILITIES_BYTES = 64 * 1024

function validateGroupName (name: unknown, argument = 'group'): string {
  if (typeof name !== 'string') throw invalidArgType(argument, 'of type string', name)
  if (name.length === 0) throw invalidArgValue(argument, name, 'must be a non-empty string')
  if (name.includes('\0')) throw invalidArgValue(argument, name, 'must be a string without null bytes')
  if (name.length > MAX_GROUP_NAME_LENGTH) throw outOfRange(`${argument}.length`, `<= ${MAX_GROUP_NAME_LENGTH}`, name.length)
  return name
}

const JSON_RULE = 'must be JSON-serialisable: null, a boolean, a finite number, a string, or arrays and plain objects of these'

function checkJson (value: unknown, path: string, seen: Set<object>): void {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalidArgValue(path, value, JSON_RULE)
    return
  }
  if (typeof value !== 'object') throw invalidArgValue(path, value, JSON_RULE)
  if (seen.has(value)) throw invalidArgValue(path, '[circular]', `${JSON_RULE} (it refers to itself)`)
  seen.add(value)
  if (Array.isArray(value)) {
    value.forEach((item, index) => checkJson(item, `${path}[${index}]`, seen))
  } else {
    const proto = Object.getPrototypeOf(value) as unknown
    if ((proto !== Object.prototype && proto !== null) || Object.getOwnPropertySymbols(value).length > 0) throw invalidArgValue(path, value, JSON_RULE)
    for (const [key, item] of Object.entries(value)) checkJson(item, `${path}.${key}`, seen)
  }
  seen.delete(value)
}

/** Capabilities as stored: JSON text of a value that comes back equal from JSON.parse. */
function encodeCapabilities (value: unknown): string {
  checkJson(value, 'capabilities', new Set())
  const json = JSON.stringify(value)
  const bytes = Buffer.byteLength(json)
  if (bytes > MAX_CAPABILITIES_BYTES) throw outOfRange('capabilities', `at most ${MAX_CAPABILITIES_BYTES} bytes as JSON`, bytes)
  return json
}

/** The backend name of a group's leadership lock. */
function leaderLockName (fullGroup: string): string {
  return `${fullGroup}\0leader`
}

/** Whether a lock name is a leadership lock's (only those have a NUL). */
export function isLeaderLockName (fullName: string): boolean {
  return fullName.includes('\0')
}

export interface CampaignOptions {
  /** Gives up after this many milliseconds (LockTimeoutError, code ETIMEDOUT). Default: Infinity. */
  timeout?: number
  /** Gives up when aborted (rejects with its reason). */
  signal?: AbortSignal
}

const CAMPAIGN_OPTION_NAMES: readonly string[] = ['timeout', 'signal']

export interface GroupHost {
  readonly session: Session
  readonly store: GroupStore
  /** The member id every membership and leadership is under. */
  readonly memberId: string
  readonly prefix: string
  /** Runs a store request with the backend's deadline and typed errors. */
  call: <T>(what: string, request: () => Promise<T>) => Promise<T>
  emit: <K extends keyof CoordinatorEvents>(event: K, ...args: CoordinatorEvents[K]) => void
  /** A lock object for the backend name `fullName` on `session`. */
  lock: (session: Session, name: string, fullName: string) => DistributedLock
}

interface Term { lock: DistributedLock, term: LeadershipTerm }

export class Groups {
  readonly #host: GroupHost
  /** Groups this member has joined. */
  readonly #joined = new Set<string>()
  /** Groups watched without being joined (watchGroup()). */
  readonly #watched = new Set<string>()
  /** Last members seen per looked-at group (undefined: the group did not exist). */
  readonly #seen = new Map<string, Set<string> | undefined>()
  readonly #terms = new Map<string, Term>()
  readonly #campaigns = new Set<string>()
  /** Looks and their events happen one at a time, in order. */
  #looking: Promise<void> = Promise.resolve()
  #beating = false
  /** Lock events for leadership locks go to leadershipLost, not lockLost. */
  readonly #leaderSession: Session

  constructor (host: GroupHost) {
    this.#host = host
    this.#leaderSession = Object.create(host.session, { lost: { value: () => {} } }) as Session
  }

  async create (group: string): Promise<void> {
    const full = this.#full(group)
    if (!await this.#host.call(`create group '${full}'`, async () => await this.#host.store.create(full))) {
      throw new GroupError('ERR_GROUP_ALREADY_EXISTS', group, `Group '${group}' already exists`)
    }
  }

  async delete (group: string): Promise<void> {
    const full = this.#full(group)
    const result = await this.#host.call(`delete group '${full}'`, async () => await this.#host.store.delete(full))
    if (result === 'missing') throw notFound(group)
    if (result === 'not-empty') throw new GroupError('ERR_GROUP_NOT_EMPTY', group, `Group '${group}' still has members; they must leave (or expire) first`)
    if (this.#seen.has(group)) await this.#look(group)
  }

  async join (group: string, capabilities: unknown = null): Promise<void> {
    const full = this.#full(group)
    const json = encodeCapabilities(capabilities)
    const { memberId } = this.#host
    const result = await this.#host.call(`join group '${full}'`, async () => await this.#host.store.join(full, memberId, json))
    if (result === 'missing') throw notFound(group)
    if (result === 'member') throw new GroupError('ERR_GROUP_ALREADY_MEMBER', group, `Member '${memberId}' is already in group '${group}'`, memberId)
    this.#joined.add(group)
    await this.#look(group)
  }

  async leave (group: string): Promise<void> {
    const full = this.#full(group)
    const { memberId } = this.#host
    const result = await this.#host.call(`leave group '${full}'`, async () => await this.#host.store.leave(full, memberId))
    this.#joined.delete(group)
    if (result === 'missing') throw notFound(group)
    if (result === 'not-member') throw notMember(group, memberId)
    if (this.#watched.has(group)) await this.#look(group)
    else this.#seen.delete(group)
  }

  async members (group: string): Promise<string[]> {
    return [...(await this.#members(group)).keys()].sort()
  }

  async capabilities (group: string, member: string): Promise<unknown> {
    if (typeof member !== 'string') throw invalidArgType('member', 'of type string', member)
    const json = (await this.#members(group)).get(member)
    if (json === undefined) throw notMember(group, member)
    return JSON.parse(json) as unknown
  }

  async update (group: string, capabilities: unknown): Promise<void> {
    const full = this.#full(group)
    const json = encodeCapabilities(capabilities)
    const { memberId } = this.#host
    const result = await this.#host.call(`update capabilities in group '${full}'`, async () => await this.#host.store.update(full, memberId, json))
    if (result === 'missing') throw notFound(group)
    if (result === 'not-member') throw notMember(group, memberId)
  }

  /** Reports joins and departures in `group` without joining it. */
  async watch (group: string): Promise<void> {
    await this.#members(group)
    this.#watched.add(group)
    if (!this.#seen.has(group)) await this.#look(group)
  }

  unwatch (group: string): boolean {
    validateGroupName(group)
    const was = this.#watched.delete(group)
    if (!this.#joined.has(group)) this.#seen.delete(group)
    return was
  }

  async campaign (group: string, options?: CampaignOptions): Promise<LeadershipTerm> {
    const full = this.#full(group)
    const opts = validateObject<CampaignOptions>(options, 'options')
    refuseUnknownKeys(opts, CAMPAIGN_OPTION_NAMES, 'options', { blocking: 'timeout', wait: 'timeout' })
    const timeout = waitSetting(opts, 'options')
    const signal = signalSetting(opts, 'options')
    const current = this.#terms.get(group)
    if (current !== undefined && current.lock.acquired) return current.term
    if (this.#campaigns.has(group)) throw new LockError('ERR_LOCK_PENDING', `Member '${this.#host.memberId}' is already campaigning in group '${group}'`)
    this.#campaigns.add(group)
    try {
      await this.#members(group)
      const lockName = leaderLockName(full)
      const lock = this.#host.lock(this.#leaderSession, group, lockName)
      await lock.acquire({ blocking: timeout ?? true, signal })
      const fencingToken = lock.fencingToken as number
      try {
        await this.#host.call(`record the leader of '${full}'`, async () => await this.#host.store.elected(full, lockName, this.#host.memberId, fencingToken))
      } catch (error) {
        await lock.release().catch(() => {})
        throw error
      }
      const term: LeadershipTerm = { group, fencingToken, signal: lock.signal }
      this.#terms.set(group, { lock, term })
      lock.signal.addEventListener('abort', () => {
        if (this.#terms.get(group)?.lock === lock) this.#terms.delete(group)
        this.#host.emit('leadershipLost', { group, fencingToken, error: lock.signal.reason as Error })
      }, { once: true })
      this.#host.emit('elected', term)
      return term
    } finally {
      this.#campaigns.delete(group)
    }
  }

  /** Ends this member's term in `group`: true if it was leading until now. */
  async resign (group: string): Promise<boolean> {
    validateGroupName(group)
    const current = this.#terms.get(group)
    if (current === undefined) return false
    this.#terms.delete(group)
    return await current.lock.release()
  }

  /** The member leading `group` now, or undefined. */
  async leader (group: string): Promise<string | undefined> {
    const full = this.#full(group)
    await this.#members(group)
    return await this.#host.call(`read the leader of '${full}'`, async () => await this.#host.store.leader(full, leaderLockName(full)))
  }

  /** This member's current term in `group`, if it leads it. */
  term (group: string): LeadershipTerm | undefined {
    validateGroupName(group)
    const current = this.#terms.get(group)
    return current !== undefined && current.lock.acquired ? current.term : undefined
  }

  /** Groups this member has joined (and not lost by expiry). */
  get joined (): string[] { return [...this.#joined].sort() }

  /** Heartbeat: renew this member's memberships, then look at every watched group (skipped while the last one still runs). */
  async beat (): Promise<void> {
    if (this.#beating || (this.#seen.size === 0 && this.#joined.size === 0)) return
    this.#beating = true
    try {
      await this.#beat()
    } finally {
      this.#beating = false
    }
  }

  async #beat (): Promise<void> {
    const joined = [...this.#joined]
    if (joined.length > 0) {
      const full = joined.map((group) => this.#host.prefix + group)
      const still = await this.#host.call('renew group memberships', async () => await this.#host.store.renew(this.#host.memberId, full))
      joined.forEach((group, index) => { if (still[index] !== true) this.#joined.delete(group) })
    }
    for (const group of [...this.#seen.keys()]) {
      await this.#look(group)
      if (!this.#joined.has(group) && !this.#watched.has(group)) this.#seen.delete(group)
    }
  }

  /** The coordinator is stopping: leave every joined group (best effort) and let go of the store. */
  async shutdown (): Promise<void> {
    const { memberId } = this.#host
    await Promise.all([...this.#joined].map(async (group) => {
      const full = this.#host.prefix + group
      await this.#host.call(`leave group '${full}'`, async () => await this.#host.store.leave(full, memberId)).catch(() => {})
    }))
    this.#joined.clear()
    this.#watched.clear()
    this.#seen.clear()
    this.#terms.clear()
    await this.#host.store.close()
  }

  #full (group: string): string {
    validateGroupName(group)
    this.#host.session.checkRunning()
    return this.#host.prefix + group
  }

  async #members (group: string): Promise<Map<string, string>> {
    const full = this.#full(group)
    const members = await this.#host.call(`read the members of '${full}'`, async () => await this.#host.store.members(full))
    if (members === undefined) throw notFound(group)
    return members
  }

  /** Reads the members of `group` and reports the difference from the last look. */
  #look (group: string): Promise<void> {
    const run = this.#looking.then(async () => {
      const full = this.#host.prefix + group
      const members = await this.#host.call(`read the members of '${full}'`, async () => await this.#host.store.members(full))
      const now = members === undefined ? undefined : new Set(members.keys())
      const before = this.#seen.get(group)
      if (!this.#seen.has(group)) {
        this.#seen.set(group, now) // the first look only sets the baseline
        return
      }
      this.#seen.set(group, now)
      for (const member of before ?? []) if (now?.has(member) !== true) this.#host.emit('memberLeft', { group, member })
      for (const member of now ?? []) if (before?.has(member) !== true) this.#host.emit('memberJoined', { group, member })
    })
    this.#looking = run.catch(() => {})
    return run
  }
}

function notFound (group: string): GroupError {
  return new GroupError('ERR_GROUP_NOT_FOUND', group, `Group '${group}' does not exist (createGroup() first)`)
}

function notMember (group: string, member: string): GroupError {
  return new GroupError('ERR_GROUP_NOT_MEMBER', group, `'${member}' is not a member of group '${group}'`, member)
}
