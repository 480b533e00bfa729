// Argument checks for coordination: coordinator options and acquire options.
// Every options object refuses keys that name no option (a misspelt `timeout`
// silently ignored would make a lock wait for ever).
import { hostname } from 'node:os'
import { invalidArgType, invalidArgValue, LockError, outOfRange } from '../errors'
import { refuseUnknownKeys, validateObject } from '../validate'
import { ACQUIRE_OPTION_HINTS, ACQUIRE_OPTION_NAMES, signalSetting, waitSetting, type AcquireOptions, type Blocking } from '../wait-options'
import type { CoordinatorOptions, CoordinatorSettings } from './types'

export interface AcquireSettings {
  /** true: wait as long as it takes; false: one try; a number: wait at most that many ms. */
  blocking: Blocking
  signal: AbortSignal | undefined
}

/** The options of acquire() and block(): the shared wait rule (`timeout`, a numeric `blocking` as its alias). */
export function acquireSettings (options: AcquireOptions | undefined): AcquireSettings {
  const opts = validateObject<AcquireOptions>(options, 'options')
  refuseUnknownKeys(opts, ACQUIRE_OPTION_NAMES, 'options', ACQUIRE_OPTION_HINTS)
  return { blocking: waitSetting(opts, 'options') ?? true, signal: signalSetting(opts, 'options') }
}

/** The keys of the Coordinator constructor's options (CoordinatorOptions plus `logger`). */
export const COORDINATOR_OPTION_NAMES: readonly string[] = [
  'prefix', 'agentId', 'heartbeat', 'initialReconnectBackoff', 'maxReconnectBackoff', 'leaseTtl', 'replicas', 'compat', 'logger'
]

/** Words of other coordination libraries (tooz, Redlock...) for the same settings. */
const COORDINATOR_OPTION_HINTS: Readonly<Record<string, string>> = {
  memberId: 'agentId',
  member: 'agentId',
  id: 'agentId',
  namespace: 'prefix',
  keyPrefix: 'prefix',
  ttl: 'leaseTtl',
  lease: 'leaseTtl',
  leaseTimeout: 'leaseTtl',
  heartbeatInterval: 'heartbeat',
  heartbeat_interval: 'heartbeat',
  reconnectBackoff: 'initialReconnectBackoff',
  log: 'logger',
  minReplicas: 'replicas',
  numReplicas: 'replicas',
  wait: 'replicas',
  compatibility: 'compat',
  tooz: 'compat'
}

function milliseconds (value: unknown, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  if (!Number.isFinite(value) || value < min || value > 2 ** 31 - 1) throw outOfRange(name, `>= ${min} and <= ${2 ** 31 - 1}`, value)
  return value
}

function text (value: unknown, name: string, fallback: string): string {
  if (value === undefined) return fallback
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value)
  return value
}

export function coordinatorSettings (options: CoordinatorOptions | undefined): CoordinatorSettings {
  const opts = validateObject<CoordinatorOptions>(options, 'options')
  refuseUnknownKeys(opts, COORDINATOR_OPTION_NAMES, 'options', COORDINATOR_OPTION_HINTS)
  const prefix = text(opts.prefix, 'options.prefix', '')
  // Part of every lock name: the same characters as in names are kept out (validateLockName).
  if (/[\0\u{F0000}]/u.test(prefix)) throw invalidArgValue('options.prefix', prefix, 'must not contain null bytes or U+F0000')
  const agentId = text(opts.agentId, 'options.agentId', `${hostname()}.${process.pid}`)
  if (prefix + agentId === '') throw invalidArgValue('options.agentId', agentId, 'must not be empty when there is no prefix')
  const leaseTtl = milliseconds(opts.leaseTtl, 'options.leaseTtl', 30_000, 10)
  const heartbeat = milliseconds(opts.heartbeat, 'options.heartbeat', Math.min(1000, Math.floor(leaseTtl / 3)), 1)
  const initialReconnectBackoff = milliseconds(opts.initialReconnectBackoff, 'options.initialReconnectBackoff', 100, 1)
  const maxReconnectBackoff = milliseconds(opts.maxReconnectBackoff, 'options.maxReconnectBackoff', 10_000, 1)
  if (maxReconnectBackoff < initialReconnectBackoff) {
    throw outOfRange('options.maxReconnectBackoff', `>= options.initialReconnectBackoff (${initialReconnectBackoff})`, maxReconnectBackoff)
  }
  // A lease must survive at least two missed beats, or one slow round trip loses it.
  if (heartbeat * 3 > leaseTtl) {
    throw outOfRange('options.heartbeat', `<= options.leaseTtl / 3 (${Math.floor(leaseTtl / 3)})`, heartbeat)
  }
  const replicas = milliseconds(opts.replicas, 'options.replicas', 0, 0)
  if (!Number.isInteger(replicas) || replicas > 64) throw outOfRange('options.replicas', 'an integer >= 0 and <= 64', replicas)
  if (opts.compat !== undefined && opts.compat !== 'tooz') throw invalidArgValue('options.compat', opts.compat, "must be 'tooz' or left out")
  return { prefix, agentId, memberId: prefix + agentId, heartbeat, leaseTtl, initialReconnectBackoff, maxReconnectBackoff, replicas, compat: opts.compat }
}

/**
 * Lock names: non-empty strings without NUL, which only the leadership locks
 * of groups have, and without U+F0000, which stands for that NUL where a
 * backend cannot store NUL (PostgreSQL text): a name with it would share a
 * waiting line and a token row with a group's leadership lock.
 */
export function validateLockName (name: unknown): string {
  if (typeof name !== 'string') throw invalidArgType('name', 'of type string', name)
  if (name.length === 0) throw invalidArgValue('name', name, 'must be a non-empty string')
  if (name.includes('\0')) throw invalidArgValue('name', name, 'must be a string without null bytes')
  if (name.includes('\u{F0000}')) throw invalidArgValue('name', name, 'must not contain U+F0000 (reserved)')
  return name
}

export function alreadyHeld (name: string): LockError {
  return new LockError('ERR_LOCK_ALREADY_HELD', `This lock object already holds '${name}'; locks are not reentrant`)
}

export function alreadyPending (name: string): LockError {
  return new LockError('ERR_LOCK_PENDING', `This lock object is already waiting for '${name}'`)
}
