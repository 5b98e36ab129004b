# The agent in cluster mode inside the VM, talking to the host's kube-apiserver: kubectl apply a
# policy → SchedulerNodeState Running with the real ops name; a stall policy → FallenBack with
# ERROR_STALL, the kernel's reason and a FallenBack Event; kubectl delete → detached and Idle.
. /schedkit/tests/lib.sh
. /schedkit/tests/agent_lib.sh
export KUBECONFIG=/etc/schedkit/kubeconfig
N=$NODE_NAME

sns() { kubectl get sns "$N" -o jsonpath="$1" 2>/dev/null; }
sns_phase_is() { [ "$(sns '{.status.phase}')" = "$1" ]; }
wait_sns() {  # PHASE SECONDS
  wait_until "$2" sns_phase_is "$1" ||
    agent_fail "SchedulerNodeState phase did not become $1 in $2 s: $(kubectl get sns "$N" -o yaml 2>&1)"
  ok "SchedulerNodeState $N: phase $1"
}
apply() {  # NAME OBJECT EXTRA
  kubectl apply -f - >/dev/null <<YAML || agent_fail "kubectl apply failed"
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: $1}
spec:
  scheduler: {hostPath: $TESTSCHED/$2.bpf.o}
  nodeSelector: {matchLabels: {schedkit.io/pool: vm}}
$3
YAML
}

kubectl get --raw /readyz >/dev/null || fail "the guest cannot reach the API server"
ok "API server reachable from the guest"
mkdir -p "$STATE_DIR"
schedkit-agent --kubeconfig "$KUBECONFIG" --node-name "$N" --state-dir "$STATE_DIR" \
  >>"$AGENT_LOG" 2>&1 &
AGENT_PID=$!

seq0=$(enable_seq)
t0=$(uptime_s)
apply vm-fifo fifo
wait_sns Running 60
echo "apply → Running in $(since "$t0") s"
expect_eq "$(sns '{.status.active.opsName}')" fifo_test "status.active.opsName"
expect_eq "$(scx_ops)" fifo_test "root/ops in the guest"
expect_eq "$(enable_seq)" $((seq0 + 1)) "enable_seq"
kubectl get sp,sns -o wide

apply vm-fifo stall "  failurePolicy: {maxRestarts: 1, window: 10m, backoff: {initial: 1s, max: 1s}}"
wait_sns FallenBack 90
expect_eq "$(sns '{.status.lastExit.kindName}')" ERROR_STALL "status.lastExit.kindName"
expect_eq "$(sns '{.status.lastExit.reason}')" "runnable task stall" "status.lastExit.reason"
wait_until 30 sh -c "kubectl get events -n default --field-selector reason=FallenBack -o name | grep -q ." ||
  agent_fail "no FallenBack Event"
ok "FallenBack Event recorded"
kubectl get events -n default --field-selector reason=FallenBack | head -5
kubectl get sp,sns -o wide

apply vm-fifo fifo
wait_sns Running 60
kubectl delete sp vm-fifo >/dev/null
wait_sns Idle 60
expect_eq "$(scx_state)" disabled "state after kubectl delete"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true
