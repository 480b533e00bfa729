// Groups on etcd. A group is a key; a member is a key under the group's
// member prefix, put under the coordinator's lease, so etcd deletes it when
// the member stops renewing (the heartbeat's keep-alive) and no sweeper is
// needed. A join also rewrites the group key, so a delete that compares the
// group key's revision cannot remove a group someone joined meanwhile. The
// leader is the oldest key under the group's leadership lock prefix (the
// holder in etcd's lock recipe), whose value is its owner.
import type { EtcdBackend, RangeResponse, TxnResponse } from './etcd'
import { b64, namePrefix, rangeEnd, unb64 } from './etcd'
import { memberOfOwner, type DeleteResult, type GroupStore, type JoinResult, type LeaveResult } from './group-store'
import { CoordinationError } from '../errors'

const groupKey = (group: string): string => `locksmith/group/${encodeURIComponent(group)}`
const membersPrefix = (group: string): string => `locksmith/members/${encodeURIComponent(group)}/`
const memberKey = (group: string, member: string): string => membersPrefix(group) + encodeURIComponent(member)

const exists = (key: string): Record<string, string> => ({ key: b64(key), target: 'CREATE', result: 'GREATER', create_revision: '0' })
const absent = (key: string): Record<string, string> => ({ key: b64(key), target: 'CREATE', result: 'EQUAL', create_revision: '0' })
const range = (key: string): Record<string, unknown> => ({ request_range: { key: b64(key) } })
const prefixRange = (prefix: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ request_range: { key: b64(prefix), range_end: rangeEnd(prefix), ...extra } })

export class EtcdGroupStore implements GroupStore {
  readonly #backend: EtcdBackend

  constructor (backend: EtcdBackend) {
    this.#backend = backend
  }

  async create (group: string): Promise<boolean> {
    const txn = await this.#txn({ compare: [absent(groupKey(group))], success: [{ request_put: { key: b64(groupKey(group)), value: '' } }] })
    return txn.succeeded === true
  }

  async delete (group: string): Promise<DeleteResult> {
    for (;;) {
      const look = await this.#txn({ success: [range(groupKey(group)), prefixRange(membersPrefix(group), { count_only: true })] })
      const kv = rangeOf(look, 0).kvs?.[0]
      if (kv === undefined) return 'missing'
      if (Number(rangeOf(look, 1).count ?? 0) > 0) return 'not-empty'
      const txn = await this.#txn({
        compare: [{ key: b64(groupKey(group)), target: 'MOD', result: 'EQUAL', mod_revision: kv.mod_revision }],
        success: [{ request_delete_range: { key: b64(groupKey(group)) } }, { request_delete_range: { key: b64(membersPrefix(group)), range_end: rangeEnd(membersPrefix(group)) } }]
      })
      if (txn.succeeded === true) return 'deleted'
      // Someone joined (or the group was recreated) between the look and the delete: look again.
    }
  }

  async join (group: string, member: string, capabilities: string): Promise<JoinResult> {
    const lease = this.#backend.currentLease()
    const txn = await this.#txn({
      compare: [exists(groupKey(group)), absent(memberKey(group, member))],
      success: [{ request_put: { key: b64(memberKey(group, member)), value: b64(capabilities), lease } }, { request_put: { key: b64(groupKey(group)), value: '' } }],
      failure: [range(groupKey(group))]
    })
    if (txn.succeeded === true) return 'joined'
    return (rangeOf(txn, 0).kvs?.length ?? 0) > 0 ? 'member' : 'missing'
  }

  async leave (group: string, member: string): Promise<LeaveResult> {
    const txn = await this.#txn({
      compare: [exists(memberKey(group, member))],
      success: [{ request_delete_range: { key: b64(memberKey(group, member)) } }],
      failure: [range(groupKey(group))]
    })
    if (txn.succeeded === true) return 'left'
    return (rangeOf(txn, 0).kvs?.length ?? 0) > 0 ? 'not-member' : 'missing'
  }

  async update (group: string, member: string, capabilities: string): Promise<LeaveResult> {
    const lease = this.#backend.currentLease()
    const txn = await this.#txn({
      compare: [exists(memberKey(group, member))],
      success: [{ request_put: { key: b64(memberKey(group, member)), value: b64(capabilities), lease } }],
      failure: [range(groupKey(group))]
    })
    if (txn.succeeded === true) return 'left'
    return (rangeOf(txn, 0).kvs?.length ?? 0) > 0 ? 'not-member' : 'missing'
  }

  async members (group: string): Promise<Map<string, string> | undefined> {
    const txn = await this.#txn({ success: [range(groupKey(group)), prefixRange(membersPrefix(group))] })
    if ((rangeOf(txn, 0).kvs?.length ?? 0) === 0) return undefined
    const prefix = membersPrefix(group)
    const members = new Map<string, string>()
    for (const kv of rangeOf(txn, 1).kvs ?? []) members.set(decodeURIComponent(unb64(kv.key).slice(prefix.length)), unb64(kv.value))
    return members
  }

  async renew (member: string, groups: readonly string[]): Promise<boolean[]> {
    // The coordinator's heartbeat keeps the lease alive; this checks the keys are still under it.
    const lease = this.#backend.currentLease()
    const txn = await this.#txn({ success: groups.map((group) => range(memberKey(group, member))) })
    return groups.map((_group, index) => rangeOf(txn, index).kvs?.[0]?.lease === lease)
  }

  async leader (_group: string, lockName: string): Promise<string | undefined> {
    const prefix = namePrefix(lockName)
    const head = await this.#backend.request<RangeResponse>('/v3/kv/range', {
      key: b64(prefix), range_end: rangeEnd(prefix), sort_order: 'ASCEND', sort_target: 'CREATE', limit: '1'
    })
    const kv = head.kvs?.[0]
    return kv === undefined ? undefined : memberOfOwner(unb64(kv.value))
  }

  async elected (): Promise<void> {} // the holder's key names its owner

  async close (): Promise<void> {}

  async #txn (body: Record<string, unknown>): Promise<TxnResponse> {
    const txn = await this.#backend.request<TxnResponse>('/v3/kv/txn', body)
    if (txn.header === undefined) throw new CoordinationError('ERR_COORDINATOR_PROTOCOL', 'etcd answered a group transaction without a header')
    return txn
  }
}

function rangeOf (txn: TxnResponse, index: number): RangeResponse {
  return txn.responses?.[index]?.response_range ?? {}
}
