#!/usr/bin/env bash
# Benchmark (not a test): what the run-queue latency probe (bpf/telemetry/runqlat.bpf.c, loaded
# by the agent for spec.health.runqueueLatency) costs a context-switch-heavy load. Boots a
# sched_ext kernel in qemu (TCG), runs the agent with fifo_test, and times two processes
# ping-ponging one byte over a pair of pipes (ITERS round trips, every one two wakeups and two
# switches), ROUNDS times each without and with the probe attached, alternating. Reports the
# median time per round trip of each and their ratio.
#   bench/runqlat_overhead.sh [--kernel 6.18] [--iters 20000] [--rounds 5]
# Needs a build with -DSCHEDKIT_BUILD_BPF=ON (SCHEDKIT_BUILD, default build/ci) and a C compiler.
set -euo pipefail
source "$(dirname "$0")/../hack/lib/common.sh"
kernel=6.18 iters=20000 rounds=5
while [ $# -gt 0 ]; do
  case $1 in
    --kernel) kernel=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
build=${SCHEDKIT_BUILD:-$SCHEDKIT_ROOT/build/ci}
for f in agent/schedkit-agent bpf/testsched/testsched_fifo.bpf.o; do
  [ -e "$build/$f" ] || die "$build/$f missing: build with -DSCHEDKIT_BUILD_BPF=ON first"
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The load: parent and child bounce a byte ITERS times; prints nanoseconds per round trip.
cat >"$work/pingpong.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  long iters = argc > 1 ? atol(argv[1]) : 10000;
  int ab[2], ba[2];
  char c = 0;
  if (pipe(ab) || pipe(ba)) return 1;
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    for (long i = 0; i < iters; i++) {
      if (read(ab[0], &c, 1) != 1 || write(ba[1], &c, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < iters; i++) {
    if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1) return 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  waitpid(pid, NULL, 0);
  double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
  printf("%.0f\n", ns / iters);
  return 0;
}
C
${CC:-cc} -O2 -static -o "$work/pingpong" "$work/pingpong.c" || die "cannot compile the ping-pong load"

out=$("$SCHEDKIT_ROOT/hack/vm/run.sh" --kernel "$kernel" --timeout $((rounds * 2 * (iters / 500 + 20) + 120)) \
  --bin "$build/agent/schedkit-agent" --bin "$(command -v jq)" --bin "$work/pingpong:/usr/bin/pingpong" \
  --file "$build/bpf/testsched/testsched_fifo.bpf.o:/opt/schedkit/testsched/fifo.bpf.o" \
  --env "ITERS=$iters" --env "ROUNDS=$rounds" -- "$SCHEDKIT_ROOT/bench/guest_runqlat.sh")
echo "$out" | grep -E '^(ERROR|WARN)' >&2 || true
med() { echo "$out" | awk -v k="$1" '$1 == k {print $2}' | sort -n | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]}'; }
off=$(med RTT_OFF_NS) on=$(med RTT_ON_NS)
[ -n "$off" ] && [ -n "$on" ] || { echo "$out" >&2; die "no measurements"; }
cat <<REPORT
schedkit run-queue latency probe overhead — kernel $kernel under qemu TCG (2 vCPUs), fifo_test, $(date -u +%F)
  load:                      pipe ping-pong, $iters round trips (2 wakeups + 2 context switches each), $rounds rounds each
  without the probe (ns/RT): median $off   all: $(echo "$out" | awk '$1 == "RTT_OFF_NS" {printf "%s ", $2}')
  with the probe (ns/RT):    median $on   all: $(echo "$out" | awk '$1 == "RTT_ON_NS" {printf "%s ", $2}')
  ratio with/without:        $(awk -v a="$on" -v b="$off" 'BEGIN {printf "%.3f", a / b}')
  samples the probe counted: $(echo "$out" | awk '$1 == "PROBE_COUNT" {print $2}')
REPORT
