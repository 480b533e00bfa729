// Descriptors locksmith's caller passed down (a shell's `9>file`, a jobserver
// fifo) should reach the command, as they do through flock(1). Node marks
// descriptors 0-15 close-on-exec at startup (libuv's uv_disable_stdio_inheritance),
// so 3-15 are lost unless handed over explicitly. They are told apart from
// Node's own descriptors by kind: Node keeps only anonymous inodes and pipes
// whose both ends it holds; everything else in that range came from outside.
import { readdirSync, readlinkSync } from 'node:fs'

const LIBUV_CLOEXEC_LIMIT = 15

/** Inherited descriptors 3-15 (Linux; elsewhere none are detectable). Call before opening anything. */
export function inheritedDescriptors (): number[] {
  if (process.platform !== 'linux') return []
  let entries: string[]
  try {
    entries = readdirSync('/proc/self/fd')
  } catch {
    return []
  }
  const targets = new Map<number, string>()
  for (const entry of entries) {
    const fd = Number(entry)
    try {
      targets.set(fd, readlinkSync(`/proc/self/fd/${entry}`))
    } catch { /* the descriptor readdir itself used, now closed */ }
  }
  const pipeEnds = new Map<string, number>()
  for (const target of targets.values()) {
    if (target.startsWith('pipe:')) pipeEnds.set(target, (pipeEnds.get(target) ?? 0) + 1)
  }
  const ipc = Number(process.env.NODE_CHANNEL_FD) // Node's own IPC channel, if locksmith was forked
  const found: number[] = []
  for (const [fd, target] of targets) {
    if (fd < 3 || fd > LIBUV_CLOEXEC_LIMIT || fd === ipc) continue
    if (target.startsWith('anon_inode:')) continue
    if (target.startsWith('/proc/') && target.endsWith('/fd')) continue // the directory being listed
    if (target.startsWith('pipe:') && (pipeEnds.get(target) ?? 0) > 1) continue
    found.push(fd)
  }
  return found.sort((a, b) => a - b)
}

/**
 * Whether `fd` is open and came from the caller rather than being one of
 * Node's own (its event loop's epoll, eventfd and self-pipes), by the same
 * rule as above but at any number: locking Node's own descriptor would lock
 * nothing the caller holds. Linux; elsewhere any open descriptor counts.
 */
export function isInheritedDescriptor (fd: number): boolean {
  if (process.platform !== 'linux') return true
  let target: string
  try {
    target = readlinkSync(`/proc/self/fd/${fd}`)
  } catch {
    return false // not open
  }
  if (target.startsWith('anon_inode:')) return false
  if (Number(process.env.NODE_CHANNEL_FD) === fd) return false
  if (target.startsWith('pipe:')) {
    let ends = 0
    try {
      for (const entry of readdirSync('/proc/self/fd')) {
        try { if (readlinkSync(`/proc/self/fd/${entry}`) === target) ends++ } catch {}
      }
    } catch {}
    if (ends > 1) return false
  }
  return true
}
