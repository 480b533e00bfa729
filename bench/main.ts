// npm run bench [-- --quick] [--only s1,s4] [--compare REF] [--report] [--readme]
//
// Runs the scenarios side by side with the peers and the C baseline, prints one
// table per scenario on stdout (progress on stderr), and writes the results:
//   full run:  bench/results/latest.json, bench/results/ratios.svg, bench/results/handoff.svg
//   --quick:   a short run (under a minute) to check the benchmark still works;
//              results go to bench/results/tmp/ and leave the committed ones alone
//   --only:    some scenarios only (results go to bench/results/tmp/)
//   --report:  measure nothing; redraw tables and charts from latest.json
//   --readme:  also rewrite the measured part of the README's benchmarks section
//   --compare REF: locksmith's rows of scenarios 1-5 for this tree and for the
//              git revision REF, interleaved; prints REF's time over this tree's
//              per row (results go to bench/results/tmp/compare.json)
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, release, totalmem, type } from 'node:os'
import { join } from 'node:path'
import { native } from '../lib/native'
import { buildBaseline, root, tmpDir } from './baseline'
import { handoffChart, ratiosChart } from './charts'
import { checkSharedClock } from './clock'
import { prepareComparison, REF_SUFFIX } from './compare'
import { createContext, type Context } from './context'
import { allPeerInfo } from './peers'
import { progress, progressDone } from './progress'
import { updateReadme } from './readme'
import type { Results, ScenarioResult } from './results'
import { scenario1 } from './s1-trylock'
import { scenario2 } from './s2-cycle'
import { scenario3 } from './s3-async'
import { scenario4 } from './s4-handoff'
import { scenario5 } from './s5-throughput'
import { scenario6 } from './s6-waiters'
import { scenario7 } from './s7-cancel'
import { scenario8 } from './s8-weblocks'
import { renderText, tableOf } from './tables'
import { checkTargets } from './targets'

const SCENARIOS: Record<string, (context: Context) => Promise<ScenarioResult>> = {
  s1: scenario1, s2: scenario2, s3: scenario3, s4: scenario4, s5: scenario5, s6: scenario6, s7: scenario7, s8: scenario8
}

/** The scenarios a --compare run can measure for two builds. */
const COMPARABLE = ['s1', 's2', 's3', 's4', 's5']

interface Options { quick: boolean, only: string[] | undefined, report: boolean, readme: boolean, compare: string | undefined }

function parseArgs (argv: string[]): Options {
  const options: Options = { quick: false, only: undefined, report: false, readme: false, compare: undefined }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--quick') options.quick = true
    else if (arg === '--report') options.report = true
    else if (arg === '--readme') options.readme = true
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg === '--only' ? argv[++i] : arg.slice('--only='.length)
      options.only = (value ?? '').split(',').map((s) => s.trim().toLowerCase().replace(/^(\d)$/, 's$1')).filter((s) => s !== '')
      const unknown = options.only.filter((s) => SCENARIOS[s] === undefined)
      if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')} (s1..s8)`)
    } else if (arg === '--compare' || arg.startsWith('--compare=')) {
      options.compare = arg === '--compare' ? argv[++i] : arg.slice('--compare='.length)
      if (options.compare === undefined || options.compare === '') throw new Error('--compare needs a git revision (e.g. --compare main)')
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write('usage: npm run bench [-- --quick] [--only s1,s4] [--compare REF] [--report] [--readme]\n')
      process.exit(0)
    } else {
      throw new Error(`unknown option ${arg}`)
    }
  }
  if (options.compare !== undefined) {
    if (options.report || options.readme) throw new Error('--compare measures; it does not go with --report or --readme')
    const other = (options.only ?? []).filter((id) => !COMPARABLE.includes(id))
    if (other.length > 0) throw new Error(`--compare measures ${COMPARABLE.join(', ')} only, not ${other.join(', ')}`)
    options.only ??= COMPARABLE
  }
  return options
}

function git (args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
  } catch {
    return undefined
  }
}

function machine (compiler: string | undefined): Results['machine'] {
  const cpu = cpus()
  return {
    cpu: (cpu[0]?.model ?? 'unknown CPU').replace(/\s+/g, ' ').trim(),
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: type(),
    kernel: release(),
    node: process.version,
    v8: process.versions.v8,
    uv: process.versions.uv ?? '',
    napi: process.versions.napi ?? '',
    compiler
  }
}

function print (results: Results): void {
  const out: string[] = []
  for (const scenario of results.scenarios) {
    out.push(`\n${scenario.id.slice(1)}. ${scenario.title}`, `   ${scenario.measures}`, renderText(tableOf(scenario)))
  }
  if (results.comparison !== undefined) {
    out.push(`\n${results.comparison.ref} (${results.comparison.commit.slice(0, 12)}) against this tree, per row: its median / this tree's (above 1: this tree is faster)`)
    for (const scenario of results.scenarios) {
      for (const row of scenario.rows) {
        if (!row.id.endsWith(REF_SUFFIX) || row.ratio === undefined) continue
        const mine = scenario.rows.find((r) => r.id === row.id.slice(0, -REF_SUFFIX.length))
        if (mine?.median === undefined || row.median === undefined) continue
        const r = scenario.unit === 'ops/s' ? mine.median / row.median : row.median / mine.median
        out.push(`  s${scenario.id.slice(1)} ${mine.label}: ${r.toFixed(3)}`)
      }
    }
  } else {
    out.push('\ntargets')
    for (const t of results.targets) out.push(`  ${t.met === true ? 'met    ' : t.met === false ? 'MISSED ' : 'n/a    '} s${t.scenario.slice(1)} ${t.text}: ${t.detail}`)
  }
  out.push(`\n${results.machine.cpu}, ${results.machine.cores} cores, Node ${results.machine.node}; ${(results.durationMs / 1000).toFixed(0)} s`)
  process.stdout.write(out.join('\n') + '\n')
}

function writeOutputs (results: Results, dir: string, json: string): void {
  mkdirSync(dir, { recursive: true })
  writeFileSync(json, JSON.stringify(results, null, 2) + '\n')
  writeFileSync(join(dir, 'ratios.svg'), ratiosChart(results))
  writeFileSync(join(dir, 'handoff.svg'), handoffChart(results))
}

async function main (): Promise<void> {
  const options = parseArgs(process.argv.slice(2))
  const resultsDir = join(root, 'bench', 'results')
  const latest = join(resultsDir, 'latest.json')
  if (options.report) {
    const results = JSON.parse(readFileSync(latest, 'utf8')) as Results
    results.targets = checkTargets(results)
    writeOutputs(results, resultsDir, latest)
    if (options.readme) updateReadme(results)
    print(results)
    return
  }
  const started = Date.now()
  progress('building the C baseline')
  const baseline = buildBaseline()
  const peers = allPeerInfo()
  const comparison = options.compare === undefined ? undefined : prepareComparison(options.compare)
  const { context, cleanup } = createContext(options.quick, baseline, comparison)
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version
  const results: Results = {
    schema: 1,
    date: new Date().toISOString(),
    quick: options.quick,
    machine: machine(baseline.compiler),
    locksmith: { version, commit: git(['rev-parse', '--short', 'HEAD']), sourceHash: native.sourceHash },
    peers: peers.map((p) => ({ name: p.name, version: p.version, available: p.available, reason: p.reason })),
    baseline: { available: baseline.path !== undefined, reason: baseline.reason },
    clock: checkSharedClock(baseline.path),
    ...(comparison === undefined ? {} : { comparison: { ref: comparison.ref, commit: comparison.commit } }),
    scenarios: [],
    targets: [],
    durationMs: 0
  }
  for (const p of peers.filter((x) => !x.available)) process.stderr.write(`${p.name}: unavailable: ${p.reason}\n`)
  if (baseline.path === undefined) process.stderr.write(`${baseline.reason}\n`)
  if (!results.clock.shared) process.stderr.write(`warning: clock not shared between processes (${results.clock.detail}); hand-off latencies are meaningless\n`)
  try {
    for (const [id, run] of Object.entries(SCENARIOS)) {
      if (options.only !== undefined && !options.only.includes(id)) continue
      results.scenarios.push(await run(context))
    }
  } finally {
    cleanup()
    progressDone()
  }
  if (comparison === undefined) results.targets = checkTargets(results)
  results.durationMs = Date.now() - started
  const partial = options.quick || options.only !== undefined
  const dir = partial ? tmpDir : resultsDir
  const json = !partial ? latest : join(tmpDir, comparison !== undefined ? 'compare.json' : options.quick ? 'quick.json' : 'partial.json')
  writeOutputs(results, dir, json)
  if (options.readme && !partial) updateReadme(results)
  print(results)
  process.stderr.write(`results: ${json}\n`)
}

main().then(() => process.exit(0), (error: Error) => {
  progressDone()
  process.stderr.write(`bench failed: ${error.stack ?? error.message}\n`)
  process.exit(1)
})
