// Error classes with codes. Every error locksmith throws is one of these, a
// TypeError/RangeError with a Node-style code for bad arguments, or an abort reason.

/** What the operating system said, as Node names errno values (src/binding.cc ErrorName). */
export type SystemErrorCode =
  'EACCES' | 'EAGAIN' | 'EBADF' | 'EBUSY' | 'ECANCELED' | 'EDEADLK' | 'EEXIST' | 'EFAULT' | 'EFBIG' | 'EINTR' |
  'EINVAL' | 'EIO' | 'EISDIR' | 'ELOOP' | 'EMFILE' | 'ENAMETOOLONG' | 'ENFILE' | 'ENOENT' | 'ENOLCK' | 'ENOMEM' |
  'ENOSPC' | 'ENOSYS' | 'ENOTDIR' | 'ENOTSUP' | 'ENXIO' | 'EOVERFLOW' | 'EPERM' | 'EROFS' | 'ETIMEDOUT' | 'ETXTBSY' |
  'ESTALE' | 'EOPNOTSUPP' | 'EUNKNOWN'

/** Every code a LockError can have (the README's error table), so that TypeScript can narrow on it. */
export type LockErrorCode = SystemErrorCode |
  'ELOCKED' | 'ERR_LOCK_ALREADY_HELD' | 'ERR_LOCK_PENDING' | 'ERR_LOCK_WAIT_PENDING' | 'ERR_LOCK_CLOSED' |
  'ERR_LOCK_NOT_HELD' | 'ERR_LOCK_UPGRADE' | 'ERR_LOCK_CONVERSION' | 'ERR_LOCK_BACKEND_UNSUPPORTED' |
  'ERR_LOCK_UNSAFE_OPTIONS' | 'ERR_LOCK_NAME_FIELD' | 'ERR_LOCK_PATH_UNSAFE' | 'ERR_LOCK_LOST' |
  'ERR_COORDINATOR_NOT_STARTED' | 'ERR_COORDINATOR_STOPPED' | 'ERR_COORDINATOR_DISCONNECTED' |
  'ERR_COORDINATOR_DRIVER_MISSING' | 'ERR_COORDINATOR_DRIVER_UNSUPPORTED' | 'ERR_COORDINATOR_CONNECT' |
  'ERR_COORDINATOR_UNANSWERED' | 'ERR_COORDINATOR_RELEASE_UNCONFIRMED' | 'ERR_COORDINATOR_PROTOCOL' |
  'ERR_COORDINATOR_REPLICATION' |
  'ERR_GROUP_NOT_FOUND' | 'ERR_GROUP_ALREADY_EXISTS' | 'ERR_GROUP_ALREADY_MEMBER' | 'ERR_GROUP_NOT_MEMBER' |
  'ERR_GROUP_NOT_EMPTY' |
  'ERR_LOCKSMITH_NO_BINARY'

export class LockError extends Error {
  readonly code: LockErrorCode
  // `declare`: no own property unless set, so errors without a path do not show `path: undefined`.
  declare readonly path?: string

  constructor (code: LockErrorCode, message: string, path?: string) {
    super(message)
    this.name = new.target.name
    this.code = code
    if (path !== undefined) this.path = path
  }
}

/** A non-blocking acquire found the lock held by someone else. */
export class LockBusyError extends LockError {
  /** Who holds it, when that could be told cheaply (Linux): e.g. `pid 4242 (flock /tmp/x sleep 9)`. */
  declare heldBy?: string
  /** The pids behind heldBy (OFD locks carry none). */
  declare holderPids?: number[]

  constructor (path: string) {
    super('ELOCKED', `Lock is held elsewhere: ${path}`, path)
  }
}

/** A blocking acquire waited as long as it was allowed to. */
export class LockTimeoutError extends LockError {
  readonly timeout: number
  /** Who held it when the time ran out, when that could be told cheaply (Linux). */
  declare heldBy?: string
  /** The pids behind heldBy (OFD locks carry none). */
  declare holderPids?: number[]

  constructor (path: string, timeout: number) {
    super('ETIMEDOUT', `Timed out after ${timeout} ms waiting for lock: ${path}`, path)
    this.timeout = timeout
  }
}

/** An error from the operating system, shaped like Node's fs errors. */
export class LockSystemError extends LockError {
  readonly errno: number
  readonly syscall: string

  constructor (cause: NodeJS.ErrnoException) {
    super((cause.code ?? 'EUNKNOWN') as SystemErrorCode, cause.message, cause.path)
    this.errno = cause.errno ?? 0
    this.syscall = cause.syscall ?? ''
  }
}

/** Turns what the addon threw into a LockError (system errors keep code, errno, syscall, path). */
export function fromNative (error: unknown): Error {
  if (!(error instanceof Error)) return new LockError('EUNKNOWN', String(error))
  const coded = error as NodeJS.ErrnoException
  if (typeof coded.errno === 'number') return new LockSystemError(coded)
  if (typeof coded.code === 'string') return new LockError(coded.code as LockErrorCode, coded.message)
  return error
}

/** Runs a call into the addon (or node:fs), its error turned into a typed one by fromNative. */
export function typedCall<T> (call: () => T): T {
  try {
    return call()
  } catch (error) {
    throw fromNative(error)
  }
}

export function invalidArgType (name: string, expected: string, actual: unknown): TypeError {
  const error = new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`)
  return Object.assign(error, { code: 'ERR_INVALID_ARG_TYPE' })
}

export function invalidArgValue (name: string, actual: unknown, reason: string): TypeError {
  const error = new TypeError(`The argument '${name}' ${reason}. Received ${describe(actual)}`)
  return Object.assign(error, { code: 'ERR_INVALID_ARG_VALUE' })
}

export function outOfRange (name: string, range: string, actual: unknown): RangeError {
  const error = new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${describe(actual)}`)
  return Object.assign(error, { code: 'ERR_OUT_OF_RANGE' })
}

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'string') return `'${value.length > 40 ? value.slice(0, 40) + '...' : value}'`
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`
  if (typeof value === 'function') return `function ${value.name}`
  return `type ${typeof value} (${String(value)})`
}

/** A lock name template missed a field, or a field formatted to no usable text. */
export class TemplateFieldError extends LockError {
  /** The field as written in the template, e.g. 'volume.id'. */
  readonly field: string
  readonly template: string

  constructor (template: string, field: string, reason: string) {
    super('ERR_LOCK_NAME_FIELD', `Lock name template '${template}': field '{${field}}' ${reason}`)
    this.field = field
    this.template = template
  }
}

/** A non-blocking acquire of a named lock found it held (oslo's AcquireLockFailedException). */
export class AcquireLockFailedError extends LockBusyError {
  readonly lockName: string

  constructor (lockName: string, path?: string) {
    super(path ?? lockName)
    this.message = `Failed to acquire lock '${lockName}': it is held elsewhere${path === undefined ? '' : ` (${path})`}`
    this.lockName = lockName
    if (path === undefined) delete (this as { path?: string }).path
  }
}

/**
 * A synchronous wait (acquireSync, lockSync, a synchronized plain function)
 * needs a lock that this thread's own asynchronous code holds or awaits:
 * waiting here would stop that code from ever releasing it.
 */
export class WouldDeadlockError extends LockError {
  /** The named lock, for named locks (lockSync, synchronized). */
  declare readonly lockName?: string

  constructor (what: { lockName?: string, path?: string, reason?: string }) {
    const subject = what.lockName !== undefined ? `Lock '${what.lockName}'` : `The lock on ${what.path ?? 'this file'}`
    super('EDEADLK', `${subject} is held or awaited by other code on this thread${what.reason === undefined ? '' : ` (${what.reason})`}; a synchronous wait for it would never end, since the holder could never run. Wait asynchronously, or try without waiting (blocking: false)`, what.path)
    if (what.lockName !== undefined) this.lockName = what.lockName
  }
}

/** The lock directory is not safe to use: owned by another user, or writable by others. */
export class UnsafeLockPathError extends LockError {
  constructor (path: string, reason: string) {
    super('ERR_LOCK_PATH_UNSAFE', `Refusing lock directory ${path}: ${reason}`, path)
  }
}

/** A distributed lock stopped being this member's: lease expired, connection lost, or taken over. */
export class LockLostError extends LockError {
  readonly lockName: string

  constructor (lockName: string, reason: string) {
    super('ERR_LOCK_LOST', `Lock '${lockName}' was lost: ${reason}`)
    this.lockName = lockName
  }
}

/**
 * A Coordinator cannot do what was asked: not started (ERR_COORDINATOR_NOT_STARTED),
 * stopped (ERR_COORDINATOR_STOPPED), not connected (ERR_COORDINATOR_DISCONNECTED),
 * client library missing (ERR_COORDINATOR_DRIVER_MISSING), connection failed
 * (ERR_COORDINATOR_CONNECT, with the client's error as `cause`).
 */
export type CoordinationErrorCode = Extract<LockErrorCode, `ERR_COORDINATOR_${string}`>

export class CoordinationError extends LockError {
  constructor (code: CoordinationErrorCode, message: string, cause?: unknown) {
    super(code, message)
    if (cause !== undefined) Object.defineProperty(this, 'cause', { value: cause, configurable: true, writable: true })
  }
}

/**
 * A group operation found the group or the membership not as it needs them:
 * no such group (ERR_GROUP_NOT_FOUND), created twice (ERR_GROUP_ALREADY_EXISTS),
 * joined twice (ERR_GROUP_ALREADY_MEMBER), not joined (ERR_GROUP_NOT_MEMBER),
 * deleted with members (ERR_GROUP_NOT_EMPTY).
 */
export type GroupErrorCode = Extract<LockErrorCode, `ERR_GROUP_${string}`>

export class GroupError extends LockError {
  readonly group: string
  /** The member concerned, for the membership codes. */
  declare readonly member?: string

  constructor (code: GroupErrorCode, group: string, message: string, member?: string) {
    super(code, message)
    this.group = group
    if (member !== undefined) this.member = member
  }
}

/**
 * Options that could let two holders in (removeOnRelease on a shared or
 * byte-range lock; a ReaderWriterLock on classic POSIX locks) are refused at
 * construction rather than half-supported.
 */
export class UnsafeOptionsError extends LockError {
  constructor (message: string) {
    super('ERR_LOCK_UNSAFE_OPTIONS', message)
  }
}
