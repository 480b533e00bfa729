// `locksmith wrapper <command>`: run a command with a private, temporary lock
// directory (oslo's lockutils-wrapper), removed afterwards whatever happens.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LOCK_PATH_ENV } from '../lockpath'
import { runChild } from './child'
import { EXIT, spawnExitCode } from './exit-codes'
import { reason, warn } from './output'

export async function wrapper (command: string[]): Promise<number> {
  let dir: string
  try {
    dir = mkdtempSync(join(tmpdir(), 'locksmith-')) // created 0700, whatever the umask
  } catch (error) {
    warn(`cannot create a lock directory in ${tmpdir()}: ${reason(error)}`)
    return EXIT.CANT_CREATE
  }
  const remove = (): void => rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
  process.once('exit', remove) // also on an exception or process.exit() elsewhere
  try {
    const end = await runChild({ command, env: { ...process.env, [LOCK_PATH_ENV]: dir } })
    if (end.kind === 'failed') {
      warn(`failed to execute ${command[0] ?? ''}: ${reason(end.error)}`)
      return spawnExitCode(end.error)
    }
    return end.code
  } finally {
    remove()
    process.removeListener('exit', remove)
  }
}
