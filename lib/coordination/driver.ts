// The client packages of the remote backends are optional peer dependencies,
// which npm does not check: the version is checked here, when a backend first
// loads its client, against what the backend was written and tested for.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { CoordinationError } from '../errors'

/** Major versions each client works with (package.json peerDependencies says the same). */
export const SUPPORTED_CLIENTS = {
  ioredis: { majors: [5, 6], range: '>=5.0.0 <7', scheme: 'redis://' },
  pg: { majors: [8], range: '>=8.0.0 <9', scheme: 'postgresql://' }
} as const
export type ClientName = keyof typeof SUPPORTED_CLIENTS

/** The version of the copy `require(name)` loads from here, or undefined if it cannot be told. */
export function installedVersion (name: string, resolve: (id: string) => string = require.resolve): string | undefined {
  let dir: string
  try {
    dir = dirname(resolve(name))
  } catch {
    return undefined
  }
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown, version?: unknown }
      if (pkg.name === name && typeof pkg.version === 'string') return pkg.version
    } catch {}
    const parent = dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

/** Throws ERR_COORDINATOR_DRIVER_UNSUPPORTED if the installed client's major version is not one the backend supports. */
export function checkClientVersion (name: ClientName, version = installedVersion(name)): void {
  if (version === undefined) return
  const { majors, range, scheme } = SUPPORTED_CLIENTS[name]
  const major = Number(/^(\d+)\./.exec(version)?.[1])
  if ((majors as readonly number[]).includes(major)) return
  throw new CoordinationError('ERR_COORDINATOR_DRIVER_UNSUPPORTED',
    `The ${scheme} backend needs ${name} ${range}, but ${name} ${version} is installed: npm install ${name}@${majors[majors.length - 1]}`)
}
