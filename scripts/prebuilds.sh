#!/usr/bin/env bash
# Builds every prebuild into prebuilds/ (commit them) with a pinned cross
# compiler, zig from the npm registry (scripts/toolchain.js fetches it into
# .toolchain/ on first use and checks its integrity), and win32-x64 with Debian's
# mingw-w64 (installed when missing). Arguments narrow the set:
#   bash scripts/prebuilds.sh                 all eight
#   bash scripts/prebuilds.sh linux-x64 win32-x64
#
#   linux-x64, linux-arm64             glibc 2.17+, libc++ linked in (no libstdc++ needed)
#   linux-x64-musl, linux-arm64-musl   musl (Alpine): prebuilds/linux-*/locksmith.musl.node
#   darwin-x64 (macOS 10.15+), darwin-arm64 (11.0+, ad-hoc signed by the linker)
#   win32-x64                          mingw-w64 from Debian (scripts/build-win32.sh)
#   win32-arm64                        zig, mingw ABI; both with the C++ runtime linked in
#
# Each embeds the hash of the sources it was built from (scripts/source-hash.js).
# Unchanged sources give byte-identical files: build paths are mapped away, no
# timestamps, and the zig version is pinned.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

ALL=(linux-x64 linux-arm64 linux-x64-musl linux-arm64-musl darwin-x64 darwin-arm64 win32-x64 win32-arm64)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")

zig=$(node scripts/toolchain.js zig)/zig
# The compiled C++ runtimes are cached per target: the first build of a target
# takes about half a minute, later ones a few seconds.
export ZIG_GLOBAL_CACHE_DIR=$root/.toolchain/zig-cache
export ZIG_LOCAL_CACHE_DIR=$root/.toolchain/zig-cache
headers=$(node -p "require('node-api-headers').include_dir")
def=$(node -p "require('path').join(require.resolve('node-api-headers/package.json'), '..', 'def', 'node_api.def')")
addon_api=$(node -p "require('node-addon-api').include_dir")

scratch=$(mktemp -d "${TMPDIR:-/tmp}/locksmith-prebuilds-XXXXXX")
trap 'rm -rf "$scratch"' EXIT

build () {
  local name=$1 triple platform out extra=() libs=()
  case $name in
    linux-x64)        triple=x86_64-linux-gnu.2.17;  platform=linux;  out=prebuilds/linux-x64/locksmith.node ;;
    linux-arm64)      triple=aarch64-linux-gnu.2.17; platform=linux;  out=prebuilds/linux-arm64/locksmith.node ;;
    linux-x64-musl)   triple=x86_64-linux-musl;      platform=linux;  out=prebuilds/linux-x64/locksmith.musl.node ;;
    linux-arm64-musl) triple=aarch64-linux-musl;     platform=linux;  out=prebuilds/linux-arm64/locksmith.musl.node ;;
    darwin-x64)       triple=x86_64-macos.10.15;     platform=darwin; out=prebuilds/darwin-x64/locksmith.node ;;
    darwin-arm64)     triple=aarch64-macos.11.0;     platform=darwin; out=prebuilds/darwin-arm64/locksmith.node ;;
    # win32-x64 is built with mingw-w64 (Debian), the build the Wine tests have always run.
    win32-x64)        bash scripts/build-win32.sh; return ;;
    win32-arm64)      triple=aarch64-windows-gnu;    platform=win32;  out=prebuilds/win32-arm64/locksmith.node ;;
    *) echo "prebuilds: unknown target $name (one of ${ALL[*]})" >&2; return 2 ;;
  esac
  local work=$scratch/$name
  mkdir -p "$work" "$(dirname "$out")"
  case $platform in
    linux)
      extra=(-fPIC -fstack-protector-strong -s -Wl,--version-script=scripts/exports.map -Wl,--build-id=none)
      libs=(-lpthread) ;;
    darwin)
      # Node's symbols are found in the process at load time. No strip: the
      # arm64 file is ad-hoc signed by the linker and a non-Apple strip breaks that.
      extra=(-fstack-protector-strong -Wl,-undefined,dynamic_lookup -Wl,-S) ;;
    win32)
      # Node-API comes from node.exe itself, through an import library.
      local machine=i386:x86-64
      [ "$name" = win32-arm64 ] && machine=arm64
      "$zig" dlltool -m "$machine" -d "$def" -l "$work/libnode_api.a" -D node.exe
      extra=(-DUNICODE -D_UNICODE -s) # zig defines _WIN32_WINNT=0x0A00 (Windows 10)
      libs=("$work/libnode_api.a") ;;
  esac
  local hash sources
  hash=$(node scripts/source-hash.js "$platform")
  read -r -a sources <<<"$(node -p "require('./scripts/source-hash.js').sourceFiles('$platform').join(' ')")"
  "$zig" c++ -target "$triple" -shared -std=c++17 -O2 \
    -fexceptions -fvisibility=hidden -Wall -Wextra \
    -ffile-prefix-map="$root/"= -fno-ident \
    -DNAPI_VERSION=6 -DNAPI_CPP_EXCEPTIONS -DBUILDING_NODE_EXTENSION \
    "-DLOCKSMITH_SOURCE_HASH=\"$hash\"" \
    -I"$headers" -I"$addon_api" -Isrc \
    "${extra[@]}" "${sources[@]}" "${libs[@]}" \
    -o "$work/locksmith.node"
  mv -f "$work/locksmith.node" "$out"
  echo "prebuilds: $out ($triple, $(stat -c %s "$out") bytes, source hash $hash)"
}

for target in "${targets[@]}"; do
  start=$SECONDS
  build "$target"
  echo "prebuilds: $target took $((SECONDS - start)) s"
done
