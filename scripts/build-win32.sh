#!/usr/bin/env bash
# Cross-compiles the Windows x64 prebuild, prebuilds/win32-x64/locksmith.node,
# with mingw-w64 on Linux. Installs the compiler (Debian packages) when missing.
# node-gyp-build loads it on Windows; scripts/test-wine.sh tests it under Wine.
#
# Rebuilding unchanged sources gives a byte-identical file: the embedded source
# hash only depends on the sources, the PE timestamp is left out and build paths
# are mapped away.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

cxx=x86_64-w64-mingw32-g++-posix
command -v "$cxx" >/dev/null 2>&1 || cxx=x86_64-w64-mingw32-g++
dlltool=x86_64-w64-mingw32-dlltool
if ! command -v "$cxx" >/dev/null 2>&1 || ! command -v "$dlltool" >/dev/null 2>&1; then
  echo "build-win32: installing the mingw-w64 cross compiler" >&2
  if [ "$(id -u)" != 0 ]; then echo "build-win32: need root for apt-get" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    g++-mingw-w64-x86-64-posix mingw-w64-tools wine64 >/dev/null
  cxx=x86_64-w64-mingw32-g++-posix
fi

# The thread model matters: waiter.cc uses std::mutex and std::condition_variable.
# (Read into a variable first: with pipefail, grep -q closing the pipe early would fail the check.)
compiler_info=$("$cxx" -v 2>&1)
if ! grep -q 'Thread model: posix' <<<"$compiler_info"; then
  echo "build-win32: $cxx does not use the posix thread model" >&2
  exit 1
fi

headers=$(node -p "require('node-api-headers').include_dir")
def=$(node -p "require('path').join(require.resolve('node-api-headers/package.json'), '..', 'def', 'node_api.def')")
addon_api=$(node -p "require('node-addon-api').include_dir")
hash=$(node scripts/source-hash.js win32)

work=build/win32-x64
mkdir -p "$work" prebuilds/win32-x64
# The Node-API functions come from node.exe itself.
"$dlltool" -d "$def" -l "$work/libnode_api.a" -D node.exe

out=prebuilds/win32-x64/locksmith.node
"$cxx" -shared -std=c++17 -O2 -static -s \
  -Wall -Wextra -fexceptions \
  -ffile-prefix-map="$root/"= \
  -DNAPI_VERSION=6 -DNAPI_CPP_EXCEPTIONS -DBUILDING_NODE_EXTENSION \
  -D_WIN32_WINNT=0x0A00 -DUNICODE -D_UNICODE \
  "-DLOCKSMITH_SOURCE_HASH=\"$hash\"" \
  -I"$headers" -I"$addon_api" -Isrc \
  src/binding.cc src/waiter.cc src/lock_win.cc \
  "$work/libnode_api.a" \
  -Wl,--no-insert-timestamp \
  -o "$work/locksmith.node"
mv -f "$work/locksmith.node" "$out"

echo "build-win32: $out ($(stat -c %s "$out") bytes, source hash $hash)"
