#!/usr/bin/env node
// Prints a hash of the native sources one platform compiles. It is compiled
// into the addon, and the tests compare it with the sources in the tree, so a
// stale prebuild is caught. Usage: node scripts/source-hash.js [platform]
'use strict'
const { createHash } = require('node:crypto')
const { readFileSync } = require('node:fs')
const { join } = require('node:path')

const COMMON = ['binding.gyp', 'src/binding.cc', 'src/lock.h', 'src/waiter.cc', 'src/waiter.h']
const PLATFORM_FILE = { win32: 'src/lock_win.cc' }

function sourceHash (platform = process.platform, root = join(__dirname, '..')) {
  const hash = createHash('sha256')
  for (const file of [...COMMON, PLATFORM_FILE[platform] ?? 'src/lock_unix.cc']) {
    const text = readFileSync(join(root, file), 'utf8').replace(/\r\n/g, '\n')
    hash.update(file + '\0' + text + '\0')
  }
  return hash.digest('hex').slice(0, 16)
}

/** Every native source file, for the test that checks none is left out of the hash. */
const ALL_FILES = [...COMMON, 'src/lock_unix.cc', ...Object.values(PLATFORM_FILE)]

/** The files one platform compiles (scripts/prebuilds.sh): the hashed .cc files. */
function sourceFiles (platform) {
  return [...COMMON, PLATFORM_FILE[platform] ?? 'src/lock_unix.cc'].filter((file) => file.endsWith('.cc'))
}

module.exports = { sourceHash, sourceFiles, ALL_FILES }
if (require.main === module) process.stdout.write(sourceHash(process.argv[2]))
