// compat: 'tooz' on etcd://. tooz's etcd3gw driver (tooz/drivers/etcd3gw.py,
// URL etcd3+http://) holds a lock as one key, b"/tooz/locks" + name (no
// separator: the name 'x' is /tooz/locksx), created by a transaction that
// succeeds only if the key does not exist (create_revision == 0), with a
// random value, under a lease of its own (lock_timeout, 30 s by default) that
// tooz's heartbeat refreshes; released by a compare-value-and-delete. There is
// no queue: tooz's waiters retry the transaction with exponential backoff up
// to 1 s. This layout creates the same key the same way, under the
// coordinator's lease, with the owner value as its value. The fencing token is
// still the key's creation revision, which every acquisition (tooz's too)
// raises; a waiter watches the key for its deletion.
//
// tooz's other etcd driver, etcd3:// (python-etcd3 over gRPC), locks
// '/locks/' + name instead; it does not exclude etcd3+http:// members, and
// this layout does not exclude it.
import { CoordinationError } from '../errors'
import { b64, unb64, type EtcdLayout, type RangeResponse, type TxnResponse } from './etcd'

/** tooz's Etcd3Lock.LOCK_PREFIX. */
const PREFIX = '/tooz/locks'

export const TOOZ_ETCD_LAYOUT: EtcdLayout = {
  key: (fullName) => PREFIX + fullName,

  async tryAcquire (post, key, owner, lease) {
    const encoded = b64(key)
    const txn = await post<TxnResponse>('/v3/kv/txn', {
      compare: [{ key: encoded, target: 'CREATE', result: 'EQUAL', create_revision: '0' }],
      success: [{ request_put: { key: encoded, value: b64(owner), lease } }],
      failure: [{ request_range: { key: encoded } }]
    })
    const revision = Number(txn.header?.revision)
    const holder = txn.responses?.[0]?.response_range?.kvs?.[0]
    if (!Number.isSafeInteger(revision) || (txn.succeeded !== true && holder === undefined)) {
      throw new CoordinationError('ERR_COORDINATOR_PROTOCOL', `etcd answered a lock transaction for '${key}' without the key`)
    }
    if (txn.succeeded === true) return { token: revision }
    // Ours already: an earlier try of this owner whose answer was lost.
    if (unb64(holder?.value) === owner && holder?.lease === lease) return { token: Number(holder.create_revision) }
    return { place: { predecessor: encoded, revision } }
  },

  async isOwner (post, key, owner) {
    const kv = (await post<RangeResponse>('/v3/kv/range', { key: b64(key) })).kvs?.[0]
    return kv !== undefined && unb64(kv.value) === owner
  }
}
