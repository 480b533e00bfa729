#!/usr/bin/env node
// Writes the ESM entry point: it re-exports the CommonJS build, so both module
// systems share one instance (one in-process lock registry, not two).
//
// Coordinator stays lazy as it is for require(): the CommonJS entry has a getter
// that loads lib/coordination on first use, and reading that getter here would
// load it at import time. So the ESM entry exports a stand-in that forwards
// everything (new, static members, instanceof, extends) to the real class,
// which it loads on first use.
//
// Also makes the declarations name what they use: every emitted .d.ts gets a
// reference to Node's types, which TypeScript 6+ no longer loads by itself.
'use strict'
const { mkdirSync, readdirSync, readFileSync, writeFileSync } = require('node:fs')
const { join } = require('node:path')

const root = join(__dirname, '..')
const LAZY = ['Coordinator']
const index = require(join(root, 'dist/lib/index.js'))
const names = Object.keys(index).filter((n) => n !== '__esModule' && n !== 'default' && !LAZY.includes(n))
const dir = join(root, 'dist/esm')
mkdirSync(dir, { recursive: true })

const lazy = LAZY.map((name) => `
let ${name}Class
const load${name} = () => (${name}Class ??= Object.getOwnPropertyDescriptor(cjs, '${name}').get())
export const ${name} = new Proxy(function ${name} () {}, {
  construct: (_t, args, newTarget) => Reflect.construct(load${name}(), args, newTarget === ${name} ? load${name}() : newTarget),
  apply: (_t, self, args) => Reflect.apply(load${name}(), self, args),
  get: (_t, key) => Reflect.get(load${name}(), key),
  set: (_t, key, value) => Reflect.set(load${name}(), key, value),
  has: (_t, key) => Reflect.has(load${name}(), key),
  getPrototypeOf: () => Reflect.getPrototypeOf(load${name}())
})
`).join('')

writeFileSync(join(dir, 'index.mjs'),
  "import cjs from '../lib/index.js'\n" +
  `export const { ${names.join(', ')} } = cjs\n` +
  lazy +
  'export default cjs\n')
writeFileSync(join(dir, 'index.d.mts'),
  '/// <reference types="node" />\n' +
  "import * as locksmith from '../lib/index.js'\n" +
  "export * from '../lib/index.js'\n" +
  'export default locksmith\n')

const REFERENCE = '/// <reference types="node" />\n'
function addReferences (folder) {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name)
    if (entry.isDirectory()) addReferences(path)
    else if (entry.name.endsWith('.d.ts')) {
      const text = readFileSync(path, 'utf8')
      if (!text.startsWith(REFERENCE)) writeFileSync(path, REFERENCE + text)
    }
  }
}
addReferences(join(root, 'dist/lib'))
