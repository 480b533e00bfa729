// Without a usable binary (no prebuild for the platform, or one that does not
// load) the package still imports; the first use of the addon throws
// ERR_LOCKSMITH_NO_BINARY naming the platform, arch and libc and how to build
// from source; the CLI's `status` and the Coordinator work without the addon.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../lib/native'
import { tempDir } from './helpers'

const dir = tempDir()
const entry = join(packageRoot, 'dist', 'lib', 'index.js')
const cli = join(packageRoot, 'bin', 'locksmith.js')

/** Runs a script in a fresh process where node-gyp-build finds no binary for `arch`. */
function withoutBinary (script: string, env: NodeJS.ProcessEnv): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

const PROBE = `
const { Lock, LockFile, Coordinator, backends } = require(${JSON.stringify(entry)})
const out = { backends }
try { new Lock(${JSON.stringify(join(dir, 'a.lock'))}).tryAcquire(); out.locked = true } catch (e) {
  out.code = e.code; out.message = e.message; out.name = e.name
}
const { nativeLoadError } = require(${JSON.stringify(join(packageRoot, 'dist', 'lib', 'native.js'))})
out.cause = nativeLoadError.cause.message
try { LockFile.open(${JSON.stringify(join(dir, 'b.lock'))}) } catch (e) { out.openCode = e.code }
// A Coordinator on a server backend needs no addon to be made (it is not started here).
out.coordinator = new Coordinator('redis://127.0.0.1:1/0').backend
console.log(JSON.stringify(out))
`

describe('no usable binary', { skip: process.platform !== 'linux' }, () => {
  test('an unknown platform: imports, then ERR_LOCKSMITH_NO_BINARY with the target and the fix', () => {
    const r = withoutBinary(PROBE, { PREBUILDS_ONLY: '1', npm_config_arch: 'riscv64', LIBC: '' })
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout) as Record<string, string>
    assert.equal(out.code, 'ERR_LOCKSMITH_NO_BINARY')
    assert.equal(out.name, 'LockError')
    assert.equal(out.openCode, 'ERR_LOCKSMITH_NO_BINARY')
    assert.match(out.message ?? '', /platform=linux arch=riscv64 libc=glibc/)
    assert.match(out.message ?? '', /prebuilds\/linux-riscv64/)
    assert.match(out.message ?? '', /npm approve-scripts node-locksmith && npm rebuild node-locksmith/)
    assert.equal(out.coordinator, 'redis')
  })

  test('musl is named when node-gyp-build looks for a musl binary', () => {
    const r = withoutBinary(PROBE, { PREBUILDS_ONLY: '1', npm_config_arch: 'riscv64', LIBC: 'musl' })
    assert.equal(r.status, 0, r.stderr)
    assert.match((JSON.parse(r.stdout) as { message: string }).message, /arch=riscv64 libc=musl/)
  })

  test('a binary that does not load: the same code, the file and the loader\'s reason', () => {
    const root = join(dir, 'broken')
    mkdirSync(join(root, 'prebuilds', `linux-${process.arch}`), { recursive: true })
    writeFileSync(join(root, 'package.json'), '{"name":"node-locksmith"}')
    writeFileSync(join(root, 'prebuilds', `linux-${process.arch}`, 'locksmith.node'), 'not an ELF file')
    const r = withoutBinary(PROBE, { NODE_LOCKSMITH_PREBUILD: root, PREBUILDS_ONLY: '1' })
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout) as Record<string, string>
    assert.equal(out.code, 'ERR_LOCKSMITH_NO_BINARY')
    assert.match(out.message ?? '', /did not load: .*broken\/prebuilds\/linux-\w+\/locksmith\.node/)
    assert.match(out.message ?? '', /npm rebuild node-locksmith/)
    assert.ok(out.cause, 'the load failure is the cause')
  })

  test('the CLI: status works, locking reports the missing binary', () => {
    const env = { ...process.env, PREBUILDS_ONLY: '1', npm_config_arch: 'riscv64' }
    const file = join(dir, 'cli.lock')
    writeFileSync(file, '')
    const status = spawnSync(process.execPath, [cli, 'status', '--json', file], { encoding: 'utf8', env })
    assert.equal(status.stdout, '[]\n', status.stderr)
    assert.equal(status.status, 1, 'no holder, as with the addon')
    const run = spawnSync(process.execPath, [cli, file, 'true'], { encoding: 'utf8', env })
    assert.notEqual(run.status, 0)
    assert.match(run.stderr, /No native binary of node-locksmith fits platform=linux arch=riscv64/)
  })
})
