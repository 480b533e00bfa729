// The file:// backend: the conformance suite, plus what is particular to it.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import { Coordinator } from '../lib/index'
import { conformance } from './coordination-suite'
import { flockCommandCanLock, isLinux, tempDir } from './helpers'

const dir = tempDir('locksmith-coord-file-')
const url = pathToFileURL(dir).href

conformance('file', { url: () => url, options: { prefix: 'app-' }, crashRecovery: 5000 })

describe('file: particulars', () => {
  it('locks the file named locks use for the name, and never writes to it', async () => {
    await using coordinator = new Coordinator(url, { prefix: 'svc-' })
    await coordinator.start()
    const lock = coordinator.getLock('job-1')
    for (let i = 0; i < 3; i++) {
      assert.equal(await lock.acquire(), true)
      if (isLinux) assert.equal(flockCommandCanLock(join(dir, 'svc-job-1')), false)
      await lock.release()
    }
    if (isLinux) assert.equal(flockCommandCanLock(join(dir, 'svc-job-1')), true)
    assert.equal(statSync(join(dir, 'svc-job-1')).size, 0)
    const token = Number(readFileSync(join(dir, 'svc-job-1%fence'), 'utf8'))
    assert.ok(token >= Date.now() * 1000 - 60e6)
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('svc-job-1')).sort(), ['svc-job-1', 'svc-job-1%fence'])
  })

  it('keeps tokens rising when the counter file is lost or corrupt', async () => {
    await using coordinator = new Coordinator(url)
    await coordinator.start()
    const lock = coordinator.getLock('counter')
    await lock.acquire()
    const first = lock.fencingToken as number
    await lock.release()
    writeFileSync(join(dir, 'counter%fence'), 'garbage')
    await lock.acquire()
    const second = lock.fencingToken as number
    await lock.release()
    // A counter ahead of the clock (hours) is followed, not reset.
    writeFileSync(join(dir, 'counter%fence'), String(second + 1e10))
    await lock.acquire()
    assert.ok(second > first)
    assert.equal(lock.fencingToken, second + 1e10 + 1)
    await lock.release()
  })

  it('has a synchronous tryAcquire and a plain-path URL form', async () => {
    await using coordinator = new Coordinator(dir)
    assert.equal(coordinator.backend, 'file')
    assert.equal(coordinator.url, url)
    await coordinator.start()
    const a = coordinator.getLock('sync')
    const b = coordinator.getLock('sync')
    assert.equal(a.tryAcquire?.(), true)
    assert.equal(b.tryAcquire?.(), false)
    assert.equal(await a.isStillOwner(), true)
    await a.release()
    assert.equal(b.tryAcquire?.(), true)
    await b.release()
  })
})
