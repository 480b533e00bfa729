// compat: 'tooz' on postgresql://. tooz's PostgreSQL driver
// (tooz/drivers/pgsql.py) keys a lock by the first two bytes of the MD5 of
// its name, `key = md5(name).digest()[0:2]`, and passes that bytes object to
// psycopg2 as the parameter sequence of `pg_advisory_lock(%s, %s)`: each byte
// becomes one int4, so the lock is pg_advisory_lock(int4 0..255, int4 0..255),
// in the two-key space (pg_locks: classid, objid, objsubid 2) that locksmith's
// single bigint keys (objsubid 1) never meet. This layout takes the same pair;
// the lease (idle_session_timeout), the fencing row and the NOTIFY on release
// stay locksmith's.
//
// Only 65536 pairs exist: two names share a lock with probability 1/65536 per
// pair of names (tooz members have the same collisions among themselves).
import { createHash } from 'node:crypto'
import type { AdvisoryPair } from './postgres'

/** tooz's advisory lock of a name: the first two bytes of its MD5, one int4 each. */
export function toozAdvisoryPair (fullName: string): AdvisoryPair {
  const digest = createHash('md5').update(fullName, 'utf8').digest()
  const [high, low] = [digest[0] as number, digest[1] as number]
  return { values: [high, low], id: `tooz:${high}:${low}`, shown: `${high}:${low}:2` }
}
