// What the kernel cannot tell about Web Locks requests (their names, modes,
// order, and which are still queued in a process), published per JavaScript
// thread in the lock directory:
//
//   <lock dir>/%weblocks/<clientId>.rec     this thread's requests, as one JSON line
//   <lock dir>/%weblocks/steals/<id>.json   a steal in progress (see FileRealm)
//
// ('%w' is never produced by lockFileName, so no lock name maps there.)
//
// A record never blocks a lock: each thread writes only its own file, after
// the fact (coalesced to once per event-loop turn), and nobody waits for it.
// It cannot go stale either: its owner holds an exclusive flock on it for as
// long as the thread lives, so the kernel drops that lock with the thread
// (exit, crash, SIGKILL, worker terminated) and readers skip, and remove,
// records whose lock they can take.
import { closeSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, watch, writeSync, writeFileSync, type FSWatcher } from 'node:fs'
import { join } from 'node:path'
import { threadId } from 'node:worker_threads'
import { LockFile } from '../lockfile'
import { CLIENT_ID, now } from './manager'
import type { RealmClient, RealmEntry, WebLockMode } from './types'

export const REGISTRY_DIR = '%weblocks'
const STEALS_DIR = 'steals'
const RECORD_SUFFIX = '.rec'

interface Record {
  clientId: string
  pid: number
  threadId: number
  held: Array<[string, WebLockMode, number]>
  pending: Array<[string, WebLockMode, number]>
}

export interface StealMarker {
  /** The lock name being stolen. */
  name: string
  clientId: string
  /** CLOCK_MONOTONIC ns after which the stealer has given up. */
  deadline: number
}

let stealCount = 0

export class Registry {
  readonly dir: string
  readonly #registryDir: string
  readonly #stealsDir: string
  readonly #clients = new Set<RealmClient>()
  #record: LockFile | undefined
  /** Where the record is written (the locked descriptor itself, except on Windows). */
  #fd = -1
  #flushing = false
  /** The record file's length. */
  #written = 0
  #watcher: FSWatcher | undefined
  /** Steals in progress that this thread has seen, by marker file. */
  #steals = new Map<string, StealMarker>()
  readonly #stealEnded = new Set<() => void>()

  constructor (dir: string) {
    this.dir = dir
    this.#registryDir = join(dir, REGISTRY_DIR)
    this.#stealsDir = join(this.#registryDir, STEALS_DIR)
  }

  attach (client: RealmClient): void {
    this.#clients.add(client)
  }

  /**
   * Requests changed: publish them at the end of this event-loop turn. (A
   * request granted meanwhile is still listed as pending; query() sees its
   * kernel lock and counts it as held.)
   */
  changed (): void {
    if (this.#flushing) return
    this.#flushing = true
    setImmediate(() => {
      this.#flushing = false
      try {
        this.#flush()
      } catch {
        // Publishing is best effort: a lock never fails because its record could not be written.
      }
    }).unref()
  }

  /** Creates this thread's record and starts watching for steals (once). */
  start (): void {
    if (this.#record !== undefined) return
    mkdirSync(this.#stealsDir, { recursive: true, mode: 0o700 })
    const path = join(this.#registryDir, CLIENT_ID + RECORD_SUFFIX)
    for (let attempt = 0; ; attempt++) {
      const file = LockFile.open(path, { noFollow: true, permissions: 0o600 })
      // A reader that found an older record of this name dead may hold it for a moment, then unlink it.
      let locked = false
      try {
        file.lockSync({ timeout: 1000 })
        locked = file.isCurrent()
      } catch (error) {
        if (attempt >= 3) {
          file.close()
          throw error
        }
      }
      if (locked) {
        this.#record = file
        break
      }
      file.close()
    }
    this.#fd = this.#record.fd >= 0 ? this.#record.fd : openSync(path, 'r+')
    // A normal exit leaves no record behind (a crash leaves one that readers find unlocked and remove).
    process.once('exit', () => {
      try { unlinkSync(path) } catch {}
    })
    try {
      this.#watcher = watch(this.#stealsDir, { persistent: false }, () => this.#scanSteals())
      this.#watcher.on('error', () => {}) // the directory went away: steals can no longer be seen
    } catch {
      // no watching here: remote steals wait out their bound
    }
    this.#scanSteals()
  }

  #flush (): void {
    if (this.#record === undefined || this.#record.closed) return
    const record: Record = { clientId: CLIENT_ID, pid: process.pid, threadId, held: [], pending: [] }
    for (const client of this.#clients) {
      const { held, pending } = client.snapshot()
      for (const entry of held) record.held.push([entry.name, entry.mode, entry.at])
      for (const entry of pending) record.pending.push([entry.name, entry.mode, entry.at])
    }
    // Padded with spaces to the longest record written so far (JSON ignores them), so that one
    // write replaces the record and no truncation is needed.
    const text = JSON.stringify(record)
    const length = Math.max(Buffer.byteLength(text) + 1, this.#written)
    const data = Buffer.alloc(length, 0x20)
    data.write(text)
    data[length - 1] = 0x0a
    writeSync(this.#fd, data, 0, data.length, 0)
    if (data.length > this.#written) this.#written = data.length
    if (this.#written > 4 * data.length + 4096) { // shrink after a burst
      ftruncateSync(this.#fd, data.length)
      this.#written = data.length
    }
  }

  /** Every other live thread's published requests. Records of dead threads are removed. */
  others (): { held: RealmEntry[], pending: RealmEntry[] } {
    const held: RealmEntry[] = []
    const pending: RealmEntry[] = []
    let names: string[]
    try {
      names = readdirSync(this.#registryDir)
    } catch {
      return { held, pending }
    }
    for (const file of names) {
      if (!file.endsWith(RECORD_SUFFIX) || file === CLIENT_ID + RECORD_SUFFIX) continue
      const path = join(this.#registryDir, file)
      if (!this.#alive(path)) {
        try { unlinkSync(path) } catch { /* another reader was first */ }
        continue
      }
      const record = readRecord(path)
      if (record === undefined) continue
      const entry = ([name, mode, at]: [string, WebLockMode, number]): RealmEntry =>
        ({ name, mode, clientId: record.clientId, pid: record.pid, threadId: record.threadId, at })
      for (const item of record.held) held.push(entry(item))
      for (const item of record.pending) pending.push(entry(item))
    }
    return { held, pending }
  }

  /** Whether the thread owning a record still holds its lock. */
  #alive (path: string): boolean {
    let file: LockFile
    try {
      file = LockFile.open(path, { noFollow: true, permissions: 0o600 })
    } catch {
      return false
    }
    try {
      return !file.tryLock({ mode: 'shared' })
    } catch {
      return true // cannot tell: keep it
    } finally {
      file.close()
    }
  }

  /** Whether a clientId's thread is alive (its record is locked). */
  clientAlive (clientId: string): boolean {
    if (clientId === CLIENT_ID) return true
    return this.#alive(join(this.#registryDir, clientId + RECORD_SUFFIX))
  }

  /** Announces a steal of `name` to every thread using this directory; returns a function that withdraws it. */
  postSteal (name: string, timeout: number): () => void {
    this.start()
    const marker: StealMarker = { name, clientId: CLIENT_ID, deadline: now() + timeout * 1e6 }
    const file = join(this.#stealsDir, `${CLIENT_ID}-${++stealCount}.json`)
    const temporary = file + '.tmp'
    writeFileSync(temporary, JSON.stringify(marker), { mode: 0o600 })
    renameSync(temporary, file) // watchers see the whole marker or none
    return () => {
      try { unlinkSync(file) } catch { /* already gone */ }
    }
  }

  /** Whether a steal of `name` by another thread is in progress (so a fresh grant must give way). */
  stealing (name: string): boolean {
    if (this.#steals.size === 0) return false
    const time = now()
    for (const marker of this.#steals.values()) {
      if (marker.name === name && marker.clientId !== CLIENT_ID && marker.deadline > time) return true
    }
    return false
  }

  /** Resolves when no steal of `name` is in progress any more; rejects with the signal's reason. */
  stealEnded (name: string, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const check = (): void => {
        if (this.stealing(name)) return
        done()
        resolve()
      }
      const onAbort = (): void => {
        done()
        reject(signal.reason)
      }
      const done = (): void => {
        this.#stealEnded.delete(check)
        signal.removeEventListener('abort', onAbort)
        if (timer !== undefined) clearTimeout(timer)
      }
      if (signal.aborted) return reject(signal.reason)
      signal.addEventListener('abort', onAbort, { once: true })
      this.#stealEnded.add(check)
      // A stealer that gives up removes its marker; its deadline is the bound if it cannot (it died).
      let latest = 0
      for (const marker of this.#steals.values()) if (marker.name === name) latest = Math.max(latest, marker.deadline)
      timer = setTimeout(check, Math.max(1, (latest - now()) / 1e6 + 1))
      check()
    })
  }

  /** Re-reads the steal markers; new ones take this thread's holdings of their name away. */
  #scanSteals (): void {
    let files: string[]
    try {
      files = readdirSync(this.#stealsDir).filter((file) => file.endsWith('.json'))
    } catch {
      files = []
    }
    const previous = this.#steals
    const current = new Map<string, StealMarker>()
    const time = now()
    for (const file of files) {
      const known = previous.get(file)
      if (known !== undefined) {
        current.set(file, known)
        continue
      }
      let marker: StealMarker
      try {
        marker = JSON.parse(readFileSync(join(this.#stealsDir, file), 'utf8')) as StealMarker
      } catch {
        continue // removed meanwhile
      }
      if (marker.deadline <= time) continue
      if (marker.clientId !== CLIENT_ID && !this.clientAlive(marker.clientId)) {
        try { unlinkSync(join(this.#stealsDir, file)) } catch {}
        continue
      }
      current.set(file, marker)
      if (marker.clientId !== CLIENT_ID) {
        for (const client of this.#clients) client.stolen(marker.name)
      }
    }
    this.#steals = current
    for (const check of [...this.#stealEnded]) check()
  }

  /** Stops watching and drops this thread's record (tests; a thread's end does the same). */
  close (): void {
    this.#watcher?.close()
    this.#watcher = undefined
    const record = this.#record
    if (record === undefined) return
    this.#record = undefined
    try { unlinkSync(join(this.#registryDir, CLIENT_ID + RECORD_SUFFIX)) } catch {}
    if (record.fd < 0 && this.#fd >= 0) closeSync(this.#fd)
    record.close()
  }
}

/** One record: the first line parsed; a torn read (the owner rewriting it) is retried. */
function readRecord (path: string): Record | undefined {
  for (let attempt = 0; attempt < 5; attempt++) {
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch {
      return undefined
    }
    const end = text.indexOf('\n')
    if (end < 0) {
      if (text === '') return undefined // created, not yet written
      continue
    }
    try {
      return JSON.parse(text.slice(0, end)) as Record
    } catch {
      // torn: read again
    }
  }
  return undefined
}
