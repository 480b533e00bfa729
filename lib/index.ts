export { Lock, withLock } from './lock'
export type { AcquireOptions, Blocking, LockOptions } from './lock'
export { ReaderWriterLock } from './rwlock'
export type { HeldLock, ReaderWriterLockOptions } from './rwlock'
export { LockFile } from './lockfile'
export type { FromFdOptions, LockFileOptions, LockRequestOptions, LockWaitOptions } from './lockfile'
export { holders, isLocked } from './holders'
export type { Holder, HolderKind, HolderProcess, HolderTarget, IsLockedOptions } from './holders'
export { LockError, LockBusyError, LockTimeoutError, LockSystemError } from './errors'
export type { LockErrorCode, SystemErrorCode } from './errors'
export type { Logger, LogFields } from './log'
export type { Backend, ByteRange, LockMode } from './validate'
export { backends } from './backend'
export { TemplateFieldError, AcquireLockFailedError, WouldDeadlockError, UnsafeLockPathError, UnsafeOptionsError } from './errors'
export { formatName, nameFromCall, namesFromCall, compileTemplate, parameterNames, validateNameSpec, NameTemplate } from './template'
export type { KeyFunction, LockNameSpec, TemplateField, FieldStep, ParameterInfo } from './template'
export {
  lock, lockSync, synchronized, internalLock, internalFairLock, externalLock, lockWithPrefix, synchronizedWithPrefix,
  removeExternalLockFile, removeExternalLockFileSync, removeExternalLockFileWithPrefix, rwLock, setDefaults, getLockPath
} from './lockutils'
export type { NamedLockOptions, NamedLockHandle, ExternalLockOptions, RemoveLockFileOptions, Synchronizer } from './lockutils'
export { Semaphores, FairLocks } from './semaphores'
export type { InternalLock } from './semaphores'
export { lockFileName, defaultLockPath, LOCK_PATH_ENV } from './lockpath'
export { locks, LockManager, WebLock } from './weblocks/index'
export type { LockManagerOptions, LockGrantedCallback, WebLockInfo, WebLockMode, WebLockOptions, WebLockSnapshot } from './weblocks/index'
// Coordinator is loaded on first use: its modules are most of this package's
// load time, and most programs only lock files.
export type Coordinator = import('./coordination/index').Coordinator
export declare const Coordinator: typeof import('./coordination/index').Coordinator
Object.defineProperty(exports, 'Coordinator', {
  enumerable: true,
  get: (): typeof import('./coordination/index').Coordinator => (require('./coordination/index') as typeof import('./coordination/index')).Coordinator
})
export type {
  BackendKind, CampaignOptions, CoordinatorConstructorOptions, CoordinatorEvents, CoordinatorOptions, DistributedLock,
  LeadershipLostEvent, LeadershipTerm, LockLostEvent, MemberEvent, ReconnectingEvent, SynchronizedDecorator as CoordinatedSynchronizedDecorator, SynchronizedOptions as CoordinatedSynchronizedOptions
} from './coordination/index'
export { LockLostError, CoordinationError, GroupError } from './errors'
export type { GroupErrorCode } from './errors'
