// The TypeScript examples of the README's "Named locks" section (decorators)
// compile with the TypeScript of this repository and run as pasted.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../lib/native'

const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8')
const section = /<!-- section:named-locks -->([\s\S]*?)<!-- \/section:named-locks -->/.exec(readme)?.[1] ?? ''
const examples = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] as string)
  .filter((code) => code.includes("from 'node-locksmith'"))

test('the named-locks section has a TypeScript decorator example', () => {
  assert.ok(examples.some((code) => code.includes('@synchronized')))
})

examples.forEach((code, i) => {
  test(`named-locks TypeScript example ${i + 1} compiles and runs`, { skip: process.platform === 'win32', timeout: 120_000 }, () => {
    // Inside the package, so 'node-locksmith' resolves to this package by its exports.
    const dir = join(packageRoot, `.readme-ts-${process.pid}-${i}`)
    mkdirSync(dir, { recursive: true })
    try {
      writeFileSync(join(dir, 'example.mts'), code)
      const tsc = spawnSync(process.execPath, [join(packageRoot, 'node_modules', 'typescript', 'bin', 'tsc'),
        '--strict', '--target', 'ES2022', '--module', 'nodenext', '--lib', 'ES2023,ESNext.Disposable',
        '--types', 'node', '--skipLibCheck', '--ignoreConfig', '--rootDir', dir, '--outDir', dir, join(dir, 'example.mts')], { encoding: 'utf8' })
      assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr)
      const run = spawnSync(process.execPath, [join(dir, 'example.mjs')], { encoding: 'utf8', timeout: 30_000 })
      assert.equal(run.status, 0, run.stderr)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
