// Each scenario as a table (header + rows of cells), shared by the terminal
// output and the README section.
import { count, duration, mib, ms, percent, ratio } from './format'
import type { Row, ScenarioResult } from './results'

export interface Table { header: string[], rows: string[][] }

function status (row: Row): string {
  if (row.status === 'ok') return ''
  return `${row.status}${row.reason === undefined ? '' : `: ${row.reason}`}`
}

function num (row: Row, key: string): number | undefined {
  const value = row.metrics?.[key]
  return typeof value === 'number' ? value : undefined
}

function timeTable (scenario: ScenarioResult, medianName: string): Table {
  return {
    header: ['contender', medianName, 'p99', 'vs locksmith', 'notes'],
    rows: scenario.rows.map((row) => row.status === 'ok'
      ? [row.label, duration(row.median), duration(row.p99), row.id === scenario.reference ? '1× (reference)' : ratio(row.ratio), row.note ?? '']
      : [row.label, '-', '-', '-', status(row)])
  }
}

function throughputTable (scenario: ScenarioResult): Table {
  return {
    header: ['contender', 'ops/s (total)', 'vs locksmith', 'shares min–max', 'fairness', 'max wait', 'counter'],
    rows: scenario.rows.map((row) => row.status === 'ok'
      ? [
          row.label,
          count(row.median),
          row.id === scenario.reference ? '1× (reference)' : ratio(row.ratio),
          `${percent(num(row, 'minShare'))}–${percent(num(row, 'maxShare'))}`,
          (num(row, 'fairness') ?? Number.NaN).toFixed(2),
          ms(num(row, 'maxWaitMs')),
          row.metrics?.counterOk === true ? 'ok' : 'WRONG'
        ]
      : [row.label, '-', '-', '-', '-', '-', status(row)])
  }
}

function waitersTable (scenario: ScenarioResult): Table {
  return {
    header: ['contender', 'threads idle → waiting', 'RSS idle → waiting', 'loop delay p99 idle → waiting', 'readFile p50 / p99 waiting (idle)', 'all had the lock after', 'status'],
    rows: scenario.rows.map((row) => {
      if (row.metrics === undefined) return [row.label, '-', '-', '-', '-', '-', status(row)]
      const stalled = row.metrics.waitingReadFileStalled === true
      const drain = row.metrics.drainMs
      return [
        row.label,
        `${num(row, 'idleThreads')} → ${num(row, 'waitingThreads')}`,
        `${mib(num(row, 'idleRssMiB'))} → ${mib(num(row, 'waitingRssMiB'))}`,
        `${ms(num(row, 'idleEventLoopDelayP99Ms'))} → ${ms(num(row, 'waitingEventLoopDelayP99Ms'))}`,
        `${stalled ? 'stalled' : `${ms(num(row, 'waitingReadFileP50Ms'))} / ${ms(num(row, 'waitingReadFileP99Ms'))}`} (${ms(num(row, 'idleReadFileP50Ms'))} / ${ms(num(row, 'idleReadFileP99Ms'))})`,
        typeof drain === 'number' ? ms(drain) : 'not within the bound',
        row.status === 'ok' ? 'ok' : status(row)
      ]
    })
  }
}

export function tableOf (scenario: ScenarioResult): Table {
  switch (scenario.unit) {
    case 'ops/s': return throughputTable(scenario)
    case 'none': return waitersTable(scenario)
    default: return timeTable(scenario, scenario.id === 's4' || scenario.id === 's7' ? 'p50' : 'median')
  }
}

/** Fixed-width text for the terminal. */
export function renderText (table: Table, maxNote = 60): string {
  const rows = table.rows.map((cells) => cells.map((cell, i) => i === cells.length - 1 && cell.length > maxNote ? `${cell.slice(0, maxNote - 1)}…` : cell))
  const widths = table.header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((cell, i) => i === 0 || i === cells.length - 1 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number)).join('  ').trimEnd()
  return [line(table.header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

/** A GitHub markdown table. */
export function renderMarkdown (table: Table): string {
  const escape = (cell: string): string => cell.replace(/\|/g, '\\|')
  return [
    `| ${table.header.map(escape).join(' | ')} |`,
    `|${table.header.map((_, i) => i === 0 || i === table.header.length - 1 ? '---' : '---:').join('|')}|`,
    ...table.rows.map((cells) => `| ${cells.map(escape).join(' | ')} |`)
  ].join('\n')
}
