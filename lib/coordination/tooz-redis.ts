// compat: 'tooz' on redis://. tooz's Redis driver (tooz/drivers/redis.py)
// holds a lock with redis-py's Lock on the key
//     "%s_%s_lock" % (namespace, str(name))
// where namespace is bytes (`?namespace=`, default b'_tooz') and name is the
// bytes tooz locks are named with, so in Python 3 both appear in their repr():
// b'_tooz'_b'volume-1'_lock. The key holds a random token (SET NX PX
// lock_timeout, 30 s by default), the release is a compare-and-delete script
// and tooz's heartbeat a compare-and-PEXPIRE, the same protocol as
// locksmith's, on another key. This layout takes that key for the lock;
// everything else stays locksmith's (the owner value, the lease and its
// renewal, the fencing counter, the release channel).
import type { RedisLayout } from './redis'
import type { BackendUrl } from './url'

/** tooz's RedisDriver.DEFAULT_NAMESPACE. */
const DEFAULT_NAMESPACE = '_tooz'

/** Python 3's repr() of a bytes object (CPython's bytes_repr, with its choice of quotes). */
function pythonBytesRepr (bytes: Uint8Array): string {
  const quote = bytes.includes(0x27) && !bytes.includes(0x22) ? 0x22 : 0x27
  let text = ''
  for (const byte of bytes) {
    if (byte === quote || byte === 0x5c) text += `\\${String.fromCharCode(byte)}`
    else if (byte === 0x09) text += '\\t'
    else if (byte === 0x0a) text += '\\n'
    else if (byte === 0x0d) text += '\\r'
    else if (byte < 0x20 || byte >= 0x7f) text += `\\x${byte.toString(16).padStart(2, '0')}`
    else text += String.fromCharCode(byte)
  }
  const q = String.fromCharCode(quote)
  return `b${q}${text}${q}`
}

/** The key tooz's Redis driver locks for `name` (UTF-8, as tooz members name locks: bytes). */
export function toozRedisKey (namespace: string, name: string): string {
  return `${pythonBytesRepr(Buffer.from(namespace, 'utf8'))}_${pythonBytesRepr(Buffer.from(name, 'utf8'))}_lock`
}

/**
 * The layout for a tooz URL: the namespace from `?namespace=`. tooz's holders
 * publish nothing when they release, so unless the server has keyspace events
 * on, a waiter learns of their release by trying again: as often as tooz's own
 * waiters do (redis-py's Lock sleeps 0.1 s between tries), or every heartbeat
 * if that is shorter.
 */
export function toozRedisLayout (target: BackendUrl, heartbeat: number): RedisLayout {
  const namespace = target.url.searchParams.get('namespace') ?? DEFAULT_NAMESPACE
  return { lockKey: (fullName) => toozRedisKey(namespace, fullName), pollInterval: Math.min(heartbeat, 100) }
}
