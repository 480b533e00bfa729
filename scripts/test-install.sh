#!/usr/bin/env bash
# A user's install: `npm pack`, then install the tarball into an empty project
# on a machine with no working compiler (CC, CXX and make fail; npm 11 runs no
# install script anyway) and use the package through require, import, the
# `locksmith` command and TypeScript (strict, nodenext, without `types`; the
# current TypeScript and 5.x, with the oldest @types/node the README names).
# Everything lives in a temporary directory that is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

TS_CURRENT=7.0.2
TS_5=5.9.3
TYPES_NODE=20.17.0

work=$(mktemp -d "${TMPDIR:-/tmp}/locksmith-install-XXXXXX")
trap 'rm -rf "$work"' EXIT
fail () { echo "test-install: FAIL: $*" >&2; exit 1; }
pass=0
ok () { pass=$((pass + 1)); echo "test-install: ok - $*"; }

[ -f dist/esm/index.mjs ] || npm run build --silent
npm pack --silent --ignore-scripts --pack-destination "$work" >/dev/null
tarball=$(ls "$work"/node-locksmith-*.tgz)
tar -tzf "$tarball" >"$work/contents.txt"
grep -q '^package/LICENSE$' "$work/contents.txt" || fail "the tarball has no LICENSE"
for prebuild in linux-x64/locksmith.node linux-x64/locksmith.musl.node linux-arm64/locksmith.node linux-arm64/locksmith.musl.node \
  darwin-x64/locksmith.node darwin-arm64/locksmith.node win32-x64/locksmith.node win32-arm64/locksmith.node; do
  grep -q "^package/prebuilds/$prebuild\$" "$work/contents.txt" || fail "the tarball lacks prebuilds/$prebuild"
done
ok "the tarball has LICENSE and the eight prebuilds ($(du -k "$tarball" | cut -f1) kB)"

# No compiler: anything that tries to build from source fails loudly.
mkdir -p "$work/nocc"
for tool in cc gcc g++ c++ clang make; do printf '#!/bin/sh\necho "no compiler here" >&2; exit 1\n' >"$work/nocc/$tool"; chmod +x "$work/nocc/$tool"; done
export PATH=$work/nocc:$PATH CC=/bin/false CXX=/bin/false

app=$work/app
mkdir -p "$app"
cd "$app"
echo '{ "name": "app", "version": "1.0.0", "private": true }' >package.json
npm install --silent --no-audit --no-fund "$tarball" "typescript@$TS_CURRENT" "ts5@npm:typescript@$TS_5" "@types/node@$TYPES_NODE" >/dev/null 2>"$work/npm-install.log" ||
  { cat "$work/npm-install.log" >&2; fail "npm install"; }
[ ! -d node_modules/node-locksmith/build ] || fail "something was built at install time"
ok "installed without a compiler (npm $(npm --version))"

lockfile=$work/app.lock
node -e "
const { Lock, backends } = require('node-locksmith')
const lock = new Lock(process.argv[1], { blocking: false })
if (!lock.tryAcquire()) throw new Error('not acquired')
lock.release()
if (!backends.flock) throw new Error('no flock backend')
" "$lockfile"
ok "require('node-locksmith') locks"

cat >esm.mjs <<'JS'
import locksmith, { withLock, Coordinator } from 'node-locksmith'
import { createRequire } from 'node:module'
const require = createRequire(import.meta.url)
const loaded = () => Object.keys(require.cache).filter((file) => file.includes('coordination')).length
if (loaded() !== 0) throw new Error('importing loaded lib/coordination')
const result = await withLock(process.argv[2], async () => 'ran', { timeout: 1000 })
if (result !== 'ran') throw new Error('withLock')
if (locksmith.withLock !== withLock) throw new Error('default export')
const coordinator = new Coordinator('file://' + process.argv[3])
if (!(coordinator instanceof Coordinator) || loaded() === 0) throw new Error('Coordinator')
JS
node esm.mjs "$lockfile" "$work/coordination"
ok "import: named and default exports; Coordinator loads on first use"

[ "$(npx --no -- locksmith --version)" = "locksmith $(node -p "require('$root/package.json').version")" ] || fail "locksmith --version"
out=$(npx --no -- locksmith "$lockfile" -c 'echo held')
[ "$out" = held ] || fail "locksmith FILE -c: $out"
status=0
npx --no -- locksmith status --json "$lockfile" >"$work/status.json" || status=$?
[ "$status" -le 1 ] && [ "$(cat "$work/status.json")" = '[]' ] || fail "locksmith status: exit $status, $(cat "$work/status.json")"
ok "the locksmith command: --version, run a command under the lock, status"

cat >tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "strict": true, "module": "nodenext", "target": "es2022", "noEmit": true,
    "skipLibCheck": false, "noUncheckedIndexedAccess": true
  },
  "files": ["consumer.mts", "consumer.cts"]
}
JSON
cat >consumer.mts <<'TS'
import locksmith, { Lock, Coordinator, LockError, ReaderWriterLock, type LockOptions } from 'node-locksmith'
const options: LockOptions = { blocking: false }
const lock = new Lock('/tmp/x.lock', options)
const taken: boolean = lock.tryAcquire()
const coordinator: Coordinator = new locksmith.Coordinator('file:///tmp/x')
const code: string | undefined = new LockError('ELOCKED', 'busy').code
export { taken, coordinator, code, ReaderWriterLock }
TS
cat >consumer.cts <<'TS'
import locksmith = require('node-locksmith')
const lock = new locksmith.Lock('/tmp/y.lock')
export const held: boolean = lock.acquired
TS
node node_modules/typescript/bin/tsc -p . || fail "TypeScript $TS_CURRENT"
ok "TypeScript $TS_CURRENT (strict, nodenext, no types option, @types/node $TYPES_NODE)"
node node_modules/ts5/bin/tsc -p . || fail "TypeScript $TS_5"
ok "TypeScript $TS_5 (same)"

echo "test-install: $pass passed, 0 failed"
