#!/usr/bin/env bash
# Benchmark (not a test): how fast the agent detects a kernel ejection, and what it costs idle.
# Boots a sched_ext kernel in qemu (TCG), makes the kernel's watchdog eject stall_test CYCLES
# times (the agent restarts it after 1 s each time), and reports the latency from the kernel's
# kmsg timestamp to the agent's node-state update: p50/p90/p99/max. Then keeps fifo_test attached
# for IDLE_S seconds and reports the agent's CPU use and RSS.
#   bench/fallback_latency.sh [--kernel 6.18] [--cycles 22] [--idle 60]
# Needs a build with -DSCHEDKIT_BUILD_BPF=ON (SCHEDKIT_BUILD, default build/ci).
set -euo pipefail
source "$(dirname "$0")/../hack/lib/common.sh"
kernel=6.18 cycles=22 idle=60
while [ $# -gt 0 ]; do
  case $1 in
    --kernel) kernel=$2; shift 2 ;;
    --cycles) cycles=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
build=${SCHEDKIT_BUILD:-$SCHEDKIT_ROOT/build/ci}
for f in agent/schedkit-agent bpf/testsched/testsched_stall.bpf.o bpf/testsched/testsched_fifo.bpf.o; do
  [ -e "$build/$f" ] || die "$build/$f missing: build with -DSCHEDKIT_BUILD_BPF=ON first"
done
out=$("$SCHEDKIT_ROOT/hack/vm/run.sh" --kernel "$kernel" --timeout $((cycles * 8 + idle + 120)) \
  --bin "$build/agent/schedkit-agent" --bin "$(command -v jq)" \
  --file "$build/bpf/testsched/testsched_stall.bpf.o:/opt/schedkit/testsched/stall.bpf.o" \
  --file "$build/bpf/testsched/testsched_fifo.bpf.o:/opt/schedkit/testsched/fifo.bpf.o" \
  --env "CYCLES=$cycles" --env "IDLE_S=$idle" -- "$SCHEDKIT_ROOT/bench/guest_fallback.sh")
val() { echo "$out" | awk -v k="$1" '$1 == k {print $2}'; }
echo "$out" | awk '$1 == "LATENCY_US" {print $2 / 1000}' | sort -n >"${TMPDIR:-/tmp}/lat.$$"
n=$(wc -l <"${TMPDIR:-/tmp}/lat.$$")
pct() { awk -v p="$1" -v n="$n" 'NR == int((n - 1) * p / 100) + 1 {printf "%.1f", $1}' "${TMPDIR:-/tmp}/lat.$$"; }
ticks=$(val IDLE_CPU_TICKS) wall=$(val IDLE_WALL_S) hz=$(val CLK_TCK)
cat <<REPORT
schedkit fallback-detection benchmark — kernel $kernel under qemu TCG (2 vCPUs), $(date -u +%F)
  ejections measured:        $n (stall_test, watchdog timeout 2 s)
  detection latency (ms):    p50 $(pct 50)   p90 $(pct 90)   p99 $(pct 99)   max $(tail -1 "${TMPDIR:-/tmp}/lat.$$")
                             (kmsg timestamp of "disabled (runnable task stall)" → node-state.json written)
  idle with fifo_test attached, ${wall}s:
    agent CPU:               $(awk -v t="$ticks" -v h="$hz" -v w="$wall" 'BEGIN {printf "%.3f%% of one CPU (%d ticks)", 100 * t / h / w, t}')
    agent RSS:               $(val VMRSS) kB (peak $(val VMHWM) kB)
REPORT
rm -f "${TMPDIR:-/tmp}/lat.$$"
