// Backend URLs: file:///dir (default), redis://host:port/db, postgresql://...
import { isAbsolute } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { invalidArgType, invalidArgValue } from '../errors'
import { effectiveLockPath } from '../lockpath'
import type { BackendKind } from './types'

export interface BackendUrl {
  kind: BackendKind
  url: URL
  /** For file://: the directory, and whether it is the default lock directory (named locks' one). */
  directory?: string
  isDefault?: boolean
}

const SCHEMES: Record<string, BackendKind> = {
  'file:': 'file',
  'redis:': 'redis',
  'rediss:': 'redis',
  'postgresql:': 'postgresql',
  'postgres:': 'postgresql'
}

export function parseBackendUrl (value: unknown): BackendUrl {
  if (value === undefined) {
    const directory = effectiveLockPath()
    return { kind: 'file', url: pathToFileURL(directory), directory, isDefault: true }
  }
  let url: URL
  if (value instanceof URL) {
    url = value
  } else if (typeof value === 'string') {
    if (isAbsolute(value) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
      return { kind: 'file', url: pathToFileURL(value), directory: value, isDefault: false }
    }
    try {
      url = new URL(value)
    } catch {
      throw invalidArgValue('url', value, 'must be a URL such as file:///var/lock/app, redis://host:6379/0 or postgresql://user@host/db')
    }
  } else {
    throw invalidArgType('url', 'of type string or an instance of URL', value)
  }
  const kind = SCHEMES[url.protocol]
  if (kind === undefined) {
    throw invalidArgValue('url', redact(url), `has an unsupported scheme '${url.protocol}' (use ${Object.keys(SCHEMES).join(' ')})`)
  }
  if (kind === 'file') return { kind, url, directory: fileURLToPath(url), isDefault: false }
  if (kind === 'redis' && !/^\/?\d*$/.test(url.pathname)) {
    throw invalidArgValue('url', redact(url), 'must name a Redis database by number, as in redis://host:6379/0')
  }
  return { kind, url }
}

/** The URL without its password, for messages and the `url` property. */
export function redact (url: URL): string {
  if (url.password === '') return url.href
  const copy = new URL(url.href)
  copy.password = '***'
  return copy.href
}
