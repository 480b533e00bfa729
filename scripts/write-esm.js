#!/usr/bin/env node
// Writes the ESM entry point: it re-exports the CommonJS build, so both module
// systems share one instance (one in-process lock registry, not two).
'use strict'
const { mkdirSync, writeFileSync } = require('node:fs')
const { join } = require('node:path')

const root = join(__dirname, '..')
const names = Object.keys(require(join(root, 'dist/lib/index.js'))).filter((n) => n !== '__esModule' && n !== 'default')
const dir = join(root, 'dist/esm')
mkdirSync(dir, { recursive: true })
writeFileSync(join(dir, 'index.mjs'),
  "import cjs from '../lib/index.js'\n" +
  `export const { ${names.join(', ')} } = cjs\n` +
  'export default cjs\n')
writeFileSync(join(dir, 'index.d.mts'), "export * from '../lib/index.js'\n")
