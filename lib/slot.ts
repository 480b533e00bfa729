// The in-process side of a lock. Every Lock on the same path (and backend and
// range) in this thread shares one slot: one descriptor, one kernel lock for the
// group that holds it, one native waiter thread, and a FIFO queue of waiters.
// That gives same-process exclusion on every backend (classic POSIX locks do not
// exclude within a process), fairness among this process's waiters, and a
// constant number of native threads however many acquires are pending.
import { resolve } from 'node:path'
import { unlinkSync } from 'node:fs'
import { resolveBackend } from './backend'
import { fromNative, typedCall, WouldDeadlockError } from './errors'
import { LockFile, waitForLock } from './lockfile'
import { BACKEND_IDS, native } from './native'
import { grantedAfterWait, lastWaitBlocked, mustQueue, released } from './retake'
import type { Backend, ByteRange, LockMode } from './validate'

export interface SlotOptions {
  backend: Backend
  range: ByteRange | undefined
  noFollow: boolean
  permissions: number
  mkdirs: boolean
}

interface Waiter {
  shared: boolean
  /** Called once when this waiter holds the lock, possibly inside the native completion. */
  granted: () => void
  failed: (error: unknown) => void
}

type KernelTry = 'locked' | 'busy' | 'kept out'

const slots = new Map<string, Slot>()

/**
 * Classic POSIX locks belong to the process: closing any descriptor of the
 * file drops them all, two locks of the process never conflict, and unlocking
 * a range frees those bytes whoever locked them. So this thread's `posix`
 * slots of a path share one descriptor, and a slot asks the kernel only while
 * no other slot of that descriptor has a claim on overlapping bytes (a claim
 * lasts from the first kernel attempt until the slot holds and waits for
 * nothing). Overlapping requests queue here instead, woken when a claim ends.
 */
class PosixFile {
  readonly file: LockFile
  users = 0
  readonly claims = new Set<Slot>()
  /** Slots whose head is kept out by another slot's claim, in the order they were kept out. */
  readonly blocked = new Set<Slot>()

  constructor (file: LockFile) {
    this.file = file
  }
}

/** The descriptor the path named when it was last opened; an entry whose file was replaced is retired from here. */
const posixFiles = new Map<string, PosixFile>()

/** [start, end) of a range; length 0 reaches past any end. */
function extent (range: ByteRange | undefined): [number, number] {
  if (range === undefined || range.length === 0) return [range?.start ?? 0, Infinity]
  return [range.start, range.start + range.length]
}

function overlap (a: ByteRange | undefined, b: ByteRange | undefined): boolean {
  const [aStart, aEnd] = extent(a)
  const [bStart, bEnd] = extent(b)
  return aStart < bEnd && bStart < aEnd
}

const POSIX_PATHS = process.platform !== 'win32'

/** Whether the addon has the one-call acquire and release (a binary built before them has not; no binary at all throws here). */
const DIRECT = ((): boolean => {
  try {
    return typeof native.openLockCheck === 'function'
  } catch {
    return false
  }
})()

/**
 * resolve(path), without its work for a path that is already absolute and
 * normal (no `//`, no `.` or `..` segment, no trailing slash): the same
 * string comes back, whose hash the slot map has then computed already.
 */
function absolutePath (path: string): string {
  const length = path.length
  if (!POSIX_PATHS || path.charCodeAt(0) !== 47 || path.charCodeAt(length - 1) === 47) return resolve(path)
  for (let i = 0; i < length; i++) {
    if (path.charCodeAt(i) !== 47) continue
    const next = path.charCodeAt(i + 1)
    if (next === 47 || next === 46) return resolve(path) // `//`, or a segment that starts with a dot
  }
  return path
}

/** Where a lock on `path` with these options is queued in this thread (see getSlot). */
export function slotKey (path: string, options: SlotOptions): { key: string, absolute: string } {
  const absolute = absolutePath(path)
  // The common case is keyed by the path alone; no path contains the NUL that sets the others apart.
  if (options.backend === 'auto' && options.range === undefined) return { key: absolute, absolute }
  const range = options.range === undefined ? '' : `${options.range.start}+${options.range.length}`
  return { key: `${options.backend}\0${absolute}\0${range}`, absolute }
}

/**
 * Idle slots stay in the map, so that acquiring a path again finds its slot
 * (a Map that loses and regains its only entry on every cycle reallocates its
 * table each time: measured 0.65 µs, as much as half a system call here).
 * Past this many slots, the idle ones are swept when a new one is added.
 */
const MAX_SLOTS = 256
/** The size at which the next sweep happens: twice what a sweep left (slots in use stay), so sweeps stay rare. */
let sweepAt = MAX_SLOTS

/**
 * The slot for a key from slotKey(). An idle slot made with other options (the
 * key leaves out noFollow, permissions and mkdirs) is replaced; one in use is
 * shared whatever its options. `previous`: the slot the caller used last for
 * this key, reused if idle (its options are the caller's).
 */
export function getSlot ({ key, absolute }: { key: string, absolute: string }, options: SlotOptions, previous?: Slot): Slot {
  const slot = slots.get(key)
  if (slot !== undefined && (!slot.idle || slot.madeWith(options))) return slot
  if (slot === undefined && slots.size >= sweepAt) {
    for (const [other, kept] of slots) if (kept.idle) slots.delete(other)
    sweepAt = Math.max(MAX_SLOTS, 2 * slots.size)
  }
  const fresh = previous?.idle === true ? previous : new Slot(key, absolute, options)
  slots.set(key, fresh)
  return fresh
}

/** Slots of this thread that hold, await or have open something (for leak checks), and all kept ones. */
export function slotCounts (): { inUse: number, kept: number } {
  let inUse = 0
  for (const slot of slots.values()) if (!slot.idle) inUse++
  return { inUse, kept: slots.size }
}

export class Slot {
  readonly #key: string
  readonly path: string
  readonly #options: SlotOptions
  #file: LockFile | undefined
  /**
   * For a whole-file lock on flock, OFD or Windows: the file, by its id in the
   * addon's table, with no LockFile around it. An acquire opens, locks and
   * checks in one native call (openLockCheck), a wait goes to the addon
   * directly, and a release unlocks and closes in one call (unlockClose): no
   * per-acquire object, map entry or validated options. 0 when none is open.
   */
  #direct = 0
  /** The backend's id for those calls; -1 where they do not apply (posix shares a descriptor; byte ranges). */
  readonly #directBackend: number
  /** With `posix`: the descriptor shared with this thread's other slots of the path. */
  #posix: PosixFile | undefined
  /** In-process holders of the kernel lock: several if shared, else at most one. */
  #holders = 0
  #shared = false
  readonly #queue: Waiter[] = []
  /** Cancels the native wait that the head of the queue is in, if any. */
  #kernelWait: (() => void) | undefined

  constructor (key: string, path: string, options: SlotOptions) {
    this.#key = key
    this.path = path
    this.#options = options
    const backend = DIRECT && options.range === undefined ? resolveBackend(options.backend, undefined) : 'posix'
    this.#directBackend = backend === 'posix' ? -1 : BACKEND_IDS[backend]
  }

  /** Holds nothing, awaits nothing and has no file open. */
  get idle (): boolean {
    return this.#holders === 0 && this.#queue.length === 0 && this.#kernelWait === undefined && this.#file === undefined &&
      this.#direct === 0
  }

  /** Whether these are the options it opens its file with (those its key leaves out too). */
  madeWith (options: SlotOptions): boolean {
    const own = this.#options
    return own === options || (own.backend === options.backend && own.noFollow === options.noFollow &&
      own.permissions === options.permissions && own.mkdirs === options.mkdirs)
  }

  /**
   * Takes the lock if that needs no waiting; never jumps the queue. `beforeWait`:
   * the caller enqueues at once if this fails, so a re-take (lib/retake.ts)
   * does not try the kernel on the spot, and a busy file stays open for the wait.
   */
  tryTake (mode: LockMode, beforeWait = false): boolean {
    if (this.#queue.length > 0) return false
    const shared = mode === 'shared'
    if (this.#holders > 0) {
      if (!(shared && this.#shared)) return false
      this.#holders++
      return true
    }
    if (beforeWait && mustQueue(this.#key)) return false
    let outcome: KernelTry
    try {
      outcome = this.#kernelTry(shared)
    } catch (error) {
      this.#dropIfIdle() // do not keep a descriptor open for nobody
      throw error
    }
    if (outcome === 'locked') {
      this.#grant(shared)
      return true
    }
    if (!beforeWait) this.#dropIfIdle()
    return false
  }

  /**
   * Waits in FIFO order behind this process's other waiters, then for the kernel.
   * Exactly one of `granted` and `failed` is called, once, perhaps before this
   * returns; neither may throw (they can run inside the native completion).
   * Callbacks rather than a promise: each promise between the kernel's grant
   * and the caller is one more turn of the microtask queue in the hand-off.
   * Returns a function that leaves the queue (a no-op once either was called);
   * after it, neither is called.
   */
  enqueue (mode: LockMode, granted: () => void, failed: (error: unknown) => void): () => void {
    const waiter: Waiter = { shared: mode === 'shared', granted, failed }
    this.#queue.push(waiter)
    this.#pump(true)
    return () => this.#leaveQueue(waiter)
  }

  /** Blocks this thread for the kernel lock. Waiting on this process's own holder would never end. */
  takeSync (mode: LockMode, timeout: number | undefined): void {
    if (this.tryTake(mode)) return
    if (this.#holders > 0 || this.#queue.length > 0) {
      throw new WouldDeadlockError({ path: this.path })
    }
    const shared = mode === 'shared'
    try {
      for (;;) {
        const file = this.#openFile()
        if (!this.#claim()) {
          throw new WouldDeadlockError({ path: this.path, reason: 'overlapping bytes, which posix locks of one process share' })
        }
        file.lockSync({ mode, range: this.#options.range, timeout })
        if (this.#verified(file)) break
      }
    } catch (error) {
      this.#dropIfIdle()
      throw error
    }
    this.#grant(shared)
  }

  /** Releases one holder; the last one gives the kernel lock back (removing the file first if asked). */
  release (removeFile: boolean): void {
    if (this.#holders === 0) return
    this.#holders--
    if (this.#holders > 0) return
    const remove = removeFile && this.#queue.length === 0
    if (remove) {
      // Unlink only while holding the lock; waiters elsewhere notice the file
      // is gone when they get the lock, and retry on a fresh file.
      try { unlinkSync(this.path) } catch { /* already gone */ }
    }
    const direct = this.#direct
    if (direct !== 0) {
      // Closed even when a waiter of this thread is next: it opens the file
      // the path names by then.
      this.#direct = 0
      let failure: Error | undefined
      try {
        native.unlockClose(direct, this.#directBackend, lastWaitBlocked(this.#key))
      } catch (error) {
        failure = fromNative(error)
      }
      released(this.#key)
      this.#pump()
      this.#dropIfIdle()
      if (failure !== undefined) throw failure
      return
    }
    const file = this.#file as LockFile
    // No options object for the whole file: unlocking is what wakes the next
    // holder, so nothing (not even option checks) should come before it.
    if (this.#options.range === undefined) file.unlock()
    else file.unlock({ range: this.#options.range })
    released(this.#key)
    if (remove) this.#closeFile()
    else this.#unclaim()
    this.#pump()
    this.#dropIfIdle()
  }

  #grant (shared: boolean): void {
    this.#holders = 1
    this.#shared = shared
  }

  /**
   * Grants queued waiters in order: the head, and the shared ones right behind
   * a shared head. `justTried`: the head was tried on the spot a moment ago
   * (enqueue follows a failed tryTake): it goes on to wait, not try again.
   */
  #pump (justTried = false): void {
    let tried = justTried
    while (this.#queue.length > 0 && this.#kernelWait === undefined) {
      const head = this.#queue[0] as Waiter
      if (this.#holders > 0) {
        if (!(head.shared && this.#shared)) return
        this.#queue.shift()
        this.#holders++
        head.granted()
        continue
      }
      // A re-take waits its turn on the thread, which still tries once first (lib/retake.ts).
      const retake = mustQueue(this.#key)
      const onSpot = !tried && !retake
      tried = false
      let outcome: KernelTry
      try {
        outcome = onSpot ? this.#kernelTry(head.shared) : this.#queueInKernel()
      } catch (error) {
        this.#queue.shift()
        head.failed(error)
        continue
      }
      if (outcome === 'kept out') {
        (this.#posix as PosixFile).blocked.add(this) // woken by #unclaim() of the slot in the way
        return
      }
      if (outcome === 'busy') {
        this.#waitInKernel(head, retake)
        return
      }
      this.#queue.shift()
      this.#grant(head.shared)
      head.granted()
    }
    this.#dropIfIdle()
  }

  /**
   * The head of the queue waits for the kernel lock on the slot's native
   * waiter thread. `tryFirst`: the lock was not just tried here (a re-take).
   */
  #waitInKernel (head: Waiter, tryFirst: boolean): void {
    const file = this.#file
    const mode: LockMode = head.shared ? 'shared' : 'exclusive'
    let cancel: () => void
    try {
      cancel = file === undefined
        ? this.#waitDirect(head, tryFirst)
        : file[waitForLock]({ mode, range: this.#options.range }, tryFirst, (error, current, waited) => this.#kernelWaitEnded(file, head, error, current, waited))
    } catch (error) {
      this.#queue.shift()
      head.failed(error)
      return this.#pump()
    }
    this.#kernelWait = cancel
  }

  /** #waitInKernel on the #direct file: the addon's wait, with its errors typed as LockFile's are. */
  #waitDirect (head: Waiter, tryFirst: boolean): () => void {
    const id = this.#direct
    typedCall(() => native.wait(id, this.#directBackend, !head.shared, undefined, undefined, (error, _acquired, current, waited) => {
      this.#kernelWaitEnded(undefined, head, error === null ? null : fromNative(error), current, waited)
    }, true, tryFirst))
    return () => { native.cancel(id) }
  }

  // Runs inside the native completion callback, so it must not throw.
  // `current`: the waiter thread's isCurrent() right after the grant;
  // `waited`: whether another holder was in the way when the wait began.
  #kernelWaitEnded (file: LockFile | undefined, head: Waiter, error: Error | null, current: boolean | undefined, waited: boolean | undefined): void {
    this.#kernelWait = undefined
    let verified = false
    if (error === null) {
      grantedAfterWait(this.#key, waited === true)
      try {
        verified = this.#verified(file, current)
      } catch (failure) {
        error = failure as Error
      }
    }
    if (error !== null) {
      this.#queue.shift()
      head.failed(error)
    } else if (verified) {
      this.#queue.shift()
      this.#grant(head.shared)
      head.granted()
    }
    this.#pump()
  }

  #leaveQueue (waiter: Waiter): void {
    const index = this.#queue.indexOf(waiter)
    if (index < 0) return
    this.#queue.splice(index, 1)
    if (index === 0 && this.#kernelWait !== undefined) {
      // Returns once no thread waits and no lock granted in the race is held.
      this.#kernelWait()
      this.#kernelWait = undefined
    }
    this.#pump()
  }

  /** No try on the spot (just tried, or a re-take: lib/retake.ts): the head is to wait in the kernel, once it may ask. */
  #queueInKernel (): KernelTry {
    if (this.#directBackend >= 0 && this.#file === undefined) {
      if (this.#direct === 0) this.#direct = this.#openDirect()
      if (this.#direct !== 0) return 'busy'
    }
    this.#openFile()
    return this.#claim() ? 'busy' : 'kept out'
  }

  /**
   * Opens the file in the addon's table for a wait; 0 where the full way must
   * (a missing directory to create, an error to throw in full, a read-only
   * file, for which LockFile explains an exclusive OFD lock's EBADF).
   */
  #openDirect (): number {
    const { noFollow, permissions } = this.#options
    let id: number
    try {
      id = native.open(this.path, noFollow, permissions)
    } catch {
      return 0
    }
    if (!native.readOnly(id)) return id
    typedCall(() => native.close(id))
    return 0
  }

  #kernelTry (shared: boolean): KernelTry {
    if (this.#directBackend >= 0 && this.#file === undefined) {
      // Open already (a wait ahead of this one was given up): opened afresh,
      // as the path may name another file by now.
      this.#closeFile()
      const { noFollow, permissions } = this.#options
      const id = native.openLockCheck(this.path, noFollow, permissions, this.#directBackend, !shared)
      if (id !== 0) {
        this.#direct = Math.abs(id)
        return id > 0 ? 'locked' : 'busy'
      }
      // 0: an error, or a directory to create: the full way below, which throws in full.
    }
    for (;;) {
      const file = this.#openFile()
      if (!this.#claim()) return 'kept out'
      if (!file.tryLock({ mode: shared ? 'shared' : 'exclusive', range: this.#options.range })) return 'busy'
      if (this.#verified(file)) return 'locked'
    }
  }

  /** Whether this slot may ask the kernel now: always, but for `posix` slots kept out by an overlapping claim. */
  #claim (): boolean {
    const posix = this.#posix
    if (posix === undefined || posix.claims.has(this)) return true
    for (const other of posix.claims) {
      if (overlap(other.#options.range, this.#options.range)) return false
    }
    posix.claims.add(this)
    posix.blocked.delete(this)
    return true
  }

  /** Ends this slot's claim (it holds and awaits nothing in the kernel) and lets the slots it kept out try again. */
  #unclaim (posix = this.#posix): void {
    if (posix === undefined || !posix.claims.delete(this)) return
    for (const other of [...posix.blocked]) {
      posix.blocked.delete(other)
      other.#pump()
    }
  }

  /**
   * After the kernel grants a lock: is it on the file the path names now? If the
   * file was removed or replaced meanwhile, the lock protects nothing: drop it
   * and reopen (pitfall: deleting a lock file breaks mutual exclusion).
   */
  #verified (file: LockFile | undefined, checked?: boolean): boolean {
    let current = false
    try {
      current = checked ?? (file === undefined ? typedCall(() => native.isCurrent(this.#direct)) : file.isCurrent())
    } finally {
      if (!current) { // replaced, or the check failed: hold nothing
        if (file === undefined) native.unlockWhole(this.#direct, this.#directBackend)
        else file.unlock({ range: this.#options.range })
        this.#closeFile(true)
      }
    }
    return current
  }

  #openFile (): LockFile {
    if (this.#file !== undefined) return this.#file
    const { backend, noFollow, permissions, mkdirs } = this.#options
    if (backend !== 'posix') {
      this.#file = LockFile.open(this.path, { backend, noFollow, permissions, mkdirs })
      return this.#file
    }
    let posix = posixFiles.get(this.path)
    if (posix === undefined) {
      posix = new PosixFile(LockFile.open(this.path, { backend, noFollow, permissions, mkdirs }))
      posixFiles.set(this.path, posix)
    }
    posix.users++
    this.#posix = posix
    this.#file = posix.file
    return this.#file
  }

  /**
   * `replaced`: the path no longer names this file. A shared posix descriptor
   * is then retired, so that the next open gets the new file rather than the
   * stale one again; it is closed when its last user leaves.
   */
  #closeFile (replaced = false): void {
    const direct = this.#direct
    if (direct !== 0) {
      this.#direct = 0
      typedCall(() => native.close(direct)) // cancels a wait first: nothing granted in the race stays held
    }
    const file = this.#file
    if (file === undefined) return
    this.#file = undefined
    const posix = this.#posix
    if (posix === undefined) return file.close()
    this.#posix = undefined
    posix.blocked.delete(this)
    if (replaced && posixFiles.get(this.path) === posix) posixFiles.delete(this.path)
    if (--posix.users === 0) {
      if (posixFiles.get(this.path) === posix) posixFiles.delete(this.path)
      file.close()
    }
    this.#unclaim(posix) // last: the slots it wakes see this one closed
  }

  /** Closes the file of a slot that holds and awaits nothing (the slot stays in the map: see MAX_SLOTS). */
  #dropIfIdle (): void {
    if (this.#holders > 0 || this.#queue.length > 0 || this.#kernelWait !== undefined) return
    this.#closeFile()
  }
}
