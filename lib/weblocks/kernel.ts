// query() on Linux: the kernel's lock table has the last word on who holds a
// name's file. A published record whose holding the kernel does not show
// (released a moment ago, not yet republished) is left out; a holder the
// kernel shows and no record explains (a named lock, flock(1), a request
// granted a moment ago) is reported with a clientId of `pid-<pid>`.
import { join } from 'node:path'
import { fileName } from './file'
import type { RealmEntry, WebLockMode } from './types'

interface Seen { pid: number, mode: WebLockMode }

/** The flock holders of a name's lock file, or undefined where the kernel cannot tell. */
function kernelHolders (dir: string, name: string): Seen[] | undefined {
  try {
    // Loaded on first query: most programs never ask.
    const { holders } = require('../holders') as typeof import('../holders')
    return holders(join(dir, fileName(name)))
      .filter((holder) => holder.kind === 'flock' && !holder.waiting && holder.pid !== null)
      .map((holder) => ({ pid: holder.pid as number, mode: holder.mode }))
  } catch {
    return undefined
  }
}

/**
 * `mine`: this thread's own held requests (already known exactly), which
 * account for kernel locks of this process. Returns the others' entries the
 * kernel confirms, plus holders only the kernel knows of.
 */
export function kernelCheck (dir: string, others: { held: RealmEntry[], pending: RealmEntry[] }, mine: RealmEntry[] = []): { held: RealmEntry[], pending: RealmEntry[] } {
  if (process.platform !== 'linux') return others
  const names = new Set<string>()
  for (const entry of others.held) names.add(entry.name)
  for (const entry of others.pending) names.add(entry.name)
  for (const entry of mine) names.add(entry.name)
  const held: RealmEntry[] = []
  const unexplained: RealmEntry[] = []
  for (const name of names) {
    const seen = kernelHolders(dir, name)
    const recorded = others.held.filter((entry) => entry.name === name)
    if (seen === undefined) {
      held.push(...recorded)
      continue
    }
    // One kernel lock per holding thread (shared holders of one thread share one).
    const take = (pid: number, mode: WebLockMode): boolean => {
      const index = seen.findIndex((s) => s.pid === pid && s.mode === mode)
      if (index < 0) return false
      seen.splice(index, 1)
      return true
    }
    const threads = new Set<string>()
    for (const entry of mine.filter((e) => e.name === name)) {
      if (threads.has(entry.clientId)) continue
      threads.add(entry.clientId)
      take(entry.pid, entry.mode)
    }
    const confirmed = new Set<string>()
    for (const entry of recorded) {
      if (confirmed.has(entry.clientId) || take(entry.pid, entry.mode)) {
        confirmed.add(entry.clientId)
        held.push(entry)
      }
    }
    for (const s of seen) {
      // Granted since its thread last published its requests: still listed there as pending.
      const index = others.pending.findIndex((entry) => entry.name === name && entry.pid === s.pid && entry.mode === s.mode && !confirmed.has(entry.clientId))
      if (index >= 0) {
        const [entry] = others.pending.splice(index, 1) as [RealmEntry]
        confirmed.add(entry.clientId)
        held.push(entry)
        continue
      }
      unexplained.push({ name, mode: s.mode, clientId: `pid-${s.pid}`, pid: s.pid, threadId: undefined, at: -Infinity })
    }
  }
  return { held: [...unexplained, ...held], pending: others.pending }
}
