// compat: 'tooz' on file://. tooz's file driver (tooz/drivers/file.py) locks
// `<dir>/<name>`: the name is a path under the directory, neither hashed nor
// escaped ('/' makes subdirectories, which fasteners creates), locked with
// fasteners' InterProcessLock, i.e. fcntl.lockf: a classic POSIX lock on the
// whole file. locksmith's own file:// layout (an escaped file name, flock)
// is invisible to it. This layout takes tooz's path with the lock kind that
// excludes lockf (OFD locks, else classic POSIX), as compat: 'oslo' does.
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { lockfPeerBackend } from '../backend'
import { invalidArgValue } from '../errors'
import type { FileLayout } from './file'

/** What tooz's file driver keeps for itself under its directory (FileDriver._reserved_paths). */
const RESERVED = new Set(['groups', 'tmp', '.driver_lock'])

/**
 * The endings of locksmith's own files beside a lock (file.ts: `<lock>%fence`
 * and its temporary; groups-file.ts: `%group`, `%group-lock`, `%leader`). A
 * tooz name is not escaped, so one ending so would lock one of those files:
 * `a%fence` is the token counter of `a`, which is replaced by rename.
 */
const OWN_ENDING = /%(?:fence|group|group-lock|leader)(?:\.tmp)?$/

/**
 * tooz's path for a lock name: os.path.abspath(os.path.join(dir, name)).
 * Names that leave the directory, or name the directory or a path tooz
 * reserves, are refused (tooz refuses them too, except that its check is a
 * string prefix test, which lets `../<dir>x` through; this one does not).
 */
export function toozFileLayout (dir: string, fullName: string): FileLayout {
  const root = resolve(dir)
  const path = resolve(root, fullName)
  const inside = relative(root, path)
  if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    throw invalidArgValue('name', fullName, `must name a file inside ${root} (compat: 'tooz' uses the name as tooz's file driver does, as a path under the directory)`)
  }
  if (RESERVED.has(inside)) throw invalidArgValue('name', fullName, `names ${path}, which tooz's file driver reserves for itself`)
  if (OWN_ENDING.test(inside)) throw invalidArgValue('name', fullName, `ends like a file locksmith keeps beside its locks (${OWN_ENDING.source})`)
  return { path, backend: lockfPeerBackend() }
}
