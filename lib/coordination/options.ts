// Argument checks for coordination: coordinator options and acquire options.
import { hostname } from 'node:os'
import { invalidArgType, invalidArgValue, LockError, outOfRange } from '../errors'
import type { AcquireOptions, Blocking } from '../lock'
import { validateObject, validateSignal, validateTimeout } from '../validate'
import type { CoordinatorOptions, CoordinatorSettings } from './types'

export interface AcquireSettings {
  blocking: Blocking
  signal: AbortSignal | undefined
}

export function acquireSettings (options: AcquireOptions | undefined): AcquireSettings {
  const opts = validateObject<AcquireOptions>(options, 'options')
  let blocking: Blocking = true
  if (typeof opts.blocking === 'boolean') {
    blocking = opts.blocking
  } else if (typeof opts.blocking === 'number') {
    blocking = validateTimeout(opts.blocking, 'options.blocking') ?? true
  } else if (opts.blocking !== undefined) {
    throw invalidArgType('options.blocking', 'a boolean or a number of milliseconds', opts.blocking)
  }
  return { blocking, signal: validateSignal(opts.signal, 'options.signal') }
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
  const prefix = text(opts.prefix, 'options.prefix', '')
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
  return { prefix, agentId, memberId: prefix + agentId, heartbeat, leaseTtl, initialReconnectBackoff, maxReconnectBackoff }
}

/** Lock names: non-empty strings without NUL. */
export function validateLockName (name: unknown): string {
  if (typeof name !== 'string') throw invalidArgType('name', 'of type string', name)
  if (name.length === 0) throw invalidArgValue('name', name, 'must be a non-empty string')
  if (name.includes('\0')) throw invalidArgValue('name', name, 'must be a string without null bytes')
  return name
}

export function alreadyHeld (name: string): LockError {
  return new LockError('ERR_LOCK_ALREADY_HELD', `This lock object already holds '${name}'; locks are not reentrant`)
}

export function alreadyPending (name: string): LockError {
  return new LockError('ERR_LOCK_PENDING', `This lock object is already waiting for '${name}'`)
}
