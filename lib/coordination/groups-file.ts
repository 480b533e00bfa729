// Groups on file://, among the processes of one machine. A group is a
// directory in the coordinator's lock directory; a member is a file in it
// that the member's process holds with a kernel lock for as long as it is a
// member, plus a JSON file with its id and capabilities. A member whose
// process dies loses its kernel lock with it: the next look finds the file
// lockable, so its owner is gone, and removes it. Changes to a group (create,
// join, sweep, delete) take the group's own lock file first, so a sweep never
// races a join of the same member id.
//
// Leadership: the leader writes its member id and token next to the group's
// leadership lock file; leader() believes that file only while the lock is
// held and the token in it is the one the lock's fence file last issued.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Lock } from '../lock'
import { lockFileName } from '../lockpath'
import type { DeleteResult, GroupStore, JoinResult, LeaveResult } from './group-store'

const MEMBER = '%member'
const CAPS = '%caps'

interface MemberRecord { member: string, capabilities: string }

export class FileGroupStore implements GroupStore {
  readonly #dir: string
  /** Member locks this coordinator holds, by group then member. */
  readonly #held = new Map<string, Map<string, Lock>>()

  constructor (dir: string) {
    this.#dir = dir
  }

  async create (group: string): Promise<boolean> {
    return await this.#locked(group, () => {
      try {
        mkdirSync(this.#groupDir(group))
        return true
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
        throw error
      }
    })
  }

  async delete (group: string): Promise<DeleteResult> {
    return await this.#locked(group, () => {
      const members = this.#sweep(group)
      if (members === undefined) return 'missing'
      if (members.size > 0) return 'not-empty'
      rmSync(this.#groupDir(group), { recursive: true, force: true })
      return 'deleted'
    })
  }

  async join (group: string, member: string, capabilities: string): Promise<JoinResult> {
    return await this.#locked(group, () => {
      if (!this.#exists(group)) return 'missing'
      if (this.#mine(group, member) !== undefined) return 'member'
      const lock = new Lock(this.#memberPath(group, member, MEMBER), { removeOnRelease: true })
      if (!lock.tryAcquire()) return 'member' // a live process holds this member id
      try {
        this.#writeRecord(group, member, capabilities)
      } catch (error) {
        lock.release()
        throw error
      }
      let mine = this.#held.get(group)
      if (mine === undefined) this.#held.set(group, mine = new Map())
      mine.set(member, lock)
      return 'joined'
    })
  }

  async leave (group: string, member: string): Promise<LeaveResult> {
    return await this.#locked(group, () => {
      const lock = this.#mine(group, member)
      this.#held.get(group)?.delete(member)
      if (this.#held.get(group)?.size === 0) this.#held.delete(group)
      if (!this.#exists(group)) {
        lock?.release()
        return 'missing'
      }
      if (lock === undefined) return 'not-member'
      rmSync(this.#memberPath(group, member, CAPS), { force: true })
      lock.release() // removes the member file, under its lock
      return 'left'
    })
  }

  async update (group: string, member: string, capabilities: string): Promise<LeaveResult> {
    return await this.#locked(group, () => {
      if (!this.#exists(group)) return 'missing'
      if (this.#mine(group, member)?.acquired !== true) return 'not-member'
      this.#writeRecord(group, member, capabilities)
      return 'left'
    })
  }

  async members (group: string): Promise<Map<string, string> | undefined> {
    return await this.#locked(group, () => this.#sweep(group))
  }

  async renew (member: string, groups: readonly string[]): Promise<boolean[]> {
    // Nothing expires: a kernel lock lasts as long as its process.
    return groups.map((group) => this.#mine(group, member)?.acquired === true)
  }

  async leader (_group: string, lockName: string): Promise<string | undefined> {
    const probe = new Lock(join(this.#dir, lockFileName(lockName)))
    if (probe.tryAcquire()) {
      probe.release()
      return undefined
    }
    try {
      const { member, token } = JSON.parse(readFileSync(this.#leaderPath(lockName), 'utf8')) as { member?: string, token?: number }
      // The fence file has the current holder's token (file.ts writes it on each grant):
      // a record with another token is the previous leader's, not yet overwritten.
      const current = Number(readFileSync(join(this.#dir, lockFileName(lockName, undefined, '%fence')), 'utf8').trim())
      return token === current ? member : undefined
    } catch {
      return undefined // elected a moment ago, not written yet
    }
  }

  async elected (_group: string, lockName: string, member: string, token: number): Promise<void> {
    // Only the holder of the leadership lock writes, so one temporary name suffices.
    const path = this.#leaderPath(lockName)
    const temporary = `${path}.tmp`
    rmSync(temporary, { force: true })
    writeFileSync(temporary, JSON.stringify({ member, token }), { flag: 'wx', mode: 0o644 })
    renameSync(temporary, path)
  }

  async close (): Promise<void> {
    for (const mine of this.#held.values()) for (const lock of mine.values()) lock.release()
    this.#held.clear()
  }

  /** The live members (sweeping out those whose process is gone), or undefined if there is no such group. */
  #sweep (group: string): Map<string, string> | undefined {
    let names: string[]
    try {
      names = readdirSync(this.#groupDir(group))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
    const mine = new Map<string, Lock>()
    for (const [member, lock] of this.#held.get(group) ?? []) mine.set(lockFileName(member, undefined, MEMBER), lock)
    const members = new Map<string, string>()
    for (const name of names) {
      if (!name.endsWith(MEMBER)) continue
      const path = join(this.#groupDir(group), name)
      const capsPath = path.slice(0, -MEMBER.length) + CAPS
      const own = mine.get(name)
      if (own === undefined) {
        const probe = new Lock(path, { removeOnRelease: true })
        if (probe.tryAcquire()) { // its process is gone
          rmSync(capsPath, { force: true })
          probe.release()
          continue
        }
      }
      try {
        const record = JSON.parse(readFileSync(capsPath, 'utf8')) as MemberRecord
        members.set(record.member, record.capabilities)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      }
    }
    return members
  }

  #writeRecord (group: string, member: string, capabilities: string): void {
    const path = this.#memberPath(group, member, CAPS)
    const temporary = `${path}.tmp`
    rmSync(temporary, { force: true })
    writeFileSync(temporary, JSON.stringify({ member, capabilities } satisfies MemberRecord), { flag: 'wx', mode: 0o644 })
    renameSync(temporary, path)
  }

  /** Runs `change` holding the group's lock file (blocking, across processes). */
  async #locked<T> (group: string, change: () => T): Promise<T> {
    const lock = new Lock(join(this.#dir, lockFileName(group, undefined, '%group-lock')))
    await lock.acquire()
    try {
      return change()
    } finally {
      lock.release()
    }
  }

  #mine (group: string, member: string): Lock | undefined {
    return this.#held.get(group)?.get(member)
  }

  #exists (group: string): boolean {
    try {
      return statSync(this.#groupDir(group)).isDirectory()
    } catch {
      return false
    }
  }

  #groupDir (group: string): string { return join(this.#dir, lockFileName(group, undefined, '%group')) }
  #memberPath (group: string, member: string, suffix: string): string { return join(this.#groupDir(group), lockFileName(member, undefined, suffix)) }
  #leaderPath (lockName: string): string { return join(this.#dir, lockFileName(lockName, undefined, '%leader')) }
}

