// `locksmith wrapper`: a private lock directory for one command, removed
// afterwards however the command ends.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { isLinux, tempDir } from './helpers'
import { CHILD, Running, runTool } from './fixtures/cli-helpers'

const INDEX = join(__dirname, '..', 'lib', 'index.js')

describe('locksmith wrapper', () => {
  it('exports a fresh 0700 directory, runs the command, removes the directory', () => {
    const tmp = tempDir('locksmith-wrapper-')
    const script = 'const fs = require("fs"); const d = process.env.LOCKSMITH_LOCK_PATH;' +
      'fs.writeFileSync(d + "/x.lock", ""); console.log(d, (fs.statSync(d).mode & 0o777).toString(8))'
    const r = runTool('locksmith', ['wrapper', process.execPath, '-e', script], { env: { TMPDIR: tmp } })
    assert.equal(r.status, 0, r.stderr)
    const [dir, mode] = r.stdout.trim().split(' ')
    assert.ok(dir !== undefined && dir.startsWith(join(tmp, 'locksmith-')), String(dir))
    if (process.platform !== 'win32') assert.equal(mode, '700')
    assert.equal(existsSync(dir), false)
    assert.deepEqual(readdirSync(tmp), [])
  })

  it('each run gets its own directory', () => {
    const tmp = tempDir('locksmith-wrapper-')
    const print = [process.execPath, '-p', 'process.env.LOCKSMITH_LOCK_PATH']
    const a = runTool('locksmith', ['wrapper', ...print], { env: { TMPDIR: tmp } }).stdout
    const b = runTool('locksmith', ['wrapper', ...print], { env: { TMPDIR: tmp } }).stdout
    assert.notEqual(a, b)
  })

  it('exits with the command\'s status and cleans up after a failure', () => {
    const tmp = tempDir('locksmith-wrapper-')
    const r = runTool('locksmith', ['wrapper', 'sh', '-c', 'touch "$LOCKSMITH_LOCK_PATH/a"; mkdir "$LOCKSMITH_LOCK_PATH/sub"; exit 3'], { env: { TMPDIR: tmp } })
    assert.equal(r.status, 3)
    assert.deepEqual(readdirSync(tmp), [])
  })

  it('cleans up when the command cannot be run (69) or dies from a signal (128+N)', () => {
    const tmp = tempDir('locksmith-wrapper-')
    const missing = runTool('locksmith', ['wrapper', 'locksmith-no-such-command'], { env: { TMPDIR: tmp } })
    assert.equal(missing.status, 69)
    assert.match(missing.stderr, /failed to execute locksmith-no-such-command/)
    if (process.platform !== 'win32') {
      assert.equal(runTool('locksmith', ['wrapper', 'sh', '-c', 'kill -KILL $$'], { env: { TMPDIR: tmp } }).status, 137)
    }
    assert.deepEqual(readdirSync(tmp), [])
  })

  it('forwards SIGTERM and still removes the directory', { skip: !isLinux && 'POSIX signals' }, async () => {
    const tmp = tempDir('locksmith-wrapper-')
    const running = new Running('locksmith', ['wrapper', process.execPath, CHILD, '--trap', 'SIGTERM', '--exit-code', '5'], { TMPDIR: tmp })
    await running.childPid()
    assert.equal(readdirSync(tmp).length, 1)
    running.kill('SIGTERM')
    assert.deepEqual(await running.exit(), { code: 5, signal: null })
    assert.deepEqual(readdirSync(tmp), [])
  })

  it('named locks taken by the command live in the wrapper\'s directory', () => {
    const tmp = tempDir('locksmith-wrapper-')
    const script = `const l = require(${JSON.stringify(INDEX)}); const fs = require('fs');` +
      'l.lock("build", { external: true }, () => console.log(l.getLockPath(), fs.readdirSync(l.getLockPath()).length))'
    const r = runTool('locksmith', ['wrapper', process.execPath, '-e', script], { env: { TMPDIR: tmp } })
    assert.equal(r.status, 0, r.stderr)
    const [dir, files] = r.stdout.trim().split(' ')
    assert.ok(dir !== undefined && dir.startsWith(join(tmp, 'locksmith-')), String(dir))
    assert.equal(files, '1')
    assert.deepEqual(readdirSync(tmp), [])
    assert.equal(statSync(tmp).isDirectory(), true)
  })

  it('usage: a command is required; --help works', () => {
    assert.equal(runTool('locksmith', ['wrapper']).status, 64)
    assert.equal(runTool('locksmith', ['wrapper', '--help']).status, 0)
  })
})
