// `locksmith [options] FD`, side by side with util-linux flock(1): the form
// shell scripts use (`exec 9>file; flock -n 9 || exit 1`), exit codes, and
// exclusion in both directions, run through real shells.
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isLinux, pythonCanLock, tempDir } from './helpers'
import { BIN, TOOLS, type Tool } from './fixtures/cli-helpers'

const haveFlock = isLinux && spawnSync('flock', ['--version']).status === 0
const dir = tempDir('locksmith-cli-fd-')
let n = 0
const fresh = (): string => {
  const path = join(dir, `lock-${++n}`)
  writeFileSync(path, '')
  return path
}

const COMMAND: Record<Tool, string> = { flock: 'flock', locksmith: `'${process.execPath}' '${BIN}'` }

/** Runs a bash script; $F is the lock file, $T the tool under test, $O the other tool. */
function sh (script: string, vars: { F?: string, T?: Tool, O?: Tool } = {}): { status: number | null, stdout: string, stderr: string } {
  const prelude = [
    vars.F === undefined ? '' : `F='${vars.F}'`,
    vars.T === undefined ? '' : `T() { ${COMMAND[vars.T]} "$@"; }`,
    vars.O === undefined ? '' : `O() { ${COMMAND[vars.O]} "$@"; }`
  ].join('\n')
  const r = spawnSync('bash', ['-c', `${prelude}\n${script}`], { encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** util-linux flock(1) from outside: can it take the lock now? */
const flockFree = (path: string, shared = false): boolean => {
  const status = spawnSync('flock', [shared ? '-s' : '-x', '-n', '-E', '99', path, 'true']).status
  assert.ok(status === 0 || status === 99)
  return status === 0
}

describe('locksmith FD', { skip: !haveFlock && 'needs Linux and util-linux flock(1)' }, () => {
  const pids: number[] = []
  after(() => { for (const pid of pids) try { process.kill(pid, 'SIGKILL') } catch {} })

  for (const T of TOOLS) {
    for (const O of TOOLS) {
      it(`${T} -n 9 excludes ${O} on another descriptor, and ${T} -u 9 lets it in`, () => {
        const F = fresh()
        const r = sh(`
          exec 9>"$F"
          T -n 9 || exit 10
          ( O -n 8; echo "other $?"; O -n -E 42 8; echo "E $?"; O -w 0.2 8; echo "w $?"; O -w 0 8; echo "w0 $?"; O -s -n 8; echo "s $?" ) 8>"$F"
          T -u 9; echo "unlock $?"
          ( O -n 8; echo "after $?" ) 8>"$F"
        `, { F, T, O })
        assert.equal(r.status, 0, r.stderr)
        assert.deepEqual(r.stdout.trim().split('\n'), ['other 1', 'E 42', 'w 1', 'w0 1', 's 1', 'unlock 0', 'after 0'], r.stderr)
        assert.equal(r.stderr, '', 'conflicts and timeouts are silent without --verbose')
      })
    }

    it(`${T}: the lock belongs to the shell's open file, and outlives the tool`, () => {
      const F = fresh()
      const r = sh(`
        exec 9>"$F"
        T 9; echo "locked $?"
        flock -n "$F" true; echo "file form $?"
        ( flock -n 9; echo "same description $?" )
        exec 9>&-
        flock -n "$F" true; echo "closed $?"
      `, { F, T })
      assert.deepEqual(r.stdout.trim().split('\n'), ['locked 0', 'file form 1', 'same description 0', 'closed 0'], r.stderr)
    })

    it(`${T}: shared locks from two descriptors`, () => {
      const F = fresh()
      const r = sh('exec 9>"$F" 8>"$F"; T -s 9; echo "a $?"; T -s -n 8; echo "b $?"; T -n 7 7>"$F"; echo "x $?"', { F, T })
      assert.deepEqual(r.stdout.trim().split('\n'), ['a 0', 'b 0', 'x 1'], r.stderr)
    })
  }

  it('exit codes and messages match flock(1) for odd input', () => {
    const F = fresh()
    const cases = [
      'T 9',                  // not open: EX_DATAERR
      'T -u 9',
      'T 4000000000',         // not an int: EX_USAGE
      'T -u 9 9>"$F"',        // unlocking what nobody holds
      'T --verbose -u 9 9>"$F" | sed "s/[0-9.]* seconds/N seconds/"',
      'T -n -E 300 9 9>"$F"',
      'T -w -1 9 9>"$F"'
    ]
    for (const script of cases) {
      const results = TOOLS.map((T) => sh(script, { F, T }))
      const [flock, locksmith] = results as [ReturnType<typeof sh>, ReturnType<typeof sh>]
      if (script.includes('-w -1')) {
        assert.equal(locksmith.status, 64, 'a negative wait is a usage error (flock(1) 2.38 says 71)')
        continue
      }
      assert.equal(locksmith.status, flock.status, `${script}: ${locksmith.stderr}`)
      assert.equal(locksmith.stdout.replace(/^locksmith/gm, 'flock'), flock.stdout, script)
      assert.equal(locksmith.stderr === '', flock.stderr === '', `${script}: ${flock.stderr} / ${locksmith.stderr}`)
    }
    // Node's own descriptors (its event loop's) are not the caller's to lock.
    assert.equal(sh('T 3', { T: 'locksmith' }).status, 65)
  })

  it('--verbose reports the wait on stdout, failures on stderr, as flock(1)', () => {
    const F = fresh()
    for (const T of TOOLS) {
      const r = sh('exec 8>"$F"; flock 8; T --verbose -n 9 9>"$F"; echo "rc $?"; T --verbose -w 0.1 9 9>"$F"; flock -u 8; T --verbose 9 9>"$F"', { F, T })
      assert.match(r.stdout, /^rc 1\n(flock|locksmith): getting lock took \d+\.\d{6} seconds\n$/, T)
      assert.match(r.stderr, /: failed to get lock\n.*: timeout while waiting to get lock\n$/, T)
    }
  })

  it('a blocking wait on a descriptor runs on a native waiter thread and ends when the holder lets go', async () => {
    const F = fresh()
    const { spawn } = await import('node:child_process')
    // Its own process group: killing it also ends the sleep that inherited the lock.
    const holder = spawn('flock', [F, 'sleep', '30'], { stdio: 'ignore', detached: true })
    const holderPid = holder.pid as number
    pids.push(-holderPid)
    const started = Date.now()
    while (flockFree(F) && Date.now() - started < 5000) await new Promise((resolve) => setTimeout(resolve, 20))
    const script = spawn('bash', ['-c', `exec 9>"${F}"; ${COMMAND.locksmith} 9; echo "got $?"; sleep 30`], { stdio: ['ignore', 'pipe', 'inherit'] })
    pids.push(script.pid as number)
    let out = ''
    script.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
    // The locksmith process waits with a thread named locksmith-wait.
    let waiterThreads = 0
    for (let i = 0; i < 250 && waiterThreads === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      for (const pid of childrenOf(script.pid as number)) {
        for (const task of safeList(`/proc/${pid}/task`)) {
          if (safeRead(`/proc/${pid}/task/${task}/comm`).trim() === 'locksmith-wait') waiterThreads++
        }
      }
    }
    assert.equal(waiterThreads, 1)
    assert.equal(out, '')
    process.kill(-holderPid, 'SIGKILL')
    for (let i = 0; i < 250 && !out.includes('got'); i++) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(out, 'got 0\n')
    assert.equal(flockFree(F), false, 'the shell holds it after locksmith exited')
    script.kill('SIGKILL')
  })

  it('--fcntl: an OFD lock on the shell\'s open file, which outlives locksmith; -u with the same range unlocks', () => {
    const F = fresh()
    const r = sh(`
      exec 9<>"$F"
      T --fcntl -n 9; echo "whole $?"
      echo "ofd $(python3 "$PROBE" "$F" 37)"; echo "lockf $(python3 "$PROBE" "$F" 6)"
      flock -n "$F" true; echo "flock $?"
      T --fcntl -u 9; echo "unlock $?"
      echo "ofd after $(python3 "$PROBE" "$F" 37)"
      T --start 10 --length 5 -s 9; echo "range $?"
      echo "in range $(python3 "$PROBE" "$F" 37 12)"; echo "outside $(python3 "$PROBE" "$F" 37 20)"
      T --backend posix -n 9; echo "posix $?"
    `.replace(/\$PROBE/g, PROBE), { F, T: 'locksmith' })
    assert.deepEqual(r.stdout.trim().split('\n'),
      ['whole 0', 'ofd busy', 'lockf busy', 'flock 0', 'unlock 0', 'ofd after free', 'range 0', 'in range busy', 'outside free', 'posix 64'], r.stderr)
    assert.match(r.stderr, /posix/)
  })

  it('usage errors: -u with a command, --permissions with a descriptor', () => {
    const F = fresh()
    assert.equal(sh('T -u "$F" true', { F, T: 'locksmith' }).status, 64)
    assert.equal(sh('T --permissions 600 9 9>"$F"', { F, T: 'locksmith' }).status, 64)
    assert.equal(pythonCanLock(F, 'ofd'), true)
  })
})

// Python: try an exclusive fcntl lock (37 = F_OFD_SETLK, 6 = F_SETLK) on one byte (argv[3]) or the whole file.
const PROBE = join(dir, 'probe.py')
writeFileSync(PROBE, [
  'import fcntl, struct, sys',
  'f = open(sys.argv[1], "r+")',
  'start = int(sys.argv[3]) if len(sys.argv) > 3 else 0',
  'n = 1 if len(sys.argv) > 3 else 0',
  'try:',
  '    fcntl.fcntl(f, int(sys.argv[2]), struct.pack("hhqqi", fcntl.F_WRLCK, 0, start, n, 0))',
  '    print("free")',
  'except OSError:',
  '    print("busy")',
  ''
].join('\n'))

function safeList (path: string): string[] {
  try { return readdirSync(path) } catch { return [] }
}
function safeRead (path: string): string {
  try { return readFileSync(path, 'utf8') } catch { return '' }
}
function childrenOf (pid: number): number[] {
  const found: number[] = []
  for (const entry of safeList('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = safeRead(`/proc/${entry}/stat`)
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    if (ppid === pid) found.push(Number(entry))
  }
  return found
}
