// Parsing of Linux /proc/locks lines (also the `lock:` lines of /proc/<pid>/fdinfo/<fd>):
//   2: FLOCK  ADVISORY  WRITE 8527 fe:00:2179266 0 EOF
//   2: -> FLOCK  ADVISORY  READ 8570 fe:00:2179266 0 EOF      (a waiter, blocked on lock 2)
//   3: OFDLCK ADVISORY  WRITE -1 fe:00:2179250 0 EOF          (OFD locks show pid -1)
//   1: POSIX  ADVISORY  WRITE 8573 fe:00:2179282 10 109       (bytes 10 to 109)

export interface ProcLock {
  /** The line's number in /proc/locks (waiters share their blocker's). */
  id: number
  waiting: boolean
  /** FLOCK, OFDLCK, POSIX, LEASE, DELEG... as the kernel writes it. */
  kind: string
  /** READ, WRITE (UNLCK for a lease being broken). */
  type: string
  /** -1 for OFD locks, and when the holder is in another pid namespace. */
  pid: number
  major: number
  minor: number
  inode: bigint
  start: number
  /** Last byte, inclusive; undefined for EOF (to the end of the file and beyond). */
  end: number | undefined
}

const LINE = /^(\d+):\s+(->\s+)?(\S+)\s+(\S+)\s+(\S+)\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s+(\d+)\s+(\d+|EOF)\s*$/

export function parseLockLine (line: string): ProcLock | undefined {
  const m = LINE.exec(line)
  if (m === null) return undefined // e.g. `<none>` for a lock without an inode
  return {
    id: Number(m[1]),
    waiting: m[2] !== undefined,
    kind: m[3] as string,
    type: m[5] as string,
    pid: Number(m[6]),
    major: parseInt(m[7] as string, 16),
    minor: parseInt(m[8] as string, 16),
    inode: BigInt(m[9] as string),
    start: Number(m[10]),
    end: m[11] === 'EOF' ? undefined : Number(m[11])
  }
}

export function parseProcLocks (text: string): ProcLock[] {
  const locks: ProcLock[] = []
  for (const line of text.split('\n')) {
    const lock = parseLockLine(line)
    if (lock !== undefined) locks.push(lock)
  }
  return locks
}

/** The same lock seen in /proc/locks and in an fdinfo `lock:` line (whose numbering differs). */
export function sameLock (a: ProcLock, b: ProcLock): boolean {
  return a.kind === b.kind && a.type === b.type && a.pid === b.pid && a.major === b.major &&
    a.minor === b.minor && a.inode === b.inode && a.start === b.start && a.end === b.end
}

/** Splits a stat() st_dev (glibc encoding) into the major and minor /proc/locks shows. */
export function splitDevice (dev: bigint): { major: number, minor: number } {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n)
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n)
  return { major: Number(major), minor: Number(minor) }
}

export function deviceName (major: number, minor: number): string {
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`
}
