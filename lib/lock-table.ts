// The Linux lock table: who holds or waits for which lock, from /proc/locks
// joined with /proc/<pid>. Shared by holders() (lib/holders.ts) and
// `locksmith status`. What /proc shows, and what it cannot:
// - flock and POSIX lines carry a pid, but for flock it is the process that
//   took the lock, which may have exited while a child that inherited the
//   descriptor keeps it. OFD lines carry pid -1.
// - Holders are therefore found through /proc/<pid>/fdinfo/<fd> `lock:` lines,
//   which list every process whose descriptor shares the locked open file
//   description. Those files are readable for one's own processes (all as root).
// - Waiters appear in /proc/locks only; an OFD waiter (pid -1) is found by the
//   system call its thread is blocked in (/proc/<pid>/task/<tid>/syscall) and,
//   where its memory is readable, the struct flock it passed.
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, statSync } from 'node:fs'
import { endianness } from 'node:os'
import { parseLockLine, parseProcLocks, sameLock, splitDevice, deviceName, type ProcLock } from './proc-locks'

export interface LockProcess {
  pid: number
  /** The descriptor the lock is on (null when only /proc/locks named the process). */
  fd: number | null
  /** For a waiter found by its blocked system call: the waiting thread. */
  tid?: number
  /** The command line (empty when /proc/<pid>/cmdline is unreadable or the process is gone). */
  args: string[]
}

export interface LockStatus {
  /** The path given on the command line, else one a holder has open, else null. */
  path: string | null
  device: string
  inode: number
  /** flock, ofd, posix (locksmith backend names); lease, deleg... for other kernel kinds. */
  kind: string
  mode: 'exclusive' | 'shared' | string
  state: 'held' | 'waiting'
  /** Bytes `start` .. `start + length - 1`; length 0: to the end of the file and beyond. */
  range: { start: number, length: number }
  /** The pid /proc/locks shows (null for -1). */
  pid: number | null
  processes: LockProcess[]
}

export interface StatusResult {
  locks: LockStatus[]
  /** Files from the command line that could not be examined. */
  errors: Array<{ path: string, code: string, message: string }>
}

const KINDS: Record<string, string> = { FLOCK: 'flock', OFDLCK: 'ofd', POSIX: 'posix', DELEG: 'delegation' }
const MODES: Record<string, string> = { WRITE: 'exclusive', READ: 'shared' }

/** System call numbers of fcntl and flock per architecture (asm/unistd.h). */
const SYSCALLS: Partial<Record<string, { fcntl: number[], flock: number }>> = {
  x64: { fcntl: [72], flock: 73 },
  arm64: { fcntl: [25], flock: 32 },
  riscv64: { fcntl: [25], flock: 32 },
  loong64: { fcntl: [25], flock: 32 },
  ia32: { fcntl: [55, 221], flock: 143 },
  arm: { fcntl: [55, 221], flock: 143 },
  ppc64: { fcntl: [55], flock: 143 },
  s390x: { fcntl: [55], flock: 143 }
}
const F_SETLKW = [7, 14] // 14: F_SETLKW64 on 32-bit
const F_OFD_SETLKW = 38

interface Descriptor {
  pid: number
  fd: number
  dev: bigint
  ino: bigint
}

function read (path: string): string | undefined {
  try { return readFileSync(path, 'utf8') } catch { return undefined }
}

function list (path: string): string[] {
  try { return readdirSync(path) } catch { return [] }
}

function commandLine (pid: number): string[] {
  const raw = read(`/proc/${pid}/cmdline`)
  if (raw === undefined || raw === '') return []
  return raw.replace(/\0$/, '').split('\0')
}

function processIds (): number[] {
  return list('/proc').filter((name) => /^\d+$/.test(name)).map(Number)
}

function fileKey (dev: bigint, ino: bigint): string {
  return `${dev}:${ino}`
}

/** Descriptors of every visible process that name a locked inode. */
function lockedDescriptors (inodes: Set<bigint>): Descriptor[] {
  const found: Descriptor[] = []
  for (const pid of processIds()) {
    for (const entry of list(`/proc/${pid}/fd`)) {
      try {
        const st = statSync(`/proc/${pid}/fd/${entry}`, { bigint: true })
        if (inodes.has(st.ino)) found.push({ pid, fd: Number(entry), dev: st.dev, ino: st.ino })
      } catch { /* closed meanwhile, or not ours to see */ }
    }
  }
  return found
}

/** Which processes (and descriptors) hold each lock, from fdinfo `lock:` lines. */
function holdersOf (descriptors: Descriptor[]): Array<{ descriptor: Descriptor, lock: ProcLock }> {
  const result: Array<{ descriptor: Descriptor, lock: ProcLock }> = []
  for (const descriptor of descriptors) {
    const info = read(`/proc/${descriptor.pid}/fdinfo/${descriptor.fd}`)
    if (info === undefined) continue
    for (const line of info.split('\n')) {
      if (!line.startsWith('lock:')) continue
      const lock = parseLockLine(line.slice(5).trim())
      if (lock !== undefined) result.push({ descriptor, lock })
    }
  }
  return result
}

interface BlockedThread {
  pid: number
  tid: number
  fd: number
  kind: string
  /** What it asks for, when readable: READ or WRITE, and the byte range. */
  request?: { type: string, start: number, end: number | undefined }
}

const LITTLE_ENDIAN = endianness() === 'LE'
const FLOCK_STRUCT_64 = ['x64', 'arm64', 'riscv64', 'loong64', 'ppc64', 's390x']

/**
 * The struct flock a thread passed to fcntl, read from its memory (allowed
 * for one's own processes unless ptrace is restricted, and for root).
 * 64-bit layout: short l_type, short l_whence, off_t l_start @8, off_t l_len @16.
 */
function readFlockRequest (pid: number, address: string): BlockedThread['request'] {
  if (!FLOCK_STRUCT_64.includes(process.arch)) return undefined
  let fd: number | undefined
  try {
    fd = openSync(`/proc/${pid}/mem`, 'r')
    const b = Buffer.alloc(24)
    if (readSync(fd, b, 0, 24, BigInt(address)) !== 24) return undefined
    const type = LITTLE_ENDIAN ? b.readInt16LE(0) : b.readInt16BE(0)
    const whence = LITTLE_ENDIAN ? b.readInt16LE(2) : b.readInt16BE(2)
    const start = Number(LITTLE_ENDIAN ? b.readBigInt64LE(8) : b.readBigInt64BE(8))
    const length = Number(LITTLE_ENDIAN ? b.readBigInt64LE(16) : b.readBigInt64BE(16))
    if (whence !== 0 || (type !== 0 && type !== 1) || length < 0) return undefined // relative or odd requests: unknown
    return { type: type === 0 ? 'READ' : 'WRITE', start, end: length === 0 ? undefined : start + length - 1 }
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** Threads blocked in F_OFD_SETLKW, F_SETLKW or flock(), with the descriptor they wait on. */
function blockedThreads (): BlockedThread[] {
  const numbers = SYSCALLS[process.arch]
  if (numbers === undefined) return []
  const found: BlockedThread[] = []
  for (const pid of processIds()) {
    for (const task of list(`/proc/${pid}/task`)) {
      const fields = read(`/proc/${pid}/task/${task}/syscall`)?.trim().split(' ')
      if (fields === undefined || fields.length < 4) continue
      const nr = Number(fields[0])
      const fd = Number(fields[1])
      const arg = Number(fields[2])
      const thread = { pid, tid: Number(task), fd }
      if (nr === numbers.flock) {
        // LOCK_SH 1, LOCK_EX 2 (LOCK_NB 4 never blocks)
        found.push({ ...thread, kind: 'FLOCK', request: { type: (arg & 2) !== 0 ? 'WRITE' : 'READ', start: 0, end: undefined } })
      } else if (numbers.fcntl.includes(nr) && (arg === F_OFD_SETLKW || F_SETLKW.includes(arg))) {
        const request = readFlockRequest(pid, fields[3] as string)
        found.push({ ...thread, kind: arg === F_OFD_SETLKW ? 'OFDLCK' : 'POSIX', ...(request === undefined ? {} : { request }) })
      }
    }
  }
  return found
}

/** The blocked thread behind an anonymous waiter line: an exact request match first, else one whose request is unknown. */
function pickThread (entry: ProcLock, threads: BlockedThread[], taken: Set<string>, descriptorOf: Map<string, Descriptor>): { thread: BlockedThread, descriptor: Descriptor } | undefined {
  const candidates = threads.flatMap((thread) => {
    const descriptor = descriptorOf.get(`${thread.pid}/${thread.fd}`)
    if (taken.has(`${thread.pid}/${thread.tid}`) || thread.kind !== entry.kind || descriptor?.ino !== entry.inode) return []
    return [{ thread, descriptor }]
  })
  const exact = candidates.find(({ thread: { request: r } }) => r !== undefined && r.type === entry.type && r.start === entry.start && r.end === entry.end)
  return exact ?? candidates.find(({ thread }) => thread.request === undefined)
}

export interface StatusOptions {
  /** Files to report on; none: every lock on the system. */
  files: string[]
  /** Where to read the lock table (tests and other mounts). */
  procLocks?: string
}

/** A file to report on, already identified: its name (for the result) and its device and inode. */
export interface LockTarget {
  path: string
  dev: bigint
  ino: bigint
}

export function collectStatus (options: StatusOptions): StatusResult {
  const errors: StatusResult['errors'] = []
  const targets: LockTarget[] = []
  for (const path of options.files) {
    try {
      const st = statSync(path, { bigint: true })
      targets.push({ path, dev: st.dev, ino: st.ino })
    } catch (error) {
      const e = error as NodeJS.ErrnoException
      errors.push({ path, code: e.code ?? 'EUNKNOWN', message: e.message })
    }
  }
  const text = readFileSync(options.procLocks ?? '/proc/locks', 'utf8')
  if (options.files.length > 0 && targets.length === 0) return { locks: [], errors }
  return { locks: collectLocks(text, options.files.length > 0 ? targets : undefined), errors }
}

/**
 * The locks on the given files (undefined: on every file) with the processes
 * behind them, from the text of /proc/locks.
 */
export function collectLocks (text: string, targets: readonly LockTarget[] | undefined): LockStatus[] {
  const entries = parseProcLocks(text)
  // The files asked about, as (device, inode) pairs, and their names.
  const wanted = new Map<string, string>()
  const wantedInodes = new Set<bigint>()
  for (const target of targets ?? []) {
    wanted.set(fileKey(target.dev, target.ino), target.path)
    wantedInodes.add(target.ino)
  }
  const inodes = new Set(entries.map((e) => e.inode))
  if (targets !== undefined) for (const ino of [...inodes]) if (!wantedInodes.has(ino)) inodes.delete(ino)
  const relevant = entries.filter((e) => inodes.has(e.inode))
  const descriptors = relevant.length === 0 ? [] : lockedDescriptors(inodes)
  const holders = holdersOf(descriptors)
  const needThreads = relevant.some((e) => e.waiting && e.pid <= 0)
  const threads = needThreads ? blockedThreads() : []
  const descriptorOf = new Map(descriptors.map((d) => [`${d.pid}/${d.fd}`, d]))
  const threadsTaken = new Set<string>()

  const locks: LockStatus[] = []
  for (const entry of relevant) {
    const processes: LockProcess[] = []
    const seen: Descriptor[] = []
    if (!entry.waiting) {
      for (const { descriptor, lock } of holders) {
        if (!sameLock(lock, entry)) continue
        processes.push({ pid: descriptor.pid, fd: descriptor.fd, args: commandLine(descriptor.pid) })
        seen.push(descriptor)
      }
    } else if (entry.pid <= 0) {
      // Pair an anonymous waiter with a thread blocked on the same file.
      const picked = pickThread(entry, threads, threadsTaken, descriptorOf)
      if (picked !== undefined) {
        const { thread, descriptor } = picked
        threadsTaken.add(`${thread.pid}/${thread.tid}`)
        processes.push({ pid: thread.pid, fd: thread.fd, tid: thread.tid, args: commandLine(thread.pid) })
        seen.push(descriptor)
      }
    }
    if (processes.length === 0 && entry.pid > 0) {
      // fdinfo unreadable, or a waiter: the pid /proc/locks names, and its descriptor on the file if visible.
      const own = descriptors.find((d) => d.pid === entry.pid && d.ino === entry.inode)
      processes.push({ pid: entry.pid, fd: own?.fd ?? null, args: commandLine(entry.pid) })
      if (own !== undefined) seen.push(own)
    }
    let path: string | null = null
    if (targets !== undefined) {
      const device = seen.map((d) => wanted.get(fileKey(d.dev, d.ino))).find((p) => p !== undefined)
      path = device ?? pathByProcDevice(wanted, entry)
      if (path === null) continue // an inode number shared with a file on another device
    } else {
      const first = processes.find((p) => p.fd !== null)
      if (first !== undefined) {
        try { path = readlinkSync(`/proc/${first.pid}/fd/${first.fd}`) } catch { path = null }
      }
    }
    locks.push({
      path,
      device: deviceName(entry.major, entry.minor),
      inode: Number(entry.inode),
      kind: KINDS[entry.kind] ?? entry.kind.toLowerCase(),
      mode: MODES[entry.type] ?? entry.type.toLowerCase(),
      state: entry.waiting ? 'waiting' : 'held',
      range: { start: entry.start, length: entry.end === undefined ? 0 : entry.end - entry.start + 1 },
      pid: entry.pid > 0 ? entry.pid : null,
      processes
    })
  }
  return locks
}

/** A file asked about whose device and inode are the ones /proc/locks shows. */
function pathByProcDevice (wanted: Map<string, string>, entry: ProcLock): string | null {
  for (const [key, path] of wanted) {
    const [dev, ino] = key.split(':')
    const { major, minor } = splitDevice(BigInt(dev as string))
    if (BigInt(ino as string) === entry.inode && major === entry.major && minor === entry.minor) return path
  }
  return null
}
