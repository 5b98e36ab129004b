#!/usr/bin/env bash
# Runs schedkit end to end on a real sched_ext kernel: installs what it needs, builds the agent
# and the test schedulers, boots a Debian sched_ext kernel in qemu, runs the standalone agent on
# a policy with a healthy scheduler, then switches the policy to one the kernel's watchdog
# ejects, and shows the agent detecting and reporting the fallback.
#   ./hack/demo.sh [--kernel 6.16|6.18|6.19]
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

kernel=6.18
while [ $# -gt 0 ]; do
  case $1 in
    --kernel) kernel=$2; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

SCHEDKIT_DEPS=all "$SCHEDKIT_ROOT/hack/deps.sh"
build=${SCHEDKIT_BUILD:-$SCHEDKIT_ROOT/build/demo}
mkdir -p "$build"
log "building schedkit-agent and the test schedulers in $build (first time: a few minutes)"
cmake -S "$SCHEDKIT_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSCHEDKIT_BUILD_BPF=ON -DSCHEDKIT_BUILD_TESTS=OFF >"$build/schedkit-configure.log" 2>&1 ||
  { cat "$build/schedkit-configure.log"; die "cmake configure failed"; }
cmake --build "$build" -j "$(nproc)" --target schedkit-agent testsched_objects \
  >"$build/schedkit-build.log" 2>&1 || { tail -40 "$build/schedkit-build.log"; die "build failed"; }

objs=()
for s in fifo stall; do
  objs+=(--file "$build/bpf/testsched/testsched_$s.bpf.o:/opt/schedkit/testsched/$s.bpf.o")
done
log "booting Debian's $kernel sched_ext kernel in qemu (TCG, ~10 s)"
out=$("$SCHEDKIT_ROOT/hack/vm/run.sh" --kernel "$kernel" --timeout 180 -v \
  --bin "$build/agent/schedkit-agent" --bin "$(command -v jq)" "${objs[@]}" \
  -- "$SCHEDKIT_ROOT/hack/demo/standalone.sh")
[ "$(echo "$out" | tail -1)" = FallenBack ] || die "the demo did not reach FallenBack"
log "done"
