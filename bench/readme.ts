// Writes the measured part of the README's benchmarks section from the results:
// machine, targets, one table per scenario and the charts. Only the text between
// the `bench:generated` markers changes; the prose around it is written by hand.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { root } from './baseline'
import { machineLine } from './charts'
import type { Results } from './results'
import { renderMarkdown, tableOf } from './tables'

const START = '<!-- bench:generated -->'
const END = '<!-- /bench:generated -->'
const SECTION_END = '<!-- /section:benchmarks -->'

export function renderSection (results: Results): string {
  const m = results.machine
  const peers = results.peers.map((p) => `${p.name}${p.version === undefined ? '' : ` ${p.version}`}${p.available ? '' : ` (unavailable: ${p.reason})`}`).join(', ')
  const lines: string[] = [
    START,
    `Measured ${results.date.slice(0, 10)} on ${m.cpu} (${m.cores} cores, ${m.memoryGiB} GiB), ${m.os} ${m.kernel}, ` +
      `Node ${m.node} (V8 ${m.v8}, N-API ${m.napi}), C baseline built with ${m.compiler ?? 'no compiler'}; ` +
      `locksmith ${results.locksmith.version}${results.locksmith.commit === undefined ? '' : ` at ${results.locksmith.commit}`}. ` +
      `Peers: ${peers}. Whole run: ${(results.durationMs / 60000).toFixed(1)} min${results.quick ? ' (quick mode)' : ''}.`,
    '',
    '**Targets** (ratios within this run):',
    '',
    ...results.targets.map((t) => `- ${t.met === true ? '✅ met' : t.met === false ? '❌ missed' : '➖ not measured'} — scenario ${t.scenario.slice(1)}: ${t.text}. ${t.detail}.`),
    '',
    '![Ratios to locksmith per scenario](bench/results/ratios.svg)',
    '',
    '![Hand-off latency distribution](bench/results/handoff.svg)',
    ''
  ]
  for (const scenario of results.scenarios) {
    lines.push(`#### ${scenario.id.slice(1)}. ${scenario.title}`, '', `Each sample: ${scenario.measures}.`, '', renderMarkdown(tableOf(scenario)), '')
  }
  lines.push(`Clock: ${results.clock.clock}, shared by all processes: ${results.clock.shared ? 'verified' : 'NOT verified'} (${results.clock.detail}).`, END)
  return lines.join('\n')
}

/** Replaces the generated block inside the benchmarks section (appends one if missing). */
export function updateReadme (results: Results, path = join(root, 'README.md')): void {
  const text = readFileSync(path, 'utf8')
  const block = renderSection(results)
  const start = text.indexOf(START)
  const end = text.indexOf(END)
  let updated: string
  if (start >= 0 && end > start) {
    updated = text.slice(0, start) + block + text.slice(end + END.length)
  } else {
    const sectionEnd = text.indexOf(SECTION_END)
    if (sectionEnd < 0) throw new Error('README.md has no benchmarks section')
    updated = `${text.slice(0, sectionEnd)}${block}\n${text.slice(sectionEnd)}`
  }
  writeFileSync(path, updated)
}
