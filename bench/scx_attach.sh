#!/usr/bin/env bash
# Benchmark (not a test): a real scx_lavd image, from a policy file landing to the agent reporting
# Running, against starting the same binary by hand in the same VM (until the kernel reports it
# enabled). Median of CYCLES (default 5) each and the ratio; then the agent's CPU and RSS while
# scx_lavd runs and the agent idles, over IDLE seconds (default 60), with /metrics scraped every
# 15 s as a Prometheus would (scx_stats read at each scrape).
#   bench/scx_attach.sh [--cycles 5] [--idle 60] [--kernel 6.18]
# Needs a build with -DSCHEDKIT_BUILD_BPF=ON and crun (SCHEDKIT_BUILD, default build/ci).
set -euo pipefail
source "$(dirname "$0")/../hack/lib/common.sh"
cycles=5 idle=60 kernel=6.18
while [ $# -gt 0 ]; do
  case $1 in
    --cycles) cycles=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --kernel) kernel=$2; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
build=${SCHEDKIT_BUILD:-$SCHEDKIT_ROOT/build/ci}
work=$(mktemp -d)
trap '"$SCHEDKIT_ROOT/hack/testenv/registry-down.sh" --dir "$work/registry" --purge >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$SCHEDKIT_ROOT/hack/testenv/registry-up.sh" --dir "$work/registry" --plain >/dev/null
# shellcheck disable=SC1091
. "$work/registry/env"
"$SCHEDKIT_ROOT/hack/scx-images.sh" --schedkitctl "$build/cli/schedkitctl" --out "$work/layouts" \
  --push "$REGISTRY_HOST/scx" scx_lavd >/dev/null
version=$("$SCHEDKIT_ROOT/hack/scx.sh" --print-version)
lavd=$("$SCHEDKIT_ROOT/hack/scx.sh" scx_lavd | cut -d' ' -f2)
out=$("$SCHEDKIT_ROOT/hack/vm/run.sh" --kernel "$kernel" --net --timeout $((cycles * 200 + idle + 300)) \
  --env "CYCLES=$cycles" --env "IDLE=$idle" --env "REGISTRY=$REGISTRY_GUEST_HOST" \
  --env "IMAGE=$REGISTRY_GUEST_HOST/scx/scx_lavd:$version" \
  --bin "$build/agent/schedkit-agent" --bin "$(command -v jq)" --bin "$(command -v crun)" \
  --bin "$lavd" -- "$SCHEDKIT_ROOT/bench/guest_scx.sh") || { echo "$out"; die "the guest failed"; }
median() { echo "$out" | awk -v k="$1" '$1 == k {print $2}' | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
a=$(median AGENT) h=$(median HAND)
val() { echo "$out" | awk -v k="$1" '$1 == k {print $2}'; }
cat <<REPORT
schedkit real-scheduler benchmark — scx_lavd $version, kernel $kernel under qemu TCG (2 vCPUs), $(date -u +%F)
  first pull + attach (policy file → Running, image not cached): $(val FIRST) s
  agent (policy file → Running, image cached; crun, attach confirmed by enable_seq):
    samples (s): $(echo "$out" | awk '$1 == "AGENT" {printf "%s ", $2}')  median $a s
  by hand (scx_lavd & → /sys/kernel/sched_ext/state enabled):
    samples (s): $(echo "$out" | awk '$1 == "HAND" {printf "%s ", $2}')  median $h s
  ratio agent / by hand: $(awk -v a="$a" -v h="$h" 'BEGIN {printf "%.2f", a / h}')
  agent idle while scx_lavd runs, over $(val IDLE_S) s with a scrape every 15 s:
    CPU $(val IDLE_CPU_MS) ms ($(val IDLE_CPU_PCT) % of one CPU), RSS $(val RSS_KB) kB (peak $(val HWM_KB) kB)
    one /metrics scrape with scx_stats: $(val SCRAPE_BYTES) bytes, $(val SCX_SAMPLES) schedkit_scx_* samples
REPORT
