// Backend URLs: file:///dir (default), redis://host:port/db, postgresql://...,
// etcd://host:port[,host:port...], redis+sentinel://host:port[,...]/master[/db]
// (or tooz's redis://host:port?sentinel=master&sentinel_fallback=host:port),
// redis+cluster://host:port[,host:port...]. tooz's forms are taken too:
// redis://host:port?db=N, and etcd3+http://host:port (its etcd3gw driver).
import { isAbsolute } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { invalidArgType, invalidArgValue } from '../errors'
import { effectiveLockPath } from '../lockpath'
import type { BackendKind } from './types'

export interface Endpoint { host: string, port: number }

export interface BackendUrl {
  kind: BackendKind
  url: URL
  /** Redis: one server, the master that Sentinel names, or a cluster. */
  mode?: 'single' | 'sentinel' | 'cluster'
  /** Every host:port the URL names (several for a cluster, sentinels or etcd members). */
  endpoints?: Endpoint[]
  /** Sentinel: the monitored master's name. */
  masterName?: string
  /** Redis: the database number. */
  db?: number
  /** For file://: the directory, and whether it is the default lock directory (named locks' one). */
  directory?: string
  isDefault?: boolean
}

const SCHEMES: Record<string, BackendKind> = {
  'file:': 'file',
  'redis:': 'redis',
  'rediss:': 'redis',
  'postgresql:': 'postgresql',
  'postgres:': 'postgresql',
  'redis+sentinel:': 'redis',
  'rediss+sentinel:': 'redis',
  'redis+cluster:': 'redis',
  'rediss+cluster:': 'redis',
  'etcd:': 'etcd',
  'etcd3+http:': 'etcd'
}

const DEFAULT_PORTS: Record<string, number> = { redis: 6379, 'redis+sentinel': 26379, etcd: 2379, 'etcd3+http': 2379 }

function endpoint (text: string, scheme: string, whole: string): Endpoint {
  let parsed: URL
  try {
    parsed = new URL(`x://${text}`)
  } catch {
    throw invalidArgValue('url', whole, `names an invalid host:port '${text}'`)
  }
  if (parsed.hostname === '' || parsed.pathname !== '' || parsed.username !== '') throw invalidArgValue('url', whole, `names an invalid host:port '${text}'`)
  const base = scheme.replace(/^rediss/, 'redis').replace(/\+cluster$/, '')
  const port = parsed.port === '' ? DEFAULT_PORTS[base] ?? 6379 : Number(parsed.port)
  return { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port }
}

/**
 * WHATWG URLs take one host; these schemes take a comma-separated list. The
 * URL keeps the first, `endpoints` has them all.
 */
function splitHosts (value: string): { url: string, hosts: string[] | undefined } {
  const match = /^([a-z][a-z0-9+.-]*):\/\/(?:([^@/?#]*)@)?([^/?#]*)(.*)$/is.exec(value)
  if (match === null) return { url: value, hosts: undefined }
  const [, scheme, userinfo, hostList, rest] = match as unknown as [string, string, string | undefined, string, string]
  const hosts = hostList.split(',')
  if (hosts.length < 2) return { url: value, hosts: undefined }
  return { url: `${scheme}://${userinfo === undefined ? '' : `${userinfo}@`}${hosts[0] as string}${rest}`, hosts }
}

export function parseBackendUrl (value: unknown): BackendUrl {
  if (value === undefined) {
    const directory = effectiveLockPath()
    return { kind: 'file', url: pathToFileURL(directory), directory, isDefault: true }
  }
  let url: URL
  let hosts: string[] | undefined
  if (value instanceof URL) {
    url = value
  } else if (typeof value === 'string') {
    if (isAbsolute(value) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
      return { kind: 'file', url: pathToFileURL(value), directory: value, isDefault: false }
    }
    const { url: first, hosts: listed } = splitHosts(value)
    hosts = listed
    try {
      url = new URL(first)
    } catch {
      throw invalidArgValue('url', value, 'must be a URL such as file:///var/lock/app, redis://host:6379/0, postgresql://user@host/db or etcd://host:2379')
    }
  } else {
    throw invalidArgType('url', 'of type string or an instance of URL', value)
  }
  const kind = SCHEMES[url.protocol]
  if (kind === undefined) {
    throw invalidArgValue('url', redact(url), `has an unsupported scheme '${url.protocol}' (use ${Object.keys(SCHEMES).join(' ')})`)
  }
  if (kind === 'file') return { kind, url, directory: fileURLToPath(url), isDefault: false }
  const scheme = url.protocol.slice(0, -1)
  const shown = redact(url)
  if (hosts !== undefined && kind === 'postgresql') throw invalidArgValue('url', shown, 'must name one PostgreSQL server')
  const endpoints = (hosts ?? [url.host]).map((text) => endpoint(text, scheme, shown))
  if (kind === 'etcd') {
    if (url.pathname !== '' && url.pathname !== '/') throw invalidArgValue('url', shown, 'must be etcd://host:port[,host:port...] without a path')
    if (url.username !== '' || url.password !== '') throw invalidArgValue('url', shown, 'must not carry credentials (etcd authentication is not supported)')
    return { kind, url, endpoints }
  }
  if (kind !== 'redis') return { kind, url }
  const search = url.searchParams
  let segments = url.pathname.split('/').filter((part) => part !== '')
  let mode: 'single' | 'sentinel' | 'cluster' = scheme.endsWith('+cluster') ? 'cluster' : scheme.endsWith('+sentinel') ? 'sentinel' : 'single'
  let masterName: string | undefined
  if (mode === 'sentinel') {
    masterName = segments[0]
    segments = segments.slice(1)
    if (masterName === undefined) throw invalidArgValue('url', shown, "must name the master Sentinel monitors, as in redis+sentinel://host:26379,host:26380/mymaster/0")
  } else if (search.has('sentinel')) {
    // tooz: redis://sentinel-host:26379?sentinel=mymaster&sentinel_fallback=host:26380
    mode = 'sentinel'
    masterName = search.get('sentinel') as string
    for (const fallback of search.getAll('sentinel_fallback')) endpoints.push(endpoint(fallback, 'redis+sentinel', shown))
    if (masterName === '') throw invalidArgValue('url', shown, 'has an empty sentinel= master name')
  }
  if (hosts !== undefined && mode === 'single') throw invalidArgValue('url', shown, 'names several hosts: use redis+sentinel:// or redis+cluster://')
  if (segments.length > 1 || (segments.length === 1 && !/^\d+$/.test(segments[0] as string))) {
    throw invalidArgValue('url', shown, 'must name a Redis database by number, as in redis://host:6379/0')
  }
  // tooz (and ioredis) also take the database as ?db=N.
  const query = search.get('db')
  if (query !== null && !/^\d+$/.test(query)) throw invalidArgValue('url', shown, 'must name a Redis database by number, as in ?db=0')
  if (query !== null && segments.length === 1 && Number(segments[0]) !== Number(query)) {
    throw invalidArgValue('url', shown, `names two databases (/${String(segments[0])} and ?db=${query})`)
  }
  const db = segments.length === 1 ? Number(segments[0]) : query !== null ? Number(query) : 0
  if (mode === 'cluster' && db !== 0) throw invalidArgValue('url', shown, 'names a database: a Redis cluster has only database 0')
  return { kind, url, mode, endpoints, masterName, db }
}

/** The URL without its password, for messages and the `url` property. */
export function redact (url: URL): string {
  if (url.password === '') return url.href
  const copy = new URL(url.href)
  copy.password = '***'
  return copy.href
}
