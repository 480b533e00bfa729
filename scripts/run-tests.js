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
const result = spawnSync(process.execPath, ['--test', '--test-timeout=180000', ...files], { stdio: 'inherit' })
process.exit(result.status ?? 1)
