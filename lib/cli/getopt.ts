// A getopt_long work-alike: clustered short options (-nw5), attached or
// separate arguments (-w 5, --timeout=5), unambiguous long-option prefixes
// (--time 5), `--` ending the options, and (like flock's "+" mode) option
// parsing that stops at the first operand, so a command's own options pass through.

export interface OptionSpec {
  /** The canonical name handlers receive. */
  name: string
  short?: string
  long?: string[]
  argument?: boolean
  /** Only the full spelling matches (keeps flock(1)'s own abbreviations unambiguous). */
  exact?: boolean
}

export interface ParsedOption {
  name: string
  value: string | undefined
  /** As written, for messages. */
  flag: string
}

export interface Parsed {
  options: ParsedOption[]
  operands: string[]
}

/** A mistake in the command line; the CLI prints it and exits 64. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
  /** Whether to add "Try 'locksmith --help'". */
  readonly hint: boolean
  /** The subcommand whose --help to suggest ('status', 'wrapper'), if any. */
  subcommand: string | undefined

  constructor (message: string, hint = false, subcommand?: string) {
    super(message)
    this.hint = hint
    this.subcommand = subcommand
  }
}

export function getopt (argv: readonly string[], specs: readonly OptionSpec[]): Parsed {
  const options: ParsedOption[] = []
  let i = 0
  for (; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') { i++; break }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      const written = eq < 0 ? arg.slice(2) : arg.slice(2, eq)
      const spec = findLong(specs, written)
      let value: string | undefined
      if (spec.argument === true) {
        if (eq >= 0) value = arg.slice(eq + 1)
        else if (i + 1 < argv.length) value = argv[++i]
        else throw new UsageError(`option '--${written}' requires an argument`, true)
      } else if (eq >= 0) {
        throw new UsageError(`option '--${written}' doesn't allow an argument`, true)
      }
      options.push({ name: spec.name, value, flag: `--${written}` })
      continue
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j] as string
        const spec = specs.find((s) => s.short === letter)
        if (spec === undefined) throw new UsageError(`invalid option -- '${letter}'`, true)
        if (spec.argument !== true) {
          options.push({ name: spec.name, value: undefined, flag: `-${letter}` })
          continue
        }
        let value: string
        if (j + 1 < arg.length) value = arg.slice(j + 1)
        else if (i + 1 < argv.length) value = argv[++i] as string
        else throw new UsageError(`option requires an argument -- '${letter}'`, true)
        options.push({ name: spec.name, value, flag: `-${letter}` })
        break
      }
      continue
    }
    break // the first operand ends the options
  }
  return { options, operands: argv.slice(i) }
}

function findLong (specs: readonly OptionSpec[], written: string): OptionSpec {
  const exact = specs.find((s) => s.long?.includes(written) === true)
  if (exact !== undefined) return exact
  const candidates = specs.filter((s) => s.exact !== true && s.long?.some((l) => l.startsWith(written)) === true)
  if (written.length > 0 && candidates.length === 1) return candidates[0] as OptionSpec
  if (candidates.length > 1 && written.length > 0) {
    const names = candidates.flatMap((s) => (s.long ?? []).filter((l) => l.startsWith(written))).map((l) => `'--${l}'`)
    throw new UsageError(`option '--${written}' is ambiguous; possibilities: ${names.join(' ')}`, true)
  }
  throw new UsageError(`unrecognized option '--${written}'`, true)
}
