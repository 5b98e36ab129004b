#!/usr/bin/env bash
# Benchmark (not a test): from `kubectl apply` of a SchedulerPolicy to the node running it, with
# the agent in a qemu sched_ext VM talking to the host's kube-apiserver, against the same attach
# in standalone mode (a policy file). Median of CYCLES (default 5) each, and the ratio.
#   bench/apply_latency.sh [--cycles 5] [--kernel 6.18]
# Needs a build with -DSCHEDKIT_BUILD_BPF=ON (SCHEDKIT_BUILD, default build/ci).
set -euo pipefail
source "$(dirname "$0")/../hack/lib/common.sh"
cycles=5 kernel=6.18
while [ $# -gt 0 ]; do
  case $1 in
    --cycles) cycles=$2; shift 2 ;;
    --kernel) kernel=$2; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
build=${SCHEDKIT_BUILD:-$SCHEDKIT_ROOT/build/ci}
kubectl_bin=$(ls /usr/lib/google-cloud-sdk/bin/kubectl.1.33 2>/dev/null || command -v kubectl)
dir=$(mktemp -d)
trap '"$SCHEDKIT_ROOT/hack/testenv/down.sh" --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
"$SCHEDKIT_ROOT/hack/testenv/up.sh" --dir "$dir" >/dev/null
out=$(SCHEDKIT_KUBE_TESTENV=$dir "$SCHEDKIT_ROOT/tests/vm/cluster/run.sh" bench-vm --kernel "$kernel" \
  --timeout $((cycles * 60 + 120)) --env "CYCLES=$cycles" \
  --bin "$build/agent/schedkit-agent" --bin "$(command -v jq)" --bin "$kubectl_bin:/usr/bin/kubectl" \
  --file "$build/bpf/testsched/testsched_fifo.bpf.o:/opt/schedkit/testsched/fifo.bpf.o" \
  -- "$SCHEDKIT_ROOT/bench/guest_apply.sh")
median() { echo "$out" | awk -v k="$1" '$1 == k {print $2}' | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
c=$(median CLUSTER) s=$(median STANDALONE)
cat <<REPORT
schedkit apply-to-running benchmark — kernel $kernel under qemu TCG, $(date -u +%F)
  cluster mode (kubectl apply in the guest → API server on the host → agent → Running):
    samples (s): $(echo "$out" | awk '$1 == "CLUSTER" {printf "%s ", $2}')  median $c s
  standalone (policy file renamed into place → Running):
    samples (s): $(echo "$out" | awk '$1 == "STANDALONE" {printf "%s ", $2}')  median $s s
  ratio cluster / standalone: $(awk -v c="$c" -v s="$s" 'BEGIN {printf "%.1f", c / s}')
REPORT
