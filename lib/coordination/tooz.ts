// compat: 'tooz': a Coordinator that takes each lock where OpenStack's tooz
// takes it on the same backend, so that tooz members (Python services) and
// locksmith members exclude each other. locksmith's own layouts are not
// tooz's (other file names and kind of file lock, other keys, other advisory
// lock keys), so without this option the two never see each other's locks.
//
// What each layout takes from tooz is the lock itself (tooz-file.ts,
// tooz-redis.ts, tooz-postgres.ts, tooz-etcd.ts). What stays locksmith's, for
// locksmith members: the lease and its renewal, loss detection (a holding
// tooz breaks or lets expire is reported lost), fencing tokens (from
// locksmith's counter, which only locksmith members advance, except on etcd
// where the key's creation revision rises with tooz's acquisitions too),
// release notifications among locksmith members. What is lost: tooz members
// get no tokens and send no notifications (locksmith waiters poll for their
// releases, or watch the key on etcd), there is no FIFO order across members
// (the queues of Redis, PostgreSQL and etcd are locksmith's own keys and rows,
// which tooz's members neither join nor respect, so these names do without
// them), and on PostgreSQL names collide 1 in 65536 (tooz's 16-bit keys).
//
// Only getLock() names take tooz's layout. The lock of a group's leadership
// (groups.ts; its name has a NUL, which no getLock() name has) stays in
// locksmith's layout, queue included: tooz has no such lock to meet, and the
// group stores look for the leader's holding there.
import { invalidArgValue } from '../errors'
import type { EtcdLayout } from './etcd'
import type { FileLayout } from './file'
import { isLeaderLockName } from './groups'
import type { AdvisoryKeys } from './postgres'
import type { RedisLayout } from './redis'
import { TOOZ_ETCD_LAYOUT } from './tooz-etcd'
import { toozFileLayout } from './tooz-file'
import { toozAdvisoryPair } from './tooz-postgres'
import { toozRedisLayout } from './tooz-redis'
import type { CoordinatorSettings } from './types'
import type { BackendUrl } from './url'

export interface ToozLayouts {
  file?: (dir: string, fullName: string) => FileLayout | undefined
  redis?: RedisLayout
  postgres?: AdvisoryKeys
  etcd?: EtcdLayout
}

/** Whether a name takes tooz's layout: every name but a group's leadership lock. */
function toozTakes (fullName: string): boolean {
  return !isLeaderLockName(fullName)
}

/** The layout of the URL's backend, or ERR_INVALID_ARG_VALUE where tooz has no counterpart. */
export function toozLayouts (target: BackendUrl, settings: CoordinatorSettings): ToozLayouts {
  switch (target.kind) {
    case 'file': return { file: (dir, fullName) => toozTakes(fullName) ? toozFileLayout(dir, fullName) : undefined }
    case 'redis': {
      if (target.mode === 'cluster') {
        throw invalidArgValue('options.compat', 'tooz', 'is not offered for redis+cluster:// (tooz has no Redis Cluster driver, and its lock keys carry no hash tag to share a slot with the fencing counter)')
      }
      const { lockKey, pollInterval } = toozRedisLayout(target, settings.heartbeat)
      return { redis: { lockKey: (fullName) => toozTakes(fullName) ? lockKey(fullName) : undefined, pollInterval } }
    }
    case 'postgresql': return { postgres: { key: (fullName) => toozTakes(fullName) ? toozAdvisoryPair(fullName) : undefined } }
    case 'etcd': return { etcd: { ...TOOZ_ETCD_LAYOUT, key: (fullName) => toozTakes(fullName) ? TOOZ_ETCD_LAYOUT.key(fullName) : undefined } }
  }
}
