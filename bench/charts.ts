// SVG charts drawn from the results: no chart library, just rectangles and text
// on logarithmic axes (the numbers span several orders of magnitude).
import { duration, ratio } from './format'
import type { Results, Row, ScenarioResult } from './results'

const FONT = 'font-family="-apple-system, Segoe UI, Helvetica, Arial, sans-serif"'
const COLORS = { locksmith: '#2563eb', c: '#6b7280', peer: '#f59e0b', axis: '#9ca3af', text: '#111827', muted: '#6b7280', grid: '#e5e7eb' }

function escape (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function colorOf (row: Row): string {
  if (row.id.startsWith('locksmith')) return COLORS.locksmith
  if (row.id.startsWith('c-')) return COLORS.c
  return COLORS.peer
}

class LogScale {
  readonly #lo: number
  readonly #hi: number
  constructor (lo: number, hi: number, readonly x0: number, readonly width: number) {
    this.#lo = Math.log10(lo)
    this.#hi = Math.log10(hi)
  }

  x (value: number): number {
    return this.x0 + ((Math.log10(value) - this.#lo) / (this.#hi - this.#lo)) * this.width
  }

  /** Ticks at 1, 2, 5 × powers of ten inside the domain (only powers of ten if there are many). */
  ticks (): number[] {
    const out: number[] = []
    const decades = this.#hi - this.#lo
    const steps = decades > 4 ? [1] : [1, 2, 5]
    for (let p = Math.floor(this.#lo); p <= Math.ceil(this.#hi); p++) {
      for (const s of steps) {
        const v = s * 10 ** p
        const l = Math.log10(v)
        if (l >= this.#lo - 1e-9 && l <= this.#hi + 1e-9) out.push(v)
      }
    }
    return out
  }
}

function tickLabel (value: number): string {
  return value >= 1 ? `${value}×` : `${Number(value.toPrecision(1))}×`
}

const TITLES: Record<string, string> = {
  s1: '1. try-lock + unlock, open file (sync)',
  s2: '2. open + lock + unlock + close',
  s3: '3. async uncontended acquire + release',
  s4: '4. hand-off between two processes (p50)',
  s5: '5. 4-process contended throughput',
  s7: '7. cancellation latency (p50)'
}

/** Every row's ratio to locksmith, per scenario, as diverging bars around 1×. */
export function ratiosChart (results: Results): string {
  const groups = results.scenarios
    .filter((s) => TITLES[s.id] !== undefined)
    .map((s) => ({ s, rows: s.rows.filter((r) => r.status === 'ok' && r.ratio !== undefined) }))
    .filter((g) => g.rows.length > 0)
  const all = groups.flatMap((g) => g.rows.map((r) => r.ratio as number))
  const lo = Math.min(0.5, ...all) / 1.3
  const hi = Math.max(2, ...all) * 1.6
  const width = 960
  const labelWidth = 360
  const scale = new LogScale(lo, hi, labelWidth, width - labelWidth - 70)
  const rowHeight = 18
  const headHeight = 26
  let y = 58
  const body: string[] = []
  for (const { s, rows } of groups) {
    body.push(`<text x="8" y="${y + 17}" font-size="13" font-weight="600" fill="${COLORS.text}">${escape(TITLES[s.id] as string)}</text>`)
    y += headHeight
    for (const row of rows) {
      const value = row.ratio as number
      const x1 = scale.x(1)
      const x2 = scale.x(value)
      const left = Math.min(x1, x2)
      const barWidth = Math.max(1.5, Math.abs(x2 - x1))
      body.push(`<text x="${labelWidth - 8}" y="${y + 13}" font-size="11" text-anchor="end" fill="${COLORS.text}">${escape(row.label.length > 58 ? `${row.label.slice(0, 57)}…` : row.label)}</text>`)
      body.push(`<rect x="${left.toFixed(1)}" y="${y + 3}" width="${barWidth.toFixed(1)}" height="${rowHeight - 6}" fill="${colorOf(row)}" rx="2"/>`)
      const text = row.id === s.reference ? 'reference' : ratio(value)
      // Values always right of the bar's right end, so long bars to the left never run into the labels.
      body.push(`<text x="${(Math.max(x1, x2) + 4).toFixed(1)}" y="${y + 13}" font-size="11" fill="${COLORS.muted}">${escape(text)}</text>`)
      y += rowHeight
    }
    y += 6
  }
  const height = y + 34
  const grid = scale.ticks().map((t) => {
    const x = scale.x(t).toFixed(1)
    return `<line x1="${x}" y1="50" x2="${x}" y2="${height - 30}" stroke="${t === 1 ? COLORS.axis : COLORS.grid}" stroke-width="${t === 1 ? 1.5 : 1}"/>` +
      `<text x="${x}" y="${height - 14}" font-size="11" text-anchor="middle" fill="${COLORS.muted}">${tickLabel(t)}</text>`
  })
  return svg(width, height, [
    `<text x="8" y="22" font-size="16" font-weight="600" fill="${COLORS.text}">Time (or for throughput, locksmith's ops/s) relative to locksmith — right of 1× is slower than locksmith</text>`,
    `<text x="8" y="40" font-size="11" fill="${COLORS.muted}">${escape(machineLine(results))} · log scale · medians of one run</text>`,
    ...grid,
    ...body
  ])
}

/** Hand-off latency distributions: whiskers p1–p99, box p25–p75, median tick. */
export function handoffChart (results: Results): string {
  const s4 = results.scenarios.find((s) => s.id === 's4')
  const rows = (s4?.rows ?? []).filter((r) => r.status === 'ok' && s4?.distributions?.[r.id] !== undefined)
  // Distributions are sorted quantiles (101 of them, or every sample when there were fewer).
  const q = (row: Row, p: number): number => {
    const sorted = (s4 as ScenarioResult).distributions?.[row.id] ?? []
    return sorted[Math.round((p / 100) * (sorted.length - 1))] as number
  }
  const all = rows.flatMap((r) => [q(r, 1), q(r, 99)]).filter((v) => v > 0)
  const lo = Math.min(...all, 10_000) / 1.5
  const hi = Math.max(...all, 100_000) * 1.5
  const width = 960
  const labelWidth = 360
  const scale = new LogScale(lo, hi, labelWidth, width - labelWidth - 90)
  const rowHeight = 26
  let y = 58
  const body: string[] = []
  for (const row of rows) {
    const mid = y + rowHeight / 2
    const color = colorOf(row)
    const [p1, p25, p50, p75, p99] = [1, 25, 50, 75, 99].map((p) => Math.max(q(row, p), lo)) as [number, number, number, number, number]
    body.push(`<text x="${labelWidth - 8}" y="${mid + 4}" font-size="11" text-anchor="end" fill="${COLORS.text}">${escape(row.label.length > 58 ? `${row.label.slice(0, 57)}…` : row.label)}</text>`)
    body.push(`<line x1="${scale.x(p1).toFixed(1)}" y1="${mid}" x2="${scale.x(p99).toFixed(1)}" y2="${mid}" stroke="${color}" stroke-width="1.5"/>`)
    body.push(`<rect x="${scale.x(p25).toFixed(1)}" y="${mid - 7}" width="${Math.max(1.5, scale.x(p75) - scale.x(p25)).toFixed(1)}" height="14" fill="${color}" fill-opacity="0.35" stroke="${color}"/>`)
    body.push(`<line x1="${scale.x(p50).toFixed(1)}" y1="${mid - 9}" x2="${scale.x(p50).toFixed(1)}" y2="${mid + 9}" stroke="${color}" stroke-width="2.5"/>`)
    body.push(`<text x="${(scale.x(p99) + 6).toFixed(1)}" y="${mid + 4}" font-size="11" fill="${COLORS.muted}">p50 ${escape(duration(row.median))}</text>`)
    y += rowHeight
  }
  const height = y + 40
  const ticks = new LogScale(lo, hi, 0, 1).ticks()
  const grid = ticks.map((t) => {
    const x = scale.x(t).toFixed(1)
    return `<line x1="${x}" y1="50" x2="${x}" y2="${height - 30}" stroke="${COLORS.grid}"/>` +
      `<text x="${x}" y="${height - 14}" font-size="11" text-anchor="middle" fill="${COLORS.muted}">${escape(duration(t))}</text>`
  })
  return svg(width, height, [
    `<text x="8" y="22" font-size="16" font-weight="600" fill="${COLORS.text}">Hand-off latency between two processes: release → the waiter holds the lock</text>`,
    `<text x="8" y="40" font-size="11" fill="${COLORS.muted}">${escape(machineLine(results))} · log scale · line p1–p99, box p25–p75, tick p50</text>`,
    ...grid,
    ...body
  ])
}

export function machineLine (results: Results): string {
  const m = results.machine
  return `${m.cpu}, ${m.cores} cores, ${m.os} ${m.kernel}, Node ${m.node}, ${results.date.slice(0, 10)}`
}

function svg (width: number, height: number, body: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>\n` +
    `<rect width="${width}" height="${height}" fill="#ffffff"/>\n${body.join('\n')}\n</svg>\n`
}
