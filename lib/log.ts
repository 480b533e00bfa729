// DEBUG-level logging: off by default and free when off (callers test `logger`
// before building a message). Switched on by NODE_DEBUG=locksmith, by
// DEBUG=locksmith or DEBUG=locksmith:* (the `debug` package's patterns) or by
// LOG_LEVEL=DEBUG. One line per event a user can see (a wait starts, a lock is
// acquired, found busy, given up on, released), never about internal parts.

/** What a log line is about, for loggers that index fields (pino, winston). */
export interface LogFields {
  /** 'waiting', 'acquired', 'busy', 'timed out', 'aborted', 'failed', 'released', or a Coordinator's event. */
  event: string
  /** The lock file. */
  path?: string
  /** Named locks: the names; the Coordinator: the lock's full name. */
  names?: readonly string[]
  mode?: 'exclusive' | 'shared'
  range?: { start: number, length: number }
  /** The `label` option. */
  label?: string
  /** How long the wait took, on 'acquired', 'timed out', 'aborted' and 'failed'. */
  waitedMs?: number
  /** How long the lock was held, on 'released'. */
  heldMs?: number
  /** Who holds it, on 'busy' (Linux, from /proc/locks). */
  heldBy?: string
  pid: number
}

/** The event that ends a failed acquire, named as Lock's log lines name it. */
export function failureEvent (error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  if (code === 'ELOCKED') return 'busy'
  if (code === 'ETIMEDOUT') return 'timed out'
  if ((error as { name?: unknown } | null)?.name === 'AbortError') return 'aborted'
  return 'failed'
}

/** Anything with pino's `debug(fields, message)`; console works too. */
export interface Logger {
  debug (fields: LogFields, message: string): void
}

function matchesNodeDebug (value: string | undefined): boolean {
  if (value === undefined) return false
  return value.split(',').some((entry) => {
    const pattern = entry.trim().toLowerCase()
    return pattern === 'locksmith' || pattern === '*' ||
      (pattern.endsWith('*') && 'locksmith'.startsWith(pattern.slice(0, -1)))
  })
}

/** The `debug` package's syntax: names separated by commas or spaces, `*` wildcards, `-name` excludes. */
function matchesDebug (value: string | undefined): boolean {
  if (value === undefined) return false
  let enabled = false
  for (const raw of value.split(/[\s,]+/)) {
    if (raw === '') continue
    const negated = raw.startsWith('-')
    const pattern = negated ? raw.slice(1) : raw
    const regex = new RegExp('^' + pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$')
    // 'locksmith' and its namespaces ('locksmith:*' as the debug package writes them).
    if (regex.test('locksmith') || regex.test('locksmith:lock')) enabled = !negated
  }
  return enabled
}

export function loggingEnabled (env: NodeJS.ProcessEnv = process.env): boolean {
  return matchesNodeDebug(env.NODE_DEBUG) || matchesDebug(env.DEBUG) ||
    env.LOG_LEVEL?.toUpperCase() === 'DEBUG'
}

/**
 * Writes `LOCKSMITH <pid> <time>: message` lines to stderr, as NODE_DEBUG
 * sections do, with an ISO time so that lines of several processes can be ordered.
 */
const stderrLogger: Logger = {
  debug (_fields: LogFields, message: string): void {
    process.stderr.write(`LOCKSMITH ${process.pid} ${new Date().toISOString()}: ${message}\n`)
  }
}

/** The logger used when none is passed: stderr if an environment switch is on, else none. */
export const defaultLogger: Logger | undefined = loggingEnabled() ? stderrLogger : undefined

/**
 * Hands a line to the logger and never throws: logging happens while locks are
 * being taken and given back (even inside a native completion), and a failing
 * logger must not leave a lock held behind an error. Its failure becomes a
 * process warning instead.
 */
export function debugLog (logger: Logger | undefined, fields: LogFields, message: string): void {
  if (logger === undefined) return
  try {
    logger.debug(fields, message)
  } catch (error) {
    process.emitWarning(`the logger threw: ${String(error)}`, { code: 'LOCKSMITH_LOGGER_FAILED' })
  }
}
