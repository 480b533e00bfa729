// The README's JavaScript examples run as pasted (ESM, importing 'node-locksmith').
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../lib/native'

const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8')
const examples = [...readme.matchAll(/```js\n([\s\S]*?)```/g)]
  .map((match) => match[1] as string)
  .filter((code) => code.includes("from 'node-locksmith'"))
  // Examples that talk to a Redis or PostgreSQL server are exercised by the coordination tests.
  .filter((code) => !/redis:\/\/|postgres(ql)?:\/\//.test(code))

test('the README has runnable examples', () => {
  assert.ok(examples.length >= 3)
})

examples.forEach((code, i) => {
  const title = code.split('\n').find((line) => line.trim() !== '' && !line.startsWith('//')) ?? ''
  test(`README example ${i + 1}: ${title.slice(0, 60)}`, { skip: process.platform === 'win32' }, () => {
    // Inside the package, so 'node-locksmith' resolves to this package by its exports.
    const file = join(packageRoot, `.readme-example-${process.pid}-${i}.mjs`)
    writeFileSync(file, code)
    try {
      const result = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 })
      assert.equal(result.status, 0, result.stderr)
    } finally {
      rmSync(file, { force: true })
    }
  })
})
