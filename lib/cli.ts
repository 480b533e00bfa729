// The `locksmith` command: a flock(1)-compatible runner, `status` and `wrapper`.
// Each subcommand's modules are required only when it runs: a quicker start,
// and --help, --version, `status` and `wrapper` work even where the native
// addon (which only the runner needs) cannot load.
/* eslint-disable @typescript-eslint/no-require-imports */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { getopt, UsageError } from './cli/getopt'
import { EXIT } from './cli/exit-codes'
import { RUN_HELP, STATUS_HELP, WRAPPER_HELP } from './cli/help'
import { PROGRAM, reason, warn } from './cli/output'
import { parseRunArgs } from './cli/run-args'
import { restoreDefaultSignals } from './cli/signals'
import type * as RunModule from './cli/run'
import type * as FdModule from './cli/fd'
import type * as StatusModule from './lock-table'
import type * as StatusFormatModule from './cli/status-format'
import type * as WrapperModule from './cli/wrapper'

function version (): string {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: string }
    return pkg.version ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

/** getopt for a subcommand: its usage errors point to its own --help. */
function subcommandOptions (subcommand: string, argv: readonly string[], specs: Parameters<typeof getopt>[1]): ReturnType<typeof getopt> {
  try {
    return getopt(argv, specs)
  } catch (error) {
    if (error instanceof UsageError) error.subcommand = subcommand
    throw error
  }
}

async function status (argv: readonly string[]): Promise<number> {
  const { options, operands } = subcommandOptions('status', argv, [
    { name: 'json', long: ['json'] },
    { name: 'help', short: 'h', long: ['help'] }
  ])
  if (options.some((o) => o.name === 'help')) {
    process.stdout.write(STATUS_HELP)
    return EXIT.OK
  }
  const json = options.some((o) => o.name === 'json')
  if (process.platform !== 'linux') {
    warn(`status reads the Linux lock table /proc/locks, which ${process.platform} does not have`)
    return EXIT.UNAVAILABLE
  }
  const { collectStatus } = require('./lock-table') as typeof StatusModule
  const { formatJson, formatTable } = require('./cli/status-format') as typeof StatusFormatModule
  let result
  try {
    result = collectStatus({ files: [...operands] })
  } catch (error) {
    warn(`cannot read the lock table /proc/locks: ${reason(error)}`)
    return EXIT.UNAVAILABLE
  }
  for (const error of result.errors) warn(`${error.path}: ${reason(error)}`)
  const width = process.stdout.isTTY ? process.stdout.columns : Infinity
  process.stdout.write(json ? formatJson(result.locks) : result.locks.length > 0 ? formatTable(result.locks, width) : '')
  if (!json) {
    // Silence would read as "nothing happened": say which files are free.
    const failed = new Set(result.errors.map((e) => e.path))
    const locked = new Set(result.locks.map((l) => l.path))
    if (operands.length === 0 && result.locks.length === 0) warn('no locks on this system')
    for (const file of operands) if (!failed.has(file) && !locked.has(file)) warn(`no locks on ${file}`)
  }
  if (result.errors.length > 0) return EXIT.NO_INPUT
  return result.locks.length > 0 ? EXIT.OK : 1
}

async function wrapper (argv: readonly string[]): Promise<number> {
  const { options, operands } = subcommandOptions('wrapper', argv, [{ name: 'help', short: 'h', long: ['help'] }])
  if (options.length > 0) {
    process.stdout.write(WRAPPER_HELP)
    return EXIT.OK
  }
  if (operands.length === 0) throw new UsageError('wrapper: no command given', true, 'wrapper')
  const { wrapper: runWrapped } = require('./cli/wrapper') as typeof WrapperModule
  return await runWrapped([...operands])
}

/** Runs the command line (without node and script) and resolves to the exit code. */
export async function main (argv: readonly string[]): Promise<number> {
  try {
    if (argv[0] === 'status') return await status(argv.slice(1))
    if (argv[0] === 'wrapper') return await wrapper(argv.slice(1))
    const request = parseRunArgs(argv)
    if ('help' in request) {
      process.stdout.write(RUN_HELP)
      return EXIT.OK
    }
    if ('version' in request) {
      process.stdout.write(`${PROGRAM} ${version()}\n`)
      return EXIT.OK
    }
    if ('fd' in request) {
      const { runFd } = require('./cli/fd') as typeof FdModule
      return await runFd(request)
    }
    const { run } = require('./cli/run') as typeof RunModule
    return await run(request)
  } catch (error) {
    if (error instanceof UsageError) {
      warn(error.message)
      if (error.hint) process.stderr.write(`Try '${PROGRAM}${error.subcommand === undefined ? '' : ` ${error.subcommand}`} --help' for more information.\n`)
      return EXIT.USAGE
    }
    warn(`internal error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`)
    return EXIT.SOFTWARE
  }
}

/** The executable's entry point. */
export function runCli (argv: readonly string[] = process.argv.slice(2)): void {
  restoreDefaultSignals() // before anything else: SIGUSR1 would open the inspector
  // Exit once stdout has taken everything (pipes are asynchronous on some systems).
  const exit = (code: number): void => { process.stdout.write('', () => process.exit(code)) }
  process.stdout.on('error', () => {}) // a reader that went away (`| head`) is not an error of ours
  main(argv).then(exit, () => exit(EXIT.SOFTWARE))
}

if (require.main === module) runCli()
