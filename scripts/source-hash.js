#!/usr/bin/env node
// Prints a hash of the native sources. It is compiled into the addon, and the
// tests compare it with the sources in the tree, so a stale prebuild is caught.
'use strict'
const { createHash } = require('node:crypto')
const { readdirSync, readFileSync } = require('node:fs')
const { join } = require('node:path')

function sourceHash (root = join(__dirname, '..')) {
  const hash = createHash('sha256')
  const files = ['binding.gyp', ...readdirSync(join(root, 'src')).sort().map((f) => 'src/' + f)]
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8').replace(/\r\n/g, '\n')
    hash.update(file + '\0' + text + '\0')
  }
  return hash.digest('hex').slice(0, 16)
}

module.exports = { sourceHash }
if (require.main === module) process.stdout.write(sourceHash())
