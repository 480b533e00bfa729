// Groups on Redis. Per group, three keys with one hash tag (one cluster slot):
// a marker that the group exists, a sorted set of members scored by the
// server-clock time their lease ends, and a hash of their capabilities. Every
// script first drops the members whose time has passed, so an expired member
// is gone for every reader without a sweeper; the heartbeat pushes a live
// member's time forward. The leader is the owner value of the group's
// leadership lock key.
import type { Cluster, Redis } from 'ioredis'
import { memberOfOwner, type DeleteResult, type GroupStore, type JoinResult, type LeaveResult } from './group-store'
import { hashTag, lockKey, NAMESPACE } from './redis'

const PRELUDE = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function purge ()
  local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
  for _, member in ipairs(gone) do redis.call('HDEL', KEYS[3], member) end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end
end
`

const JOIN = `${PRELUDE}
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
purge()
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return 1
`

const LEAVE = `${PRELUDE}
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
purge()
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
`

const UPDATE = `${PRELUDE}
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
purge()
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return 1
`

const MEMBERS = `${PRELUDE}
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
purge()
local out = {'ok'}
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  out[#out + 1] = member
  out[#out + 1] = redis.call('HGET', KEYS[3], member) or 'null'
end
return out
`

const RENEW = `${PRELUDE}
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) <= now then return 0 end
redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[2]), ARGV[1])
return 1
`

const DELETE = `${PRELUDE}
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
purge()
if redis.call('ZCARD', KEYS[2]) > 0 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
`

function keys (group: string): [string, string, string] {
  const tag = hashTag(group)
  return [`${NAMESPACE}group:{${tag}}`, `${NAMESPACE}members:{${tag}}`, `${NAMESPACE}caps:{${tag}}`]
}

export class RedisGroupStore implements GroupStore {
  readonly #connection: () => Redis | Cluster
  readonly #lease: number

  constructor (connection: () => Redis | Cluster, lease: number) {
    this.#connection = connection
    this.#lease = lease
  }

  async create (group: string): Promise<boolean> {
    return await this.#connection().set(keys(group)[0], '1', 'NX') === 'OK'
  }

  async delete (group: string): Promise<DeleteResult> {
    const result = await this.#run(DELETE, group)
    return result === 1 ? 'deleted' : result === 0 ? 'not-empty' : 'missing'
  }

  async join (group: string, member: string, capabilities: string): Promise<JoinResult> {
    const result = await this.#run(JOIN, group, member, capabilities, String(this.#lease))
    return result === 1 ? 'joined' : result === 0 ? 'member' : 'missing'
  }

  async leave (group: string, member: string): Promise<LeaveResult> {
    return leaveResult(await this.#run(LEAVE, group, member))
  }

  async update (group: string, member: string, capabilities: string): Promise<LeaveResult> {
    return leaveResult(await this.#run(UPDATE, group, member, capabilities))
  }

  async members (group: string): Promise<Map<string, string> | undefined> {
    const reply = await this.#run(MEMBERS, group) as string[] | null
    if (reply === null) return undefined
    const members = new Map<string, string>()
    for (let i = 1; i + 1 < reply.length; i += 2) members.set(reply[i] as string, reply[i + 1] as string)
    return members
  }

  async renew (member: string, groups: readonly string[]): Promise<boolean[]> {
    return await Promise.all(groups.map(async (group) => await this.#run(RENEW, group, member, String(this.#lease)) === 1))
  }

  async leader (_group: string, lockName: string): Promise<string | undefined> {
    return memberOfOwner(await this.#connection().get(lockKey(lockName)) ?? undefined)
  }

  async elected (): Promise<void> {} // the lock key's value names its owner

  async close (): Promise<void> {}

  async #run (script: string, group: string, ...args: string[]): Promise<unknown> {
    return await this.#connection().eval(script, 3, ...keys(group), ...args)
  }
}

function leaveResult (result: unknown): LeaveResult {
  return result === 1 ? 'left' : result === 0 ? 'not-member' : 'missing'
}
