#!/usr/bin/env bash
# Bun built against musl (npm registry, pinned in scripts/toolchain.js), made to
# run on this glibc machine so that the musl prebuilds are loaded and tested:
# Debian's musl package gives the loader and C library, and the libstdc++ Bun
# also needs (Debian has none for musl) is built here from the C files beside
# this script with zig. Prints a directory holding `bun` and `lib/`; run
# `LD_LIBRARY_PATH=<dir>/lib LIBC=musl <dir>/bun ...` (LIBC=musl makes
# node-gyp-build pick prebuilds/linux-x64/locksmith.musl.node).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

if [ ! -e /lib/ld-musl-x86_64.so.1 ]; then
  echo "bun-musl: installing Debian's musl" >&2
  if [ "$(id -u)" != 0 ]; then echo "bun-musl: need root for apt-get" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends musl >/dev/null
fi

out=$root/.toolchain/bun-musl
bun=$(node scripts/toolchain.js bun-linux-x64-musl)/bin/bun
mkdir -p "$out/lib"
ln -sf "$bun" "$out/bun"

# Rebuilt when its sources change.
sources=(scripts/bun-musl/*.c scripts/bun-musl/*.h scripts/bun-musl/selftest/*)
stamp=$(cat "${sources[@]}" | sha256sum | cut -c1-16)
if [ "$(cat "$out/lib/.stamp" 2>/dev/null)" != "$stamp" ]; then
  zig=$(node scripts/toolchain.js zig)/zig
  export ZIG_GLOBAL_CACHE_DIR=$root/.toolchain/zig-cache ZIG_LOCAL_CACHE_DIR=$root/.toolchain/zig-cache
  lib=$out/lib/libstdc++.so.6
  "$zig" cc -target x86_64-linux-musl -shared -fPIC -O2 -fvisibility=hidden -Wall -Wextra -Werror \
    -Wl,-soname,libstdc++.so.6 -o "$lib" scripts/bun-musl/*.c >&2
  # Its own checks before Bun trusts it: std::map's tree, and dynamic_cast linked as Bun is.
  "$zig" cc -target x86_64-linux-musl -O1 -Wall -Wextra -Werror -o "$out/selftest-rbtree" scripts/bun-musl/selftest/rbtree.c "$lib" >&2
  "$zig" c++ -target x86_64-linux-musl -nostdlib++ -fno-exceptions -no-pie -O1 -Wall -Wextra -Werror \
    -o "$out/selftest-dynamic-cast" scripts/bun-musl/selftest/dynamic_cast.cc "$lib" >&2
  LD_LIBRARY_PATH=$out/lib "$out/selftest-rbtree"
  LD_LIBRARY_PATH=$out/lib "$out/selftest-dynamic-cast"
  echo "$stamp" >"$out/lib/.stamp"
fi
echo "$out"
