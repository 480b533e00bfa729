// An x64 process and an arm64 process (Node for linux-arm64 under qemu-user,
// same kernel) exclude each other on one file, with each lock backend.
// Run by scripts/test-arm64.sh, which sets LOCKSMITH_ARM64_NODE; skipped elsewhere.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { LockFile } from '../lib/index'
import { tempDir } from './helpers'

const foreignNode = process.env.LOCKSMITH_ARM64_NODE
const dir = tempDir()

interface Reply { event: string, code?: string, message?: string }

/** The holder fixture, run by the arm64 Node. */
class ForeignHolder {
  readonly child: ChildProcess
  readonly #replies: Reply[] = []
  readonly #waiting: Array<(reply: Reply) => void> = []

  constructor (execPath: string) {
    this.child = fork(join(__dirname, 'fixtures', 'holder.js'), [], { execPath, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (reply: Reply) => {
      const next = this.#waiting.shift()
      if (next !== undefined) next(reply)
      else this.#replies.push(reply)
    })
  }

  async next (): Promise<Reply> {
    const queued = this.#replies.shift()
    if (queued !== undefined) return queued
    return await new Promise((resolve) => this.#waiting.push(resolve))
  }

  async send (message: Record<string, unknown>): Promise<Reply> {
    const reply = this.next()
    this.child.send(message)
    return await reply
  }

  async exit (): Promise<void> {
    if (this.child.exitCode !== null) return
    const exited = once(this.child, 'exit')
    this.child.send({ cmd: 'exit' })
    await exited
  }
}

describe('x64 and arm64 processes exclude each other', { skip: foreignNode === undefined ? 'LOCKSMITH_ARM64_NODE is not set' : false }, () => {
  let holder: ForeignHolder
  after(async () => { await holder?.exit() })

  test('the arm64 holder starts on the arm64 prebuild', { timeout: 120_000 }, async () => {
    holder = new ForeignHolder(foreignNode as string)
    assert.equal((await holder.next()).event, 'ready')
  })

  for (const backend of ['flock', 'ofd', 'posix'] as const) {
    test(`${backend}: arm64 holds, x64 is refused; then the other way round`, { timeout: 120_000 }, async () => {
      const path = join(dir, `cross-${backend}.lock`)
      using local = LockFile.open(path, { backend })

      assert.equal((await holder.send({ cmd: 'lockfile', path, backend, mode: 'exclusive' })).event, 'acquired')
      assert.equal(local.tryLock(), false, 'x64 must not get what arm64 holds')
      assert.equal((await holder.send({ cmd: 'unlock' })).event, 'released')
      assert.equal(local.tryLock(), true, 'free once arm64 released')

      assert.equal((await holder.send({ cmd: 'lockfile', path, backend, mode: 'exclusive' })).event, 'busy', 'arm64 must not get what x64 holds')
      assert.equal((await holder.send({ cmd: 'unlock' })).event, 'released')
      local.unlock()
      assert.equal((await holder.send({ cmd: 'lockfile', path, backend, mode: 'exclusive' })).event, 'acquired', 'free once x64 released')
      assert.equal((await holder.send({ cmd: 'unlock' })).event, 'released')
    })
  }
})
