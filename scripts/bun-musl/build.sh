#!/usr/bin/env bash
# Bun built against musl (npm registry, pinned in scripts/toolchain.js), made to
# run on this glibc x64 machine so that the musl prebuilds are loaded and
# tested: Debian's musl package gives the loader and C library (for arm64 the
# arm64 package, run by qemu-user), and the libstdc++ Bun also needs (Debian has
# none for musl) is built here from the C files beside this script with zig.
#   bash scripts/bun-musl/build.sh [x64|arm64]
# prints a directory holding `bun` (for arm64 a script running it under qemu),
# `lib/` and `preload.js`; run
#   LD_LIBRARY_PATH=<dir>/lib LIBC=musl <dir>/bun --preload <dir>/preload.js ...
# (LIBC=musl makes node-gyp-build pick prebuilds/linux-<arch>/locksmith.musl.node;
# the preload points process.execPath at <dir>/bun, for the processes tests fork).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
arch=${1:-x64}
case $arch in
  x64) triple=x86_64-linux-musl; loader=/lib/ld-musl-x86_64.so.1; packages=(musl) ;;
  arm64) triple=aarch64-linux-musl; loader=/lib/ld-musl-aarch64.so.1; packages=(musl:arm64 qemu-user-static) ;;
  *) echo "bun-musl: unknown arch $arch (x64 or arm64)" >&2; exit 2 ;;
esac

if [ ! -e "$loader" ] || { [ "$arch" = arm64 ] && ! command -v qemu-aarch64-static >/dev/null; }; then
  echo "bun-musl: installing ${packages[*]}" >&2
  if [ "$(id -u)" != 0 ]; then echo "bun-musl: need root for apt-get" >&2; exit 1; fi
  [ "$arch" = x64 ] || dpkg --add-architecture arm64
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

out=$root/.toolchain/bun-musl-$arch
bun=$(node scripts/toolchain.js "bun-linux-$arch-musl")/bin/bun
mkdir -p "$out/lib"
if [ "$arch" = x64 ]; then
  ln -sf "$bun" "$out/bun"
else
  printf '#!/bin/sh\nexec qemu-aarch64-static %s "$@"\n' "$bun" >"$out/bun"
  chmod +x "$out/bun"
fi
printf 'process.execPath = %s\n' "$(node -p "JSON.stringify('$out/bun')")" >"$out/preload.js"

# Rebuilt when its sources change.
sources=(scripts/bun-musl/*.c scripts/bun-musl/*.h scripts/bun-musl/selftest/*)
stamp=$(cat "${sources[@]}" | sha256sum | cut -c1-16)
if [ "$(cat "$out/lib/.stamp" 2>/dev/null)" != "$stamp" ]; then
  zig=$(node scripts/toolchain.js zig)/zig
  export ZIG_GLOBAL_CACHE_DIR=$root/.toolchain/zig-cache ZIG_LOCAL_CACHE_DIR=$root/.toolchain/zig-cache
  lib=$out/lib/libstdc++.so.6
  "$zig" cc -target "$triple" -shared -fPIC -O2 -fvisibility=hidden -Wall -Wextra -Werror \
    -Wl,-soname,libstdc++.so.6 -o "$lib" scripts/bun-musl/*.c >&2
  # Its own checks before Bun trusts it: std::map's tree, and dynamic_cast linked as Bun is.
  "$zig" cc -target "$triple" -O1 -Wall -Wextra -Werror -o "$out/selftest-rbtree" scripts/bun-musl/selftest/rbtree.c "$lib" >&2
  "$zig" c++ -target "$triple" -nostdlib++ -fno-exceptions -no-pie -O1 -Wall -Wextra -Werror \
    -o "$out/selftest-dynamic-cast" scripts/bun-musl/selftest/dynamic_cast.cc "$lib" >&2
  run=()
  [ "$arch" = x64 ] || run=(qemu-aarch64-static)
  LD_LIBRARY_PATH=$out/lib "${run[@]}" "$out/selftest-rbtree"
  LD_LIBRARY_PATH=$out/lib "${run[@]}" "$out/selftest-dynamic-cast"
  echo "$stamp" >"$out/lib/.stamp"
fi
echo "$out"
