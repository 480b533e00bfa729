// The libraries locksmith is compared with, loaded where they load. A peer that
// does not load (a native addon whose install script did not run, or that was
// built for another Node) is reported as unavailable with the reason, never dropped.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

export interface FsNativeExtensions {
  tryLock (fd: number, offset?: number, length?: number, opts?: { shared?: boolean }): boolean
  waitForLock (fd: number, offset?: number, length?: number, opts?: { shared?: boolean }): Promise<void>
  unlock (fd: number, offset?: number, length?: number): void
}

export interface OsLock {
  lock (fd: number, options?: { exclusive?: boolean, immediate?: boolean }): Promise<void>
  unlock (fd: number): Promise<void>
}

export interface FsExt {
  flock (fd: number, flags: 'ex' | 'exnb' | 'sh' | 'shnb' | 'un', callback: (error: Error | null) => void): void
  flockSync (fd: number, flags: 'ex' | 'exnb' | 'sh' | 'shnb' | 'un'): void
}

export interface RetryOptions {
  retries?: number
  forever?: boolean
  factor?: number
  minTimeout?: number
  maxTimeout?: number
}

export interface ProperLockfileOptions {
  retries?: number | RetryOptions
  realpath?: boolean
  stale?: number
  onCompromised?: (error: Error) => void
}

export interface ProperLockfile {
  lock (file: string, options?: ProperLockfileOptions): Promise<() => Promise<void>>
  lockSync (file: string, options?: ProperLockfileOptions): () => void
}

export interface LockfileOptions {
  wait?: number
  pollPeriod?: number
  stale?: number
}

export interface Lockfile {
  lock (path: string, options: LockfileOptions, callback: (error: Error | null) => void): void
  lockSync (path: string, options?: LockfileOptions): void
  unlock (path: string, callback: (error: Error | null) => void): void
  unlockSync (path: string): void
}

export interface PeerModules {
  'fs-native-extensions': FsNativeExtensions
  'os-lock': OsLock
  'fs-ext': FsExt
  'proper-lockfile': ProperLockfile
  lockfile: Lockfile
}

export type PeerName = keyof PeerModules

export const PEER_NAMES: PeerName[] = ['fs-native-extensions', 'os-lock', 'fs-ext', 'proper-lockfile', 'lockfile']

export interface PeerInfo {
  name: PeerName
  version: string | undefined
  available: boolean
  /** Why it is unavailable. */
  reason?: string
}

const loaded = new Map<PeerName, { module?: unknown, info: PeerInfo }>()

function versionOf (name: string): string | undefined {
  try {
    const manifest = require.resolve(`${name}/package.json`)
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version
  } catch {
    return undefined
  }
}

function why (name: PeerName, error: unknown): string {
  const message = error instanceof Error ? error.message.split('\n')[0] as string : String(error)
  if (/Cannot find module/.test(message) && !/build[\\/]Release/.test(message)) return `not installed (${message})`
  if (/build[\\/]Release/.test(message)) {
    let dir = ''
    try { dir = dirname(require.resolve(`${name}/package.json`)) } catch { /* not installed */ }
    return `native addon not built: its install script did not run (npm asks to approve it); build it with \`npx node-gyp rebuild -C ${dir === '' ? `node_modules/${name}` : join('node_modules', name)}\``
  }
  if (/NODE_MODULE_VERSION|was compiled against a different Node.js version/.test(message)) {
    return `native addon built for another Node.js version (${message})`
  }
  return message
}

function load (name: PeerName): { module?: unknown, info: PeerInfo } {
  let entry = loaded.get(name)
  if (entry !== undefined) return entry
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const module = require(name) as unknown
    entry = { module, info: { name, version: versionOf(name), available: true } }
  } catch (error) {
    entry = { info: { name, version: versionOf(name), available: false, reason: why(name, error) } }
  }
  loaded.set(name, entry)
  return entry
}

/** The peer's module, or undefined if it does not load here. */
export function peer<N extends PeerName> (name: N): PeerModules[N] | undefined {
  return load(name).module as PeerModules[N] | undefined
}

export function peerInfo (name: PeerName): PeerInfo {
  return load(name).info
}

export function allPeerInfo (): PeerInfo[] {
  return PEER_NAMES.map(peerInfo)
}
