// portable: also run under Windows (Wine) by scripts/test-wine.sh
// Lock directory resolution and the name -> file mapping of named locks.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, chownSync, mkdirSync, readdirSync, statSync, symlinkSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { lockFileName, lockFilePath, ensureLockPath, effectiveLockPath, defaultLockPath, MAX_FILE_NAME_BYTES, setDefaultLockPath } from '../lib/lockpath'
import { externalLock, getLockPath, lock, setDefaults, UnsafeLockPathError } from '../lib/index'
import { tempDir } from './helpers'

const isRoot = process.getuid?.() === 0
const posix = process.platform !== 'win32'

/** Runs `fn` with some environment variables set (undefined: unset), then restores them. */
async function withEnv<T> (vars: Record<string, string | undefined>, fn: () => T | Promise<T>): Promise<T> {
  const saved: Record<string, string | undefined> = {}
  for (const [key, value] of Object.entries(vars)) {
    saved[key] = process.env[key]
    if (value === undefined) delete process.env[key]
    else process.env[key] = value
  }
  try {
    return await fn()
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  }
}

test('plain names map to themselves; prefixes follow oslo (nova == nova-)', () => {
  assert.equal(lockFileName('compute_resources'), 'compute_resources')
  assert.equal(lockFileName('a.b-c_D9'), 'a.b-c_D9')
  assert.equal(lockFileName('x', 'nova'), 'nova-x')
  assert.equal(lockFileName('x', 'nova-'), 'nova-x')
  assert.equal(lockFileName('x', ''), 'x')
})

test('traversal-looking names stay inside the lock directory', async () => {
  const dir = tempDir()
  const names = ['..', '.', '../escape', '../../etc/passwd', 'a/../../b', '..\\..\\win', '/abs', 'nul\0byte', 'new\nline', 'C:', '%2F']
  for (const name of names) {
    const path = lockFilePath(name, { lockPath: dir })
    assert.equal(dirname(path), dir, name)
    await using held = await lock(name, { external: true, lockPath: dir })
    assert.equal(held.paths[0], path)
  }
  const files = readdirSync(dir)
  assert.equal(files.length, names.length)
  for (const file of files) assert.ok(statSync(join(dir, file)).isFile(), file)
  assert.deepEqual(readdirSync(dirname(dir)).filter((f) => f === 'escape'), [])
})

test('distinct names stay distinct, long ones too (hashed, within NAME_MAX)', () => {
  const names = ['a/b', 'a_b', 'a%2Fb', 'a%b', 'a\\b', '.', '%2E', '..', 'x'.repeat(1000), 'x'.repeat(999) + 'y', 'é'.repeat(400), 'é'.repeat(399) + 'e',
    'x'.repeat(MAX_FILE_NAME_BYTES), 'x'.repeat(MAX_FILE_NAME_BYTES + 1)]
  const files = names.map((name) => lockFileName(name))
  assert.equal(new Set(files).size, names.length)
  for (const file of files) assert.ok(Buffer.byteLength(file) <= MAX_FILE_NAME_BYTES, file)
  assert.equal(lockFileName('x'.repeat(1000)), lockFileName('x'.repeat(1000)), 'stable')
  // The reader-writer suffix keeps rwLock files apart from exclusive-lock files.
  assert.notEqual(lockFileName('x', undefined, '%rw'), lockFileName('x%rw'))
  assert.throws(() => lockFileName(''), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => lockFileName(5 as unknown as string), { code: 'ERR_INVALID_ARG_TYPE' })
})

test('lock path resolution: option, then setDefaults, then LOCKSMITH_LOCK_PATH, then the per-user default', async () => {
  const [a, b, c] = [tempDir(), tempDir(), tempDir()]
  await withEnv({ LOCKSMITH_LOCK_PATH: c }, () => {
    assert.equal(getLockPath(), c)
    setDefaults({ lockPath: b })
    try {
      assert.equal(getLockPath(), b)
      assert.equal(getLockPath({ lockPath: a }), a)
      assert.equal(externalLock('n', { lockPath: a }).path, join(a, 'n'))
      assert.equal(externalLock('n').path, join(b, 'n'))
    } finally {
      setDefaults({ lockPath: undefined })
    }
    assert.equal(externalLock('n').path, join(c, 'n'))
  })
  await withEnv({ LOCKSMITH_LOCK_PATH: undefined }, () => assert.equal(getLockPath(), defaultLockPath()))
  assert.throws(() => setDefaults({ lockPath: '' }), { code: 'ERR_INVALID_ARG_VALUE' })
  // A missing explicit directory is created (0700).
  const nested = join(a, 'deeper', 'locks')
  assert.equal(ensureLockPath(nested), nested)
  if (posix) assert.equal(statSync(nested).mode & 0o777, 0o700)
})

test('default lock directory: $XDG_RUNTIME_DIR/locksmith when it exists', async () => {
  const runtime = tempDir()
  await withEnv({ XDG_RUNTIME_DIR: runtime, LOCKSMITH_LOCK_PATH: undefined }, async () => {
    assert.equal(effectiveLockPath(), join(runtime, 'locksmith'))
    await using held = await lock('xdg', { external: true })
    assert.equal(held.paths[0], join(runtime, 'locksmith', 'xdg'))
  })
  await withEnv({ XDG_RUNTIME_DIR: join(runtime, 'missing'), TMPDIR: runtime, TMP: runtime, TEMP: runtime, LOCKSMITH_LOCK_PATH: undefined }, () => {
    assert.ok(effectiveLockPath().startsWith(join(runtime, 'locksmith-')), effectiveLockPath())
  })
})

test('default lock directory in the temp dir: per user, created 0700 whatever the umask', { skip: !posix }, async () => {
  const tmp = tempDir()
  await withEnv({ XDG_RUNTIME_DIR: undefined, TMPDIR: tmp, LOCKSMITH_LOCK_PATH: undefined }, async () => {
    const expected = join(tmp, `locksmith-${process.getuid?.() ?? ''}`)
    assert.equal(getLockPath(), expected)
    const old = process.umask(0)
    try {
      await using held = await lock('made', { external: true })
      assert.equal(held.paths[0], join(expected, 'made'))
    } finally {
      process.umask(old)
    }
    const stats = statSync(expected)
    assert.equal(stats.mode & 0o777, 0o700)
    assert.equal(stats.uid, process.getuid?.())
  })
})

test('an unsafe default lock directory is refused with ERR_LOCK_PATH_UNSAFE', { skip: !posix }, async () => {
  const cases: Array<[string, (dir: string) => void, RegExp]> = [
    ['world-writable', (dir) => { mkdirSync(dir); chmodSync(dir, 0o777) }, /writable by everyone/],
    ['group-writable', (dir) => { mkdirSync(dir); chmodSync(dir, 0o770) }, /writable by its group/],
    ['a symlink', (dir) => { const real = dir + '-real'; mkdirSync(real, { mode: 0o700 }); symlinkSync(real, dir) }, /symbolic link/],
    ['a file', (dir) => { mkdirSync(dirname(dir), { recursive: true }); require('node:fs').writeFileSync(dir, '') }, /not a directory/]
  ]
  if (isRoot) cases.push(['owned by nobody', (dir) => { mkdirSync(dir, { mode: 0o700 }); chownSync(dir, 65534, 65534) }, /belongs to uid 65534/])
  for (const [what, make, message] of cases) {
    const tmp = tempDir()
    const dir = join(tmp, `locksmith-${process.getuid?.() ?? ''}`)
    make(dir)
    await withEnv({ XDG_RUNTIME_DIR: undefined, TMPDIR: tmp, LOCKSMITH_LOCK_PATH: undefined }, async () => {
      const check = (error: unknown): boolean => {
        assert.ok(error instanceof UnsafeLockPathError, what)
        assert.equal(error.code, 'ERR_LOCK_PATH_UNSAFE')
        assert.equal(error.path, dir)
        assert.match(error.message, message)
        return true
      }
      await assert.rejects(lock('refused', { external: true }), check)
      assert.throws(() => externalLock('refused'), check)
      // Internal locks need no directory and still work.
      ;(await lock('refused')).release()
    })
  }
  // An explicitly chosen directory is the caller's decision: not checked.
  const shared = tempDir()
  chmodSync(shared, 0o777)
  await using held = await lock('shared', { external: true, lockPath: shared })
  assert.equal(held.paths.length, 1)
})

test('setDefaultLockPath(undefined) goes back to the environment', () => {
  setDefaultLockPath('/somewhere')
  assert.equal(effectiveLockPath(), resolve('/somewhere'))
  setDefaultLockPath(undefined)
  assert.notEqual(effectiveLockPath(), resolve('/somewhere'))
})
