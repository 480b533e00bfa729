// The parameter names of a function, read from its source text, so that a
// lock name template can say {vol.id} for a parameter called `vol`.

/** A parameter of a function as read from its source: a name, or null (destructured). */
export interface ParameterInfo {
  name: string | null
  rest: boolean
  hasDefault: boolean
}

const parameterCache = new WeakMap<object, ParameterInfo[] | null>()

/**
 * The parameters of `fn` read from its source text, or null when they cannot
 * be read reliably (native or bound functions, unusual syntax). Parameters up
 * to the first one that cannot be read are returned.
 */
export function parameterNames (fn: (...args: any[]) => unknown): ParameterInfo[] | null {
  let params = parameterCache.get(fn)
  if (params === undefined) {
    params = readParameters(Function.prototype.toString.call(fn))
    parameterCache.set(fn, params)
  }
  return params
}

/**
 * Reads a parameter list from function source. Handles `function f(a, b)`,
 * methods, async and generator forms, arrows with and without parentheses,
 * comments, defaults with nested brackets, strings and template literals.
 * Stops (returning what it read) at anything it cannot follow, such as a
 * regular expression in a default value.
 */
function readParameters (source: string): ParameterInfo[] | null {
  if (/\{\s*\[native code\]\s*\}\s*$/.test(source)) return null
  const head = source.replace(/^\s*async(?=[\s(])\s*/, '')
  const arrow = /^([\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*)\s*=>/u.exec(head)
  if (arrow !== null) return [{ name: arrow[1] as string, rest: false, hasDefault: false }]
  const open = findParameterList(source)
  if (open < 0) return null
  const params: ParameterInfo[] = []
  let piece = ''
  let depth = 0
  let i = open + 1
  const finish = (): boolean => {
    const text = piece.trim()
    piece = ''
    if (text === '') return true
    const rest = text.startsWith('...')
    const body = rest ? text.slice(3).trim() : text
    const name = /^([\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*)\s*(=|$)/u.exec(body)
    params.push({ name: name === null ? null : name[1] as string, rest, hasDefault: name?.[2] === '=' })
    return true
  }
  while (i < source.length) {
    const char = source[i] as string
    if (char === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2)
      if (end < 0) return params
      piece += ' '
      i = end + 2
      continue
    }
    if (char === '/' && source[i + 1] === '/') {
      const end = source.indexOf('\n', i)
      if (end < 0) return params
      piece += ' '
      i = end + 1
      continue
    }
    if (char === '/') return params // a regular expression or a division: cannot follow reliably
    if (char === '"' || char === "'" || char === '`') {
      const end = skipString(source, i)
      if (end < 0) return params
      piece += source.slice(i, end)
      i = end
      continue
    }
    if (char === '(' || char === '[' || char === '{') depth++
    if (char === ')' || char === ']' || char === '}') {
      if (depth === 0) {
        finish()
        return params
      }
      depth--
    }
    if (char === ',' && depth === 0) {
      finish()
      i++
      continue
    }
    piece += char
    i++
  }
  return params
}

/** Index of the '(' that opens the parameter list, skipping a computed method key. */
function findParameterList (source: string): number {
  let depth = 0
  for (let i = 0; i < source.length; i++) {
    const char = source[i] as string
    if (char === '"' || char === "'" || char === '`') {
      const end = skipString(source, i)
      if (end < 0) return -1
      i = end - 1
      continue
    }
    if (char === '[') depth++
    else if (char === ']') depth--
    else if (char === '(' && depth === 0) return i
    else if ((char === '{' || char === '=') && depth === 0) return -1
  }
  return -1
}

/** Index just past the string or template literal starting at `start`, or -1. */
function skipString (source: string, start: number): number {
  const quote = source[start]
  let i = start + 1
  while (i < source.length) {
    const char = source[i]
    if (char === '\\') {
      i += 2
      continue
    }
    if (char === quote) return i + 1
    if (quote === '`' && char === '$' && source[i + 1] === '{') {
      // A substitution: skip to its matching brace (strings inside are skipped too).
      let depth = 1
      i += 2
      while (i < source.length && depth > 0) {
        const inner = source[i]
        if (inner === '"' || inner === "'" || inner === '`') {
          const end = skipString(source, i)
          if (end < 0) return -1
          i = end
          continue
        }
        if (inner === '{') depth++
        else if (inner === '}') depth--
        i++
      }
      continue
    }
    i++
  }
  return -1
}
