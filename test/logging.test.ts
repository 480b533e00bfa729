// portable: also run under Windows (Wine) by scripts/test-wine.sh
// DEBUG logging: off by default, on with each environment switch, and through
// a logger option.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { Lock } from '../lib/index'
import { loggingEnabled } from '../lib/log'
import { tempDir } from './helpers'

const dir = tempDir()
const script = `
const { Lock } = require(${JSON.stringify(join(__dirname, '..', 'lib', 'index.js'))})
const path = process.argv[1]
;(async () => {
  const a = new Lock(path, { prefix: 'job' })
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
  const result = spawnSync(process.execPath, ['-e', script, join(dir, 'log.lock')], { env: { ...clean, ...env } })
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
      assert.match(output, new RegExp(`LOCKSMITH \\d+: job: acquired exclusive lock on ${escaped} \\(pid \\d+\\)`))
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

  test('a logger option receives the lines', async () => {
    const lines: string[] = []
    const lock = new Lock(join(dir, 'logger.lock'), { logger: { debug: (line: string) => lines.push(line) }, prefix: 'p' })
    await lock.acquire()
    lock.release()
    assert.equal(lines.length, 2)
    assert.match(lines[0] as string, /^p: acquired exclusive lock on/)
    assert.match(lines[1] as string, /^p: released/)
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
