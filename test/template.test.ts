// portable: also run under Windows (Wine) by scripts/test-wine.sh
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  compileTemplate, formatName, nameFromCall, namesFromCall, parameterNames, TemplateFieldError, validateNameSpec
} from '../lib/template'

test('formatName: dotted, bracket, positional and Map access', () => {
  const data = { volume: { id: 'v1', host: { name: 'h' } }, snap: { name: 's1' }, list: ['a', 'b'], map: new Map([['k', 7]]) }
  assert.equal(formatName('foo-{volume.id}', data), 'foo-v1')
  assert.equal(formatName('{volume.host.name}/{snap[name]}', data), 'h/s1')
  assert.equal(formatName('{list[1]}{list.0}', data), 'ba')
  assert.equal(formatName('{map[k]}', data), '7')
  assert.equal(formatName('{0}-{1.id}', ['x', { id: 3 }]), 'x-3')
  assert.equal(formatName('{{literal}} {a}', { a: 1 }), '{literal} 1')
  assert.equal(formatName('plain', undefined), 'plain')
  assert.equal(formatName('{d}', { d: 10n }), '10')
})

test('formatName: a missing field is a TemplateFieldError naming it', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['foo-{volume.id}', { volume: {} }, /'\{volume\.id\}'.*'volume' has no property 'id'/],
    ['foo-{volume.id}', {}, /'\{volume\.id\}'.*has no 'volume'/],
    ['{snap[name]}', { snap: { other: 1 } }, /'\{snap\[name\]\}'.*no element \[name\]/],
    ['{a.b.c}', { a: { b: null } }, /'a\.b' is null/],
    ['{a}', { a: undefined }, /it is undefined/],
    ['{a}', { a: { nested: true } }, /\[object Object\]/],
    ['{a}', undefined, /has no 'a'/]
  ]
  for (const [template, data, message] of cases) {
    assert.throws(() => formatName(template, data), (error: unknown) => {
      assert.ok(error instanceof TemplateFieldError)
      assert.equal(error.code, 'ERR_LOCK_NAME_FIELD')
      assert.match(error.message, message)
      return true
    }, template)
  }
  // An object with its own toString is fine.
  assert.equal(formatName('{a}', { a: { toString: () => 'custom' } }), 'custom')
})

test('malformed templates fail when compiled, with ERR_INVALID_ARG_VALUE', () => {
  for (const template of ['a{', 'a}', '{}', '{a!r}', '{a:>10}', '{a.}', '{a[}', '{-x}', '{a{b}}']) {
    assert.throws(() => compileTemplate(template), { code: 'ERR_INVALID_ARG_VALUE' }, template)
  }
  assert.throws(() => validateNameSpec(42), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => validateNameSpec([]), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => validateNameSpec(''), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.deepEqual(compileTemplate('{f_name}-{vol.id}').fields.map((f) => f.root), ['f_name', 'vol'])
})

test('parameterNames reads the forms functions are written in', () => {
  const names = (fn: (...args: any[]) => unknown): Array<string | null> | null => parameterNames(fn)?.map((p) => p.name) ?? null
  assert.deepEqual(names(function f (a: number, b: string) { return [a, b] }), ['a', 'b'])
  assert.deepEqual(names(async (vol: unknown, snap = { x: [1, 2] }, ...rest: unknown[]) => [vol, snap, rest]), ['vol', 'snap', 'rest'])
  assert.deepEqual(names((x: unknown) => x), ['x'])
  assert.deepEqual(names(async function * gen (/* a comment, with a comma */ a: unknown, b = `t,${'x'}`) { yield [a, b] }), ['a', 'b'])
  assert.deepEqual(names(({ id }: { id: number }, second: unknown) => [id, second]), [null, 'second'])
  class C { method (one: unknown, two = ')') { return [one, two] } }
  assert.deepEqual(names(C.prototype.method), ['one', 'two'])
  assert.equal(names(Math.max), null)
  assert.equal(names(function (a: unknown) { return a }.bind(null)), null)
  // A regular expression in a default value: the names before it are still read.
  assert.deepEqual(names(function f (a: unknown, b = /,/) { return [a, b] }), ['a'])
})

test('namesFromCall: f_name, this, positions, parameter names, rest, key functions', () => {
  function attach (vol: { id: string }, snap: { name: string }, ...others: string[]): unknown { return [vol, snap, others] }
  const args: [{ id: string }, { name: string }, ...string[]] = [{ id: 'v9' }, { name: 's' }, 'x', 'y']
  assert.equal(nameFromCall('{f_name}-{vol.id}-{snap[name]}', attach, undefined, args), 'attach-v9-s')
  assert.equal(nameFromCall('{0.id}:{2}', attach, undefined, args), 'v9:x')
  assert.equal(nameFromCall('{others[1]}', attach, undefined, args), 'y')
  assert.equal(nameFromCall('{f_name}', attach, undefined, args, 'renamed'), 'renamed')
  assert.equal(nameFromCall('{this.host}', attach, { host: 'h1' }, args), 'h1')
  assert.deepEqual(namesFromCall(['b-{vol.id}', 'a-{0.id}', 'b-{vol.id}'], attach, undefined, args), ['a-v9', 'b-v9'])
  assert.deepEqual(namesFromCall(function (this: { p: string }, vol: { id: string }) { return [`${this.p}-z`, vol.id] }, attach, { p: 'P' }, args), ['P-z', 'v9'])
  assert.throws(() => nameFromCall(['a', 'b'], attach, undefined, args), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => nameFromCall(() => '', attach, undefined, args), { code: 'ERR_INVALID_ARG_VALUE' })
  assert.throws(() => nameFromCall('{nope}', attach, undefined, args), (error: unknown) =>
    error instanceof TemplateFieldError && error.field === 'nope' && /parameters are vol, snap, others/.test(error.message))
  assert.throws(() => nameFromCall('{5}', attach, undefined, args), /passed 4 argument/)
  assert.throws(() => nameFromCall('{this.x}', attach, undefined, args), /no `this`/)
  function withDefault (a = 1): number { return a }
  assert.throws(() => nameFromCall('{a}', withDefault, undefined, []), /default value is not visible/)
})
