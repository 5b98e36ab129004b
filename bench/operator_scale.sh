#!/usr/bin/env bash
# The operator at fleet scale: N simulated agents (tests/scale/schedkit-fleet-sim) against the real
# kube-apiserver + etcd of hack/testenv, the real schedkit-operator, and kubectl. Prints a report:
#   - setup of N Nodes + N SchedulerNodeStates
#   - kubectl apply → every node rolled up as attached (Ready)
#   - roll-up latency after one node's fallback, and after a policy edit (p50/p99 of ROUNDS)
#   - a Canary rollout from start to Complete
#   - steady state: status/label writes and API requests per minute (target: 0 writes)
#   - the policy object's size (must not grow with the fleet), operator peak RSS and CPU
#   bench/operator_scale.sh [BUILD_DIR]       NODES=5000 ROUNDS=10 STEADY=60 (seconds)
# With CHECK=1 it also fails (exit 1) when a count is wrong (the scale test tier uses it); timing
# figures are reported, never asserted.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/ci}
nodes=${NODES:-5000} rounds=${ROUNDS:-10} steady=${STEADY:-60} check=${CHECK:-0}
sim=$build/tests/scale/schedkit-fleet-sim
op=$build/operator/schedkit-operator
[ -x "$sim" ] && [ -x "$op" ] || { echo "build $sim and $op first" >&2; exit 2; }
dir=${SCALE_TESTENV:-$build/testenv-scale}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$root/hack/testenv/down.sh" --dir "$dir" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail=0
expect() { # WHAT GOT WANT
  if [ "$2" != "$3" ]; then echo "CHECK FAILED: $1: got '$2', want '$3'"; fail=1; else echo "ok: $1 ($2)"; fi
}

# A fresh control plane each run: what an earlier run left would change the figures.
"$root/hack/testenv/down.sh" --dir "$dir" >/dev/null 2>&1 || true
rm -rf "$dir"
"$root/hack/testenv/up.sh" --dir "$dir" >"$work/up.log" 2>&1 || { cat "$work/up.log"; exit 1; }
KUBECONFIG=$(set +u; . "$dir/env"; echo "$KUBECONFIG")
export KUBECONFIG
k() { kubectl "$@"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }
jp() { k get sp scale -o "jsonpath=$1" 2>/dev/null || true; }
wait_for() { # TIMEOUT CMD... : polls every 100ms
  local end=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $end ] || return 1; sleep 0.1; done
}
pct() { sort -n | awk '{a[NR]=$1} END{p50=a[int((NR+1)/2)]; i=int(NR*0.99+0.999); if(i>NR)i=NR; printf "p50 %.2f s, p99 %.2f s, max %.2f s (n=%d)", p50, a[i], a[NR], NR}'; }

echo "== schedkit-operator at $nodes nodes ($(nproc) cores) =="
t=$(now)
"$sim" --testenv "$dir" --nodes "$nodes" --prefix scale --labels schedkit.io/pool=scale --once >"$work/setup.log" 2>&1 ||
  { tail -20 "$work/setup.log"; exit 1; }
echo "setup: $nodes Nodes + $nodes SchedulerNodeStates (Idle) in $(since "$t") s"

ctl=$work/sim.ctl
"$sim" --testenv "$dir" --nodes "$nodes" --prefix scale --labels schedkit.io/pool=scale \
  --control "$ctl" --progress 0 >"$work/sim.log" 2>&1 &
pids+=($!)
k create namespace schedkit-system >/dev/null 2>&1 || true
port=$((20000 + RANDOM % 20000))
"$op" --kubeconfig "$KUBECONFIG" --namespace schedkit-system --identity bench \
  --metrics-address "127.0.0.1:$port" --kube-api-qps 100 --kube-api-burst 200 >"$work/op.log" 2>&1 &
oppid=$!
pids+=($oppid)
metric() { curl -fsS -m 5 "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1==m {print $2}'; }
sleep 2

# --- apply → all attached ---
t=$(now)
k apply -f - >/dev/null <<'YAML'
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: scale}
spec:
  scheduler: {hostPath: /usr/lib/schedkit/fifo.bpf.o}
  nodeSelector: {matchLabels: {schedkit.io/pool: scale}}
  rollout: {strategy: Immediate}
YAML
all_attached() { [ "$(jp '{.status.nodes.attached}')" = "$nodes" ] && [ "$(jp '{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
wait_for 600 all_attached || { echo "not all attached: $(jp '{.status.nodes}')"; fail=1; }
echo "kubectl apply -> $nodes nodes attached and Ready in status: $(since "$t") s (bounded by the simulated agents' write rate)"
expect "status.nodes.matched" "$(jp '{.status.nodes.matched}')" "$nodes"

# --- roll-up after one node's fallback / recovery ---
: >"$work/fb.txt"
for i in $(seq 1 "$rounds"); do
  n=$(printf 'scale-%05d' $(( (i * 37) % nodes )))
  t=$(now)
  echo "fallback $n" >"$ctl"
  wait_for 60 sh -c "[ \"\$(kubectl get sp scale -o jsonpath='{.status.nodes.fallenBack}')\" = 1 ]" || { echo "fallback not rolled up"; fail=1; }
  since "$t" >>"$work/fb.txt"; echo >>"$work/fb.txt"
  echo "recover $n" >"$ctl"
  wait_for 60 sh -c "[ \"\$(kubectl get sp scale -o jsonpath='{.status.nodes.fallenBack}')\" = 0 ]" || { echo "recovery not rolled up"; fail=1; }
done
echo "one node falls back -> status.nodes.fallenBack: $(grep . "$work/fb.txt" | pct)"
expect "recentFallbacks capped" "$(k get sp scale -o json | jq '.status.recentFallbacks | length')" "$([ "$rounds" -lt 10 ] && echo "$rounds" || echo 10)"

# --- roll-up after a policy edit (priority: no new revision, a new generation) ---
: >"$work/edit.txt"
for i in $(seq 1 "$rounds"); do
  t=$(now)
  k patch sp scale --type merge -p "{\"spec\":{\"priority\":$i}}" >/dev/null
  gen=$(k get sp scale -o jsonpath='{.metadata.generation}')
  wait_for 60 sh -c "[ \"\$(kubectl get sp scale -o jsonpath='{.status.observedGeneration}')\" = $gen ]" || fail=1
  since "$t" >>"$work/edit.txt"; echo >>"$work/edit.txt"
done
echo "policy edit -> status.observedGeneration: $(grep . "$work/edit.txt" | pct)"

# --- a Canary rollout of a new revision, start to Complete ---
t=$(now)
# One snapshot per check: fields read one by one can straddle the operator's write.
complete() {
  k get sp scale -o json | jq -e '.status.rollout.phase == "Complete" and .status.observedGeneration == .metadata.generation
    and .status.rollout.revision == .status.rollout.stable.revision and .status.rollout.revision != $old' \
    --arg old "$1" >/dev/null
}
old_rev=$(jp '{.status.rollout.revision}')
k patch sp scale --type merge -p '{"spec":{"scheduler":{"args":["--slice-us=5000"]},"rollout":{"strategy":"Canary","canary":{"nodes":1,"bakeTime":"10s"},"maxUnavailable":"25%"}}}' >/dev/null
wait_for 900 complete "$old_rev" || { echo "canary rollout did not complete: $(jp '{.status.rollout}')"; fail=1; }
echo "canary (1 node, bake 10s, maxUnavailable 25%) -> Complete on $nodes nodes: $(since "$t") s"
expect "attached after the canary rollout" "$(jp '{.status.nodes.attached}')" "$nodes"
expect "kstatus after the rollout" "$(k get sp scale -o json | "$root/hack/kstatus.sh" | awk '{print $2}')" Current

# --- steady state (once the labels have caught up) ---
labels_done() { [ "$(metric schedkit_operator_node_label_writes_pending)" = 0 ] && [ "$(k get nodes -l schedkit.io/pool=scale,schedkit.io/scheduler-ready=true -o name | wc -l)" = "$nodes" ]; }
t=$(now)
wait_for 900 labels_done || { echo "labels did not catch up"; fail=1; }
echo "node labels caught up $(since "$t") s after the rollout completed"
sleep 5
w0=$(metric 'schedkit_operator_status_writes_total{result="ok"}'); l0=$(metric 'schedkit_operator_node_label_writes_total{result="ok"}'); r0=$(metric schedkit_operator_api_requests_total)
sleep "$steady"
w1=$(metric 'schedkit_operator_status_writes_total{result="ok"}'); l1=$(metric 'schedkit_operator_node_label_writes_total{result="ok"}'); r1=$(metric schedkit_operator_api_requests_total)
per_min() { awk -v a="$1" -v b="$2" -v s="$steady" 'BEGIN{printf "%.1f", (b-a)*60/s}'; }
echo "steady state over ${steady}s: status writes/min $(per_min "$w0" "$w1"), label writes/min $(per_min "$l0" "$l1"), API requests/min $(per_min "$r0" "$r1")"
expect "status writes in steady state" "$(awk -v a="$w0" -v b="$w1" 'BEGIN{print b-a}')" 0
expect "label writes in steady state" "$(awk -v a="$l0" -v b="$l1" 'BEGIN{print b-a}')" 0
echo "node labels written in all: $l1"
expect "nodes labelled ready" "$(k get nodes -l schedkit.io/pool=scale,schedkit.io/scheduler-ready=true -o name | wc -l)" "$nodes"

size=$(k get sp scale -o json | jq -c 'del(.metadata.managedFields)' | wc -c)
echo "policy object: $size bytes (without managedFields), status.rollout $(k get sp scale -o json | jq -c .status.rollout | wc -c) bytes"
rss=$(awk '/VmHWM/ {print $2}' "/proc/$oppid/status")
read -r ut st < <(awk '{print $14, $15}' "/proc/$oppid/stat")
echo "operator: peak RSS $((rss / 1024)) MiB, CPU $(awk -v u="$ut" -v s="$st" -v h="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", (u+s)/h}') s in all, passes $(metric schedkit_operator_reconcile_passes_total), last pass $(metric schedkit_operator_reconcile_pass_seconds) s"
if grep -q '"level":"error"\| error ' "$work/op.log"; then echo "operator logged errors:"; grep -m5 'error' "$work/op.log"; fi
[ "$check" = 1 ] && exit $fail
exit 0
