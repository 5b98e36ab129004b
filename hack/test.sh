#!/usr/bin/env bash
# Installs what the tests need, builds schedkit and runs a test tier with ctest.
#   ./hack/test.sh            every tier (unit, integration, vm, scale, fuzz)
#   ./hack/test.sh unit       one tier; several may be given: ./hack/test.sh unit integration
# Environment: SCHEDKIT_BUILD (build dir, default build/ci), SCHEDKIT_CACHE (downloads and
# built tools, default ~/.cache/schedkit), CTEST_ARGS (extra ctest arguments, e.g. -R Selector).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; }
tiers=()
for a in "$@"; do
  case $a in
    unit|integration|vm|scale|fuzz) tiers+=("$a") ;;
    all) tiers=(unit integration vm scale fuzz) ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown tier \"$a\"" ;;
  esac
done
[ ${#tiers[@]} -gt 0 ] || tiers=(unit integration vm scale fuzz)

needs_vm=OFF
deps_kind=build
for t in "${tiers[@]}"; do
  [ "$t" = unit ] || deps_kind=all
  [ "$t" = vm ] && needs_vm=ON
done

start=$(date +%s)
SCHEDKIT_DEPS=$deps_kind "$SCHEDKIT_ROOT/hack/deps.sh"

build=${SCHEDKIT_BUILD:-$SCHEDKIT_ROOT/build/ci}
mkdir -p "$build"
jobs=$(nproc)
cmake -S "$SCHEDKIT_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSCHEDKIT_WERROR=ON -DSCHEDKIT_BUILD_BPF="$needs_vm" >"$build/schedkit-configure.log" 2>&1 ||
  { cat "$build/schedkit-configure.log"; die "cmake configure failed"; }
log "building in $build"
cmake --build "$build" -j "$jobs" >"$build/schedkit-build.log" 2>&1 ||
  { grep -E 'error|FAILED' -A3 "$build/schedkit-build.log" | head -80; die "build failed (full log: $build/schedkit-build.log)"; }
log "built in $(( $(date +%s) - start ))s"

# libFuzzer targets need clang and instrumented copies of the parsers: a build dir of their own,
# building only those targets.
fuzz_build=${SCHEDKIT_FUZZ_BUILD:-$SCHEDKIT_ROOT/build/fuzz}
for t in "${tiers[@]}"; do
  [ "$t" = fuzz ] || continue
  mkdir -p "$fuzz_build"
  CC=clang-19 CXX=clang++-19 cmake -S "$SCHEDKIT_ROOT" -B "$fuzz_build" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCHEDKIT_FUZZ=ON -DSCHEDKIT_BUILD_BPF=OFF \
    >"$fuzz_build/schedkit-configure.log" 2>&1 || { cat "$fuzz_build/schedkit-configure.log"; die "fuzz configure failed"; }
  cmake --build "$fuzz_build" -j "$jobs" --target fuzz_targets >"$fuzz_build/schedkit-build.log" 2>&1 ||
    { grep -E 'error|FAILED' -A3 "$fuzz_build/schedkit-build.log" | head -60; die "fuzz build failed"; }
done

rc=0
for t in "${tiers[@]}"; do
  dir=$build
  [ "$t" = fuzz ] && dir=$fuzz_build
  n=$(cd "$dir" && ctest -N -L "^$t\$" 2>/dev/null | sed -n 's/^Total Tests: //p')
  if [ "${n:-0}" = 0 ]; then
    log "tier $t: no tests registered yet"
    continue
  fi
  log "tier $t: running $n tests"
  # Passing tests are summarised by ctest at the end; print only the rest as they happen.
  # shellcheck disable=SC2086
  if ! (cd "$dir" && ctest -L "^$t\$" --output-on-failure -j "$jobs" ${CTEST_ARGS:-}) |
    { grep -vE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed' || true; }; then
    rc=1
  fi
done
log "finished in $(( $(date +%s) - start ))s"
exit $rc
