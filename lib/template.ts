// Lock names built from data: Python str.format-style templates such as
// 'foo-{volume.id}', '{snap[name]}', '{f_name}-{0.id}', or a key function.
// Pure string work; nothing here knows about files or locks, so any layer
// that names locks (named file locks, coordination backends) can share it.
// Parameter names are read from function source in lib/parameters.ts.
import { invalidArgType, invalidArgValue, TemplateFieldError } from './errors'
import { parameterNames, type ParameterInfo } from './parameters'

export { parameterNames, type ParameterInfo }

export { TemplateFieldError }

/** Computes the lock name(s) of a call from its arguments (`this` is the call's `this`). */
export type KeyFunction<A extends unknown[] = any[]> = (this: any, ...args: A) => string | readonly string[]

/** What names a lock per call: a template, several templates, or a key function. */
export type LockNameSpec<A extends unknown[] = any[]> = string | readonly string[] | KeyFunction<A>

/** One step of a field path: `.name` (property) or `[key]` (element). */
export interface FieldStep {
  kind: 'property' | 'element'
  key: string
}

/** A replacement field of a template, e.g. `{volume.id}`: root `volume`, one property step. */
export interface TemplateField {
  /** The text between the braces. */
  readonly text: string
  /** The first name: a key of the data, a parameter name, a position ('0') or 'f_name'. */
  readonly root: string
  readonly steps: readonly FieldStep[]
}

const IDENTIFIER = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u
const compiled = new Map<string, NameTemplate>()
const MAX_CACHED = 256

/** A parsed template; `format` may be called many times. */
export class NameTemplate {
  readonly source: string
  readonly fields: readonly TemplateField[]
  readonly #parts: ReadonlyArray<string | TemplateField>

  /** Parses now, so a malformed template fails where it is written (ERR_INVALID_ARG_VALUE). */
  constructor (source: string) {
    if (typeof source !== 'string') throw invalidArgType('template', 'of type string', source)
    this.source = source
    this.#parts = parse(source)
    this.fields = this.#parts.filter((part): part is TemplateField => typeof part !== 'string')
  }

  /** Whether the template has no fields (its text is the name). */
  get constant (): boolean { return this.fields.length === 0 }

  /** Fills the fields from `lookup`, which resolves a field's root name (throws if it has none). */
  formatWith (lookup: (root: string, field: TemplateField) => unknown): string {
    let name = ''
    for (const part of this.#parts) {
      name += typeof part === 'string' ? part : stringify(this.source, part, walk(this.source, part, lookup(part.root, part)))
    }
    return name
  }

  /**
   * Fills the fields from one data object: `{volume.id}` reads `data.volume.id`,
   * `{snap[name]}` reads `data.snap.name` (or `.get('name')` of a Map), `{0}`
   * reads `data[0]` of an array.
   */
  format (data?: unknown): string {
    return this.formatWith((root, field) => {
      if (data === null || data === undefined || !hasKey(data, root)) {
        throw new TemplateFieldError(this.source, field.text, `has no value: the data has no '${root}'`)
      }
      return read(data, root)
    })
  }
}

/** Parses a template (cached: templates are usually constants used over and over). */
export function compileTemplate (template: string): NameTemplate {
  let found = compiled.get(template)
  if (found === undefined) {
    found = new NameTemplate(template)
    if (compiled.size >= MAX_CACHED) compiled.delete(compiled.keys().next().value as string)
    compiled.set(template, found)
  }
  return found
}

/**
 * Formats a lock name from a template and one data object (the Cinder/tooz
 * `Lock('foo-{volume.id}', lock_data)` form).
 *
 * Fields: `{key}`, `{key.prop.prop}`, `{key[element]}` (a string key, or a
 * number for arrays; Maps are read with `get`), `{0}` for `data[0]`. `{{` and
 * `}}` are literal braces. A field that is missing, `undefined` or `null`, or
 * an object without its own `toString` (which would format as
 * '[object Object]' and make distinct objects share a lock) throws
 * TemplateFieldError (code ERR_LOCK_NAME_FIELD) naming the field.
 *
 * @example formatName('volume-{volume.id}', { volume: { id: 42 } }) // 'volume-42'
 */
export function formatName (template: string, data?: unknown): string {
  return compileTemplate(template).format(data)
}

/**
 * The lock names of one call of `fn`, sorted and without duplicates (sorted so
 * that several locks are always taken in the same order: no deadlock between
 * two callers that need the same set).
 *
 * - a template sees `{f_name}` (the function's name, or `name` if given), `{this}`
 *   and `{this.prop}`, arguments by position (`{0}`, `{1.id}`), and arguments by
 *   parameter name (`{vol.id}`) when the parameter list can be read from the
 *   function's source (simple names, defaults and `...rest`; not destructured
 *   parameters; not after minification, which renames them);
 * - an array of templates gives one name each;
 * - a key function is called with the call's `this` and arguments and returns a
 *   name or an array of names (the type-safe form).
 *
 * @param spec the template(s) or key function
 * @param fn the function being called (for `{f_name}` and parameter names)
 * @param thisArg the call's `this`
 * @param args the call's arguments
 * @param name the name `{f_name}` gives (default `fn.name`; decorators pass the method name)
 */
export function namesFromCall (
  spec: LockNameSpec, fn: (...args: any[]) => unknown, thisArg: unknown, args: readonly unknown[], name?: string
): string[] {
  let names: readonly string[]
  if (typeof spec === 'function') {
    const result: unknown = spec.apply(thisArg, args as unknown[])
    names = typeof result === 'string' ? [result] : Array.isArray(result) ? result : []
    if (names.length === 0 || names.some((n) => typeof n !== 'string' || n.length === 0)) {
      throw invalidArgValue('key function result', result, 'must be a non-empty string or a non-empty array of non-empty strings')
    }
  } else {
    const templates = typeof spec === 'string' ? [spec] : spec
    names = templates.map((template) => callTemplate(compileTemplate(template), fn, thisArg, args, name))
  }
  return [...new Set(names)].sort()
}

/**
 * The one lock name of a call (see namesFromCall); throws ERR_INVALID_ARG_VALUE
 * if the spec gives several.
 */
export function nameFromCall (
  spec: LockNameSpec, fn: (...args: any[]) => unknown, thisArg: unknown, args: readonly unknown[], name?: string
): string {
  const names = namesFromCall(spec, fn, thisArg, args, name)
  if (names.length !== 1) throw invalidArgValue('name', spec, `gives ${names.length} lock names where one is expected`)
  return names[0] as string
}

/**
 * Checks a name spec once, where it is declared: templates must parse, and
 * fields naming parameters must name parameters `fn` has (when `fn` is known).
 */
export function validateNameSpec (spec: unknown, argName = 'name'): LockNameSpec {
  if (typeof spec === 'function') return spec as KeyFunction
  const templates = typeof spec === 'string' ? [spec] : spec
  if (!Array.isArray(templates) || templates.length === 0 || templates.some((t) => typeof t !== 'string')) {
    throw invalidArgType(argName, 'a string, a non-empty array of strings or a function', spec)
  }
  for (const template of templates as string[]) {
    if (template.length === 0) throw invalidArgValue(argName, template, 'must be a non-empty string')
    compileTemplate(template)
  }
  return spec as LockNameSpec
}

function callTemplate (template: NameTemplate, fn: (...args: any[]) => unknown, thisArg: unknown, args: readonly unknown[], name?: string): string {
  if (template.constant) return template.source
  return template.formatWith((root, field) => {
    if (root === 'f_name') return name ?? fn.name
    if (root === 'this') {
      if (thisArg === undefined || thisArg === null) throw new TemplateFieldError(template.source, field.text, 'has no value: the call has no `this`')
      return thisArg
    }
    if (/^\d+$/.test(root)) {
      const index = Number(root)
      if (index >= args.length) throw new TemplateFieldError(template.source, field.text, `has no value: the call passed ${args.length} argument(s)`)
      return args[index]
    }
    const params = parameterNames(fn)
    const index = params?.findIndex((p) => p.name === root) ?? -1
    if (params === null || index < 0) {
      const known = params === null ? 'the parameter names cannot be read from the function' : `the parameters are ${params.map((p) => p.name ?? '<destructured>').join(', ') || 'none'}`
      throw new TemplateFieldError(template.source, field.text, `names no parameter (${known}); use a position like {0} or a key function`)
    }
    const param = params[index] as ParameterInfo
    if (param.rest) return args.slice(index)
    if (index >= args.length || args[index] === undefined) {
      throw new TemplateFieldError(template.source, field.text, `has no value: parameter '${root}' was not passed${param.hasDefault ? ' (its default value is not visible to templates)' : ''}`)
    }
    return args[index]
  })
}

function parse (source: string): Array<string | TemplateField> {
  const parts: Array<string | TemplateField> = []
  let literal = ''
  let i = 0
  while (i < source.length) {
    const char = source[i] as string
    if (char === '}') {
      if (source[i + 1] !== '}') throw invalidArgValue('template', source, `has a single '}' at ${i} (write '}}' for a literal brace)`)
      literal += '}'
      i += 2
      continue
    }
    if (char !== '{') {
      literal += char
      i++
      continue
    }
    if (source[i + 1] === '{') {
      literal += '{'
      i += 2
      continue
    }
    const end = source.indexOf('}', i + 1)
    if (end < 0) throw invalidArgValue('template', source, `has an unclosed '{' at ${i}`)
    if (literal !== '') parts.push(literal)
    literal = ''
    parts.push(parseField(source, source.slice(i + 1, end)))
    i = end + 1
  }
  if (literal !== '') parts.push(literal)
  return parts
}

function parseField (source: string, text: string): TemplateField {
  const bad = (reason: string): TypeError => invalidArgValue('template', source, `has a bad field '{${text}}': ${reason}`)
  if (text.includes('{')) throw bad("fields cannot nest '{'")
  if (/[!:]/.test(text.replace(/\[[^\]]*\]/g, ''))) throw bad('conversions (!r) and format specs (:>10) are not supported')
  const match = /^[^.[]+/.exec(text)
  if (match === null) throw bad('it must start with a name or a position')
  const root = match[0]
  if (!IDENTIFIER.test(root) && !/^\d+$/.test(root)) throw bad(`'${root}' is not a name or a position`)
  const steps: FieldStep[] = []
  let rest = text.slice(root.length)
  while (rest.length > 0) {
    if (rest.startsWith('.')) {
      const prop = /^\.([^.[]+)/.exec(rest)
      if (prop === null) throw bad("'.' must be followed by a property name")
      steps.push({ kind: 'property', key: prop[1] as string })
      rest = rest.slice(prop[0].length)
    } else {
      const element = /^\[([^\]]+)\]/.exec(rest)
      if (element === null) throw bad("'[' must be followed by a key and ']'")
      steps.push({ kind: 'element', key: element[1] as string })
      rest = rest.slice(element[0].length)
    }
  }
  return { text, root, steps }
}

function walk (template: string, field: TemplateField, root: unknown): unknown {
  let value = root
  let path = field.root
  for (const step of field.steps) {
    if (value === null || value === undefined) {
      throw new TemplateFieldError(template, field.text, `has no value: '${path}' is ${String(value)}`)
    }
    if (!hasKey(value, step.key)) {
      throw new TemplateFieldError(template, field.text, `has no value: '${path}' has no ${step.kind === 'property' ? `property '${step.key}'` : `element [${step.key}]`}`)
    }
    value = read(value, step.key)
    path += step.kind === 'property' ? `.${step.key}` : `[${step.key}]`
  }
  return value
}

/**
 * Own properties only, and getters of a class (a `get id()`): never members
 * inherited from Object.prototype and the like (`{a.constructor}`,
 * `{a.__proto__}`), whose text says nothing about the data.
 */
function hasKey (value: unknown, key: string): boolean {
  if (value instanceof Map) return value.has(key) || (/^\d+$/.test(key) && value.has(Number(key)))
  if (typeof value === 'string') return key === 'length' || (/^\d+$/.test(key) && Number(key) < value.length)
  if (typeof value !== 'object' && typeof value !== 'function') return false // numbers, booleans: no fields
  if (Object.hasOwn(value as object, key)) return true
  for (let proto = Object.getPrototypeOf(value); proto !== null && !BUILT_IN_PROTOTYPES.has(proto); proto = Object.getPrototypeOf(proto)) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, key)
    if (descriptor !== undefined) return descriptor.get !== undefined
  }
  return false
}

const BUILT_IN_PROTOTYPES = new Set<unknown>([Object.prototype, Function.prototype, Array.prototype, Map.prototype, Date.prototype])

function read (value: unknown, key: string): unknown {
  if (value instanceof Map) return value.has(key) ? value.get(key) : value.get(Number(key))
  return (value as Record<string, unknown>)[key]
}

function stringify (template: string, field: TemplateField, value: unknown): string {
  if (value === undefined || value === null) {
    throw new TemplateFieldError(template, field.text, `has no value: it is ${String(value)}`)
  }
  if (typeof value === 'object' && !(value instanceof Date) && !Array.isArray(value)) {
    const toString = (value as { toString?: unknown }).toString
    if (toString === Object.prototype.toString || typeof toString !== 'function') {
      throw new TemplateFieldError(template, field.text, "is an object without a toString() of its own (every such object would format as '[object Object]'); name one of its properties")
    }
  }
  if (typeof value === 'symbol') return value.description ?? ''
  return String(value)
}
