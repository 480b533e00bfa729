// DEBUG-level logging: off by default and free when off (callers test `logger`
// before building a message). Switched on by NODE_DEBUG=locksmith, by
// DEBUG=locksmith (the `debug` package's patterns) or by LOG_LEVEL=DEBUG.

export interface Logger {
  debug (message: string, ...rest: unknown[]): void
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
    if (regex.test('locksmith')) enabled = !negated
  }
  return enabled
}

export function loggingEnabled (env: NodeJS.ProcessEnv = process.env): boolean {
  return matchesNodeDebug(env.NODE_DEBUG) || matchesDebug(env.DEBUG) ||
    env.LOG_LEVEL?.toUpperCase() === 'DEBUG'
}

/** Writes `LOCKSMITH <pid>: message` lines to stderr, as NODE_DEBUG sections do. */
const stderrLogger: Logger = {
  debug (message: string): void {
    process.stderr.write(`LOCKSMITH ${process.pid}: ${message}\n`)
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
export function debugLog (logger: Logger | undefined, message: string): void {
  if (logger === undefined) return
  try {
    logger.debug(message)
  } catch (error) {
    process.emitWarning(`the logger threw: ${String(error)}`, { code: 'LOCKSMITH_LOGGER_FAILED' })
  }
}
