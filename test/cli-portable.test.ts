// portable
// The locksmith executable on every platform (also run under Wine with
// Node for Windows): status propagation, conflicts, timeouts, wrapper cleanup.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './helpers'
import { CHILD, Running, runTool } from './fixtures/cli-helpers'

const dir = tempDir('locksmith-cli-portable-')
const node = process.execPath

describe('locksmith on this platform', () => {
  it('exits with the command\'s status, for argv and -c commands', () => {
    const path = join(dir, 'status.lock')
    const r = runTool('locksmith', [path, node, '-e', 'process.exit(7)'])
    assert.equal(r.status, 7, r.stderr)
    assert.equal(runTool('locksmith', [path, '-c', 'exit 5']).status, 5)
  })

  it('conflicts (-n, -E), timeouts (-w) and shared requests against a running holder', async () => {
    const path = join(dir, 'held.lock')
    const holder = new Running('locksmith', [path, node, CHILD, '--linger', '60000'])
    const child = await holder.childPid()
    try {
      assert.equal(runTool('locksmith', ['-n', path, node, '-e', '0']).status, 1)
      assert.equal(runTool('locksmith', ['-n', '-E', '42', path, node, '-e', '0']).status, 42)
      assert.equal(runTool('locksmith', ['-w', '0.3', '--timeout-exit-code', '9', path, node, '-e', '0']).status, 9)
      assert.equal(runTool('locksmith', ['-s', '-n', path, node, '-e', '0']).status, 1)
    } finally {
      process.kill(child)
    }
    await holder.exit()
    assert.equal(runTool('locksmith', ['-n', path, node, '-e', '0']).status, 0, 'free once the holder ended')
  })

  it('wrapper: a private directory, removed afterwards', () => {
    const tmp = tempDir('locksmith-cli-portable-tmp-')
    const env = { TMPDIR: tmp, TEMP: tmp, TMP: tmp }
    const r = runTool('locksmith', ['wrapper', node, '-e', 'require("fs").writeFileSync(require("path").join(process.env.LOCKSMITH_LOCK_PATH, "a.lock"), ""); process.exit(3)'], { env })
    assert.equal(r.status, 3, r.stderr)
    assert.deepEqual(readdirSync(tmp), [])
  })

  it('usage errors exit 64; status exits 69 off Linux', () => {
    assert.equal(runTool('locksmith', ['-E', '300', join(dir, 'x'), node]).status, 64)
    if (process.platform !== 'linux') assert.equal(runTool('locksmith', ['status']).status, 69)
  })
})
