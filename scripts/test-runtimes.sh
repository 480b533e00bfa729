#!/usr/bin/env bash
# The package under Bun and Deno, installed from the packed tarball as a user
# would (`npm install node-locksmith bun deno` in an empty project), and under
# Bun for musl, x64 and arm64 (scripts/bun-musl/build.sh; arm64 under
# qemu-user), which loads the musl prebuilds. The
# portable test files (first line `// portable`) are copied next to the
# installed package's dist/lib and run with each runtime's test runner
# (`bun test`, `deno test`), so they exercise the installed code and prebuild.
# Tests known to fail at times on a runtime are listed below (the README's
# Platforms section names them); any other failure fails the run.
# Arguments narrow the runtimes: `bash scripts/test-runtimes.sh bun`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

BUN=1.4.5 # also the version of the musl builds in scripts/toolchain.js
DENO=2.9.6
# Known differences, one test name per line: tolerated, not required, as some
# fail in one run and pass in the next.
BUN_EXPECTED_FAILURES=''
DENO_EXPECTED_FAILURES=''

runtimes=("$@")
[ ${#runtimes[@]} -gt 0 ] || runtimes=(bun bun-musl-x64 bun-musl-arm64 deno)

[ -f dist/test/lock.test.js ] || npm run build --silent
work=$(mktemp -d "${TMPDIR:-/tmp}/locksmith-runtimes-XXXXXX")
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
npm pack --silent --ignore-scripts --pack-destination "$work" >/dev/null
app=$work/app
mkdir -p "$app"
echo '{ "name": "app", "version": "1.0.0", "private": true }' >"$app/package.json"
(cd "$app" && npm install --silent --no-audit --no-fund "$work"/node-locksmith-*.tgz "bun@$BUN" "deno@$DENO" ioredis@5 >/dev/null)
pkg=$app/node_modules/node-locksmith
cp -r dist/test "$pkg/dist/test"

files=()
for ts in test/*.test.ts; do
  head -n 1 "$ts" | grep -q '// portable' && files+=("dist/test/$(basename "$ts" .ts).js")
done

# check NAME FAILED KNOWN: fails on a failure that is not a known difference.
check () {
  local name=$1 failed=$2 expected=$3 status=0
  while IFS= read -r test; do
    [ -z "$test" ] && continue
    if grep -qxF -- "$test" <<<"$expected"; then
      echo "test-runtimes: $name: known difference: $test"
    else
      echo "test-runtimes: $name: unexpected failure: $test" >&2; status=1
    fi
  done <"$failed"
  return "$status"
}

status=0
for runtime in "${runtimes[@]}"; do
  start=$SECONDS
  log=$work/$runtime.log
  case $runtime in
    bun|bun-musl-x64|bun-musl-arm64)
      bun=(timeout --kill-after=10 600 "$app/node_modules/.bin/bun")
      preload=()
      if [ "$runtime" != bun ]; then
        arch=${runtime#bun-musl-}
        musl=$(bash scripts/bun-musl/build.sh "$arch")
        bun=(timeout --kill-after=10 900 "$musl/bun")
        preload=(--preload "$musl/preload.js")
        export LD_LIBRARY_PATH=$musl/lib LIBC=musl
        [ "$arch" = x64 ] || export LOCKSMITH_UNDER_QEMU=1 # longer windows for timing-bound tests
        # The addon loaded must be the musl one: glibc's might load under musl's loader too.
        loaded=$(cd "$app" && "${bun[@]}" "${preload[@]}" -e 'const { Lock } = require("node-locksmith"); const lock = new Lock(process.argv[1]); lock.tryAcquire(); lock.release()
          console.log(process.arch, Object.keys(require.cache).filter((file) => file.endsWith(".node")).join(" "))' "$work/probe.lock")
        echo "test-runtimes: $runtime loads $loaded"
        [[ $loaded == "$arch "*/prebuilds/linux-$arch/locksmith.musl.node ]] || { echo "test-runtimes: $runtime did not load the musl prebuild" >&2; status=1; }
      fi
      echo "test-runtimes: $runtime $("${bun[@]}" --version): ${#files[@]} portable test files"
      (cd "$pkg" && "${bun[@]}" test "${preload[@]}" --timeout 120000 "${files[@]}") >"$log" 2>&1 || true
      grep -E '^\((pass|fail|skip)\)|^ *[0-9]+ (pass|fail)$|^Ran ' "$log" | grep -v '^(pass)' || true
      grep -oP '^\(fail\) \K.*(?= \[[0-9.]+m?s\]$)' "$log" | sed 's/^.* > //' | sort -u >"$work/$runtime.failed" || true
      grep -qE '^ *[1-9][0-9]* pass$' "$log" || { echo "test-runtimes: $runtime passed no test" >&2; tail -20 "$log" >&2; status=1; }
      check "$runtime" "$work/$runtime.failed" "$BUN_EXPECTED_FAILURES" || status=1
      unset LD_LIBRARY_PATH LIBC LOCKSMITH_UNDER_QEMU ;;
    deno)
      echo "test-runtimes: $("$app/node_modules/.bin/deno" --version | head -n 1): ${#files[@]} portable test files"
      (cd "$pkg" && NO_COLOR=1 timeout --kill-after=10 600 "$app/node_modules/.bin/deno" test -A "${files[@]}") >"$log" 2>&1 || true
      grep -E '^(ok|FAILED) \|' "$log" || true
      grep -oP '^ *\K.*(?= \.\.\. FAILED \(\d)' "$log" | grep -v '^=>' | sort -u >"$work/$runtime.failed.all" || true
      # A suite fails when one of its steps does: keep only the innermost names.
      grep -oP '^ *\K.*(?= \.\.\. FAILED \(due to)' "$log" | sort -u >"$work/$runtime.suites" || true
      grep -vxF -f "$work/$runtime.suites" "$work/$runtime.failed.all" >"$work/$runtime.failed" || true
      grep -qE '^(ok|FAILED) \| [1-9][0-9]* passed' "$log" || { echo "test-runtimes: deno passed no test" >&2; tail -20 "$log" >&2; status=1; }
      check deno "$work/$runtime.failed" "$DENO_EXPECTED_FAILURES" || status=1 ;;
    *) echo "test-runtimes: unknown runtime $runtime" >&2; exit 2 ;;
  esac
  echo "test-runtimes: $runtime took $((SECONDS - start)) s"
done
[ "$status" -eq 0 ] && echo "test-runtimes: ${#runtimes[@]} passed, 0 failed" || echo "test-runtimes: failures above" >&2
exit "$status"
