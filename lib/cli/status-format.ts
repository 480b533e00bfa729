// How `locksmith status` prints: a table for people, JSON for scripts.
import type { LockStatus } from '../lock-table'

function rangeText (range: LockStatus['range']): string {
  if (range.start === 0 && range.length === 0) return 'whole'
  return range.length === 0 ? `${range.start}-EOF` : `${range.start}-${range.start + range.length - 1}`
}

function quote (arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`
}

export function commandText (args: readonly string[]): string {
  return args.map(quote).join(' ')
}

/** One row per process and lock; a lock nobody visible holds still gets its row. */
export function formatTable (locks: readonly LockStatus[], width = Infinity): string {
  const header = ['PATH', 'KIND', 'MODE', 'STATE', 'RANGE', 'PID', 'COMMAND']
  const rows: string[][] = []
  for (const lock of locks) {
    const path = lock.path ?? `${lock.device}:${lock.inode}`
    const processes = lock.processes.length > 0 ? lock.processes : [{ pid: lock.pid ?? -1, fd: null, args: [] }]
    for (const p of processes) {
      const pid = p.pid > 0 ? String(p.pid) : '?'
      const command = p.args.length > 0 ? commandText(p.args) : (p.pid > 0 ? '(gone or not visible)' : '(not visible)')
      rows.push([path, lock.kind, lock.mode, lock.state, rangeText(lock.range), pid, command])
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
  const line = (cells: string[]): string => {
    const text = cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i] as number)).join('  ')
    return text.length > width ? text.slice(0, Math.max(width - 1, 0)) + '…' : text
  }
  return [line(header), ...rows.map(line)].join('\n') + '\n'
}

export function formatJson (locks: readonly LockStatus[]): string {
  return JSON.stringify(locks, null, 2) + '\n'
}
