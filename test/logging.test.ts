// portable: also run under Windows (Wine) by scripts/test-wine.sh
// DEBUG logging: off by default, on with each environment switch, and through
// a logger option.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { Lock, lock, ReaderWriterLock } from '../lib/index'
import { loggingEnabled, type LogFields } from '../lib/log'
import { tempDir } from './helpers'

const dir = tempDir()
const script = `
const { Lock } = require(${JSON.stringify(join(__dirname, '..', 'lib', 'index.js'))})
const path = process.env.LOCKSMITH_LOG_TEST_PATH // not argv: Deno's -e puts its own entry first
;(async () => {
  const a = new Lock(path, { label: 'job' })
  await a.acquire()
  const b = new Lock(path, { blocking: 10 })
  await b.acquire().catch(() => {})
  const c = new Lock(path, { blocking: false })
  await c.acquire()
  a.release()
})()
`

function stderrWith (env: Record<string, string>): string {
  const clean = { ...process.env }
  delete clean.NODE_DEBUG
  delete clean.DEBUG
  delete clean.LOG_LEVEL
  const result = spawnSync(process.execPath, ['-e', script], { env: { ...clean, LOCKSMITH_LOG_TEST_PATH: join(dir, 'log.lock'), ...env } })
  assert.equal(result.status, 0, result.stderr.toString())
  return result.stderr.toString()
}

describe('logging', () => {
  test('silent by default', () => {
    assert.equal(stderrWith({}), '')
  })

  for (const [name, value] of [['NODE_DEBUG', 'locksmith'], ['DEBUG', 'locksmith'], ['LOG_LEVEL', 'DEBUG']] as const) {
    test(`${name}=${value} logs acquired, waiting, timed out, busy and released with prefix, path, mode and pid`, () => {
      const output = stderrWith({ [name]: value })
      const path = join(dir, 'log.lock')
      const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      assert.match(output, new RegExp(`LOCKSMITH \\d+ \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z: job: acquired exclusive lock on ${escaped}\n`))
      assert.match(output, /waiting exclusive lock on/)
      assert.match(output, /timed out exclusive lock on .* after \d+\.\d ms/)
      assert.match(output, /busy exclusive lock on/)
      assert.match(output, /job: released exclusive lock on/)
    })
  }

  test('switch syntax: NODE_DEBUG lists, DEBUG wildcards and exclusions', () => {
    assert.equal(loggingEnabled({ NODE_DEBUG: 'http,locksmith' }), true)
    assert.equal(loggingEnabled({ NODE_DEBUG: 'http' }), false)
    assert.equal(loggingEnabled({ DEBUG: 'lock*' }), true)
    assert.equal(loggingEnabled({ DEBUG: '*,-locksmith' }), false)
    assert.equal(loggingEnabled({ DEBUG: 'express:*' }), false)
    assert.equal(loggingEnabled({ LOG_LEVEL: 'debug' }), true)
    assert.equal(loggingEnabled({ LOG_LEVEL: 'INFO' }), false)
  })

  test('a logger option receives structured fields and the line, one call per event', async () => {
    const calls: Array<[LogFields, string]> = []
    const logger = { debug: (fields: LogFields, line: string) => { calls.push([fields, line]) } }
    const path = join(dir, 'logger.lock')
    const lock = new Lock(path, { logger, label: 'p' })
    await lock.acquire()
    lock.release()
    assert.equal(calls.length, 2)
    assert.deepEqual({ ...calls[0]?.[0] }, { event: 'acquired', path, mode: 'exclusive', label: 'p', pid: process.pid })
    assert.match(calls[0]?.[1] as string, /^p: acquired exclusive lock on/)
    assert.equal(calls[1]?.[0].event, 'released')
    assert.equal(typeof calls[1]?.[0].heldMs, 'number')
    assert.doesNotMatch(calls[1]?.[1] as string, /pid/, 'the pid is a field, not repeated in the line')
  })

  test('ReaderWriterLock and named locks log one line per event, nothing about their parts', async () => {
    const calls: LogFields[] = []
    const logger = { debug: (fields: LogFields) => { calls.push(fields) } }
    const rw = new ReaderWriterLock(join(dir, 'rw-log.lock'), { logger })
    const read = await rw.read()
    read.release()
    const write = rw.tryWrite()
    write?.release()
    assert.deepEqual(calls.map((f) => `${f.event} ${f.mode}`), ['acquired shared', 'released shared', 'acquired exclusive', 'released exclusive'])
    assert.ok(calls.every((f) => f.range === undefined), 'no line about the gate or data bytes')
    calls.length = 0
    const held = await lock('log-name', { external: true, lockPath: tempDir(), logger })
    held.release()
    assert.deepEqual(calls.map((f) => `${f.event} ${(f.names ?? []).join()}`), ['acquired log-name', 'released log-name'])
  })

  test('DEBUG=locksmith:* and DEBUG=* switch it on too', () => {
    assert.equal(loggingEnabled({ DEBUG: 'locksmith:*' }), true)
    assert.equal(loggingEnabled({ DEBUG: '*' }), true)
    assert.equal(loggingEnabled({ DEBUG: 'other:*' }), false)
    assert.match(stderrWith({ DEBUG: 'locksmith:*' }), /acquired exclusive lock/)
  })

  test('a logger that throws: acquires still succeed, a warning says why, nothing is left held', async () => {
    const path = join(dir, 'throwing-logger.lock')
    const warnings: Error[] = []
    const onWarning = (warning: Error): void => { warnings.push(warning) }
    process.on('warning', onWarning)
    try {
      const logger = { debug: (): void => { throw new Error('logger down') } }
      const first = new Lock(path, { logger })
      assert.equal(await first.acquire(), true) // taken at once
      const second = new Lock(path, { logger })
      const waiting = second.acquire() // granted later, inside the kernel wait's completion
      first.release()
      assert.equal(await waiting, true)
      assert.equal(second.acquired, true)
      assert.equal(second.release(), true)
      const third = new Lock(path)
      assert.equal(third.tryAcquire(), true, 'nothing left held')
      third.release()
      await new Promise((resolve) => setImmediate(resolve))
      assert.ok(warnings.length > 0 && warnings.every((w) => (w as Error & { code?: string }).code === 'LOCKSMITH_LOGGER_FAILED' && /logger down/.test(w.message)))
    } finally {
      process.off('warning', onWarning)
    }
  })
})
