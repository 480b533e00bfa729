#!/usr/bin/env node
// Runs the compiled test files with Node's built-in runner. Arguments narrow the
// set by substring (e.g. `node scripts/run-tests.js lock`).
'use strict'
const { spawnSync } = require('node:child_process')
const { readdirSync } = require('node:fs')
const { join } = require('node:path')

const dir = join(__dirname, '..', 'dist', 'test')
const filters = process.argv.slice(2)
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
  .map((f) => join(dir, f))
// A hung test fails after 3 minutes instead of stalling CI (the flag exists from Node 20).
function timeoutFlag (version) {
  return Number(version.split('.')[0]) >= 20 ? ['--test-timeout=180000'] : []
}

const result = spawnSync(process.execPath, ['--test', ...timeoutFlag(process.versions.node), ...files], { stdio: 'inherit' })
process.exit(result.status ?? 1)
