# The guest half of the VM node tests (tests/vm/node/run.sh): this VM is a Kubernetes node.
# containerd and kubelet start, the kubelet registers NODE_NAME with the host's kube-apiserver, and
# the host drives the rest (node Ready, helm install, the agent's pod, a SchedulerPolicy) with
# kubectl and helm, as a cluster admin would. The host publishes its verdict on its control port
# (CONTROL=10.0.2.2:PORT, /verdict): "pass OPS_NAME [PID]" — then this script checks that the
# kernel runs OPS_NAME (and that PID, a binary scheduler, runs outside the pods' cgroups) — or
# "fail REASON". What the guest sees on the node is published for the host the other way, as files
# in $REPORT_DIR served on guest port 2324 (run.sh forwards a host port to it): pinned = the
# struct_ops link the agent pinned on the node's bpffs, once there is one.
. /schedkit/tests/lib.sh
. /schedkit/tests/node_lib.sh

# tests/vm/node/run.sh with SCHEDKIT_VM_NODE_SHELL: a shell for whoever connects (debugging).
[ -z "${DEBUG_SHELL:-}" ] || nc -ll -p "$DEBUG_SHELL" -e /bin/sh >/dev/null 2>&1 &
REPORT_DIR=/run/node-report
mkdir -p "$REPORT_DIR"
httpd -p 2324 -h "$REPORT_DIR"
node_prepare
node_start_containerd
node_start_kubelet

# (busybox 1.35's wget segfaults with -q -T after a 200 answer: timeout(1) bounds it instead.)
verdict() { timeout 10 wget -q -O - "http://$CONTROL/verdict" 2>/dev/null; }
reported=
while :; do
  node_alive
  node_follow_pod_logs
  v=$(verdict) || v=
  case $v in
    pass*) break ;;
    fail*) node_fail "the host says: ${v#fail }" ;;
  esac
  # The DaemonSet's hostPath mounts work as deploy/daemonset.yaml says: the struct_ops link the
  # agent pinned through /host/sys/fs/bpf is on the node's bpffs (it outlives the pod).
  if [ ! -s "$REPORT_DIR/pinned" ]; then
    pin=$(ls /sys/fs/bpf/schedkit 2>/dev/null | head -1)
    if [ -n "$pin" ]; then
      ok "the agent's link is pinned on the node's bpffs: /sys/fs/bpf/schedkit/$pin (ops $(scx_ops))"
      echo "$pin $(scx_ops)" >"$REPORT_DIR/pinned"
    fi
  fi
  # One line when the kubelet has registered, for the timings.
  if [ -z "$reported" ] && grep -q 'Successfully registered node' "$KUBELET_LOG" 2>/dev/null; then
    ok "kubelet registered node $NODE_NAME (uptime $(uptime_s) s)"
    reported=1
  fi
  sleep 2
done
set -- $v
ops=$2 pid=${3:-}
ok "the host's checks passed (uptime $(uptime_s) s)"
expect_eq "$(scx_state)" enabled "sched_ext state in the guest"
expect_eq "$(scx_ops)" "$ops" "root/ops in the guest"
# The agent's state is in the node's /var/lib/schedkit (a hostPath).
grep -q "\"$ops" /var/lib/schedkit/node-state.json 2>/dev/null ||
  node_fail "the node's /var/lib/schedkit/node-state.json does not name $ops"
ok "the agent's node-state.json on the node names $ops"
if [ -n "$pid" ]; then
  kill -0 "$pid" 2>/dev/null || node_fail "the binary scheduler (pid $pid) is not running on the node"
  cg=$(cut -d: -f3 "/proc/$pid/cgroup")
  case $cg in
    /schedkit/*) ok "binary scheduler pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline")) in cgroup $cg" ;;
    *) node_fail "the binary scheduler (pid $pid) is in cgroup $cg, not under /schedkit/" ;;
  esac
fi
