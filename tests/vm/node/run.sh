#!/usr/bin/env bash
# Host half of the VM node tests: the sched_ext VM becomes a real Kubernetes node, and schedkit is
# installed on it the way a cluster admin installs it.
#   tests/vm/node/run.sh BUILD_DIR FIFO_OBJECT RUNNER [hack/vm/run.sh options]
#
# On the host: a dedicated test environment (hack/testenv/up.sh --controllers: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler; never the shared integration fixture),
# a plain-HTTP registry with the agent, operator and pause images (hack/images.sh), and the
# node's kubelet credentials (system:node:NODE, group system:nodes) from the testenv PKI. In the VM
# (tests/vm/guest/node_ready.sh): containerd, runc and the CNI plugins from Debian bookworm
# (hack/vm/fetch-node.sh) and the kubelet built with the control plane (hack/testenv/build-kube.sh).
# Then, from the host: the node registers and turns Ready; `helm install` of helm/schedkit with the
# images from the registry as the guest sees it (10.0.2.2:PORT) and the API server's address in
# kubernetesService (there is no kube-proxy); the agent's DaemonSet pod runs on the node; a
# SchedulerPolicy naming a hostPath test scheduler → the node's SchedulerNodeState is Running with
# the scheduler's ops name, and the operator marks the policy Ready. Then the policy switches to a
# binary scheduler (schedkit-testsched-runner, hostPath) that the agent runs under crun from its
# image, as a detached container outside the pod's cgroup. The guest finally checks the kernel and
# the process itself (sched_ext enabled, root/ops, the scheduler's cgroup), and the VM's exit
# status is the test's.
#
# Environment: SCHEDKIT_VM_NODE_WORK (default BUILD_DIR/vm-node-work), SCHEDKIT_VM_NODE_TESTENV
# (default BUILD_DIR/testenv-node), SCHEDKIT_VM_NODE_TIMEOUT (seconds for each wait, default 900),
# SCHEDKIT_IMAGES_SH (default hack/images.sh), SCHEDKIT_VM_NODE_KEEP=1 leaves the control plane and
# the registry running afterwards, SCHEDKIT_VM_NODE_SHELL=PORT opens a root shell into the guest on
# the host's 127.0.0.1:PORT while the test runs (`busybox nc 127.0.0.1 PORT`; debugging only).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
# free_port, and the schedkit cache; the functions below replace its log.
source "$root/hack/testenv/lib.sh"
[ $# -ge 3 ] || { sed -n '2,4s/^# \{0,1\}//p' "$0" >&2; exit 125; }
build=$(cd "$1" && pwd) fifo=$2 runner=$3
shift 3
[ -f "$fifo" ] || { echo "no test scheduler object $fifo" >&2; exit 125; }
[ -x "$runner" ] || { echo "no schedkit-testsched-runner at $runner" >&2; exit 125; }

node=schedkit-vm-node
pool=vm-node
ns=schedkit-system
policy=vm-node-fifo
ops=fifo_test
work=${SCHEDKIT_VM_NODE_WORK:-$build/vm-node-work}
tenv=${SCHEDKIT_VM_NODE_TESTENV:-$build/testenv-node}
reg=$tenv-registry
wait_s=${SCHEDKIT_VM_NODE_TIMEOUT:-900}
images_sh=${SCHEDKIT_IMAGES_SH:-$root/hack/images.sh}

log() { printf '[vm-node %s] %s\n' "$(date +%T)" "$*" >&2; }
now() { echo "$EPOCHREALTIME"; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
timings=()
mark() { timings+=("$1: $2 s"); log "$1: $2 s"; }

rm -rf "$work"
mkdir -p "$work/control" "$work/helm"
vm_pid='' httpd_pid='' verdict_sent=''
cleanup() {
  local rc=$?
  [ -n "$verdict_sent" ] || echo "fail the host script stopped (exit $rc)" >"$work/control/verdict"
  if [ -n "$vm_pid" ] && kill -0 "$vm_pid" 2>/dev/null; then
    # The guest reads the verdict within seconds and powers off; then make sure.
    for _ in $(seq 1 60); do kill -0 "$vm_pid" 2>/dev/null || break; sleep 1; done
    kill "$vm_pid" 2>/dev/null || true
    wait "$vm_pid" 2>/dev/null || true
  fi
  [ -z "$httpd_pid" ] || kill "$httpd_pid" 2>/dev/null || true
  if [ "${SCHEDKIT_VM_NODE_KEEP:-}" != 1 ]; then
    "$root/hack/testenv/down.sh" --dir "$tenv" >/dev/null 2>&1 || true
    "$root/hack/testenv/registry-down.sh" --dir "$reg" >/dev/null 2>&1 || true
  else
    log "kept: . $tenv/env; . $reg/env"
  fi
}
trap cleanup EXIT
harness() { log "error: $*"; exit 125; }

# --- the host side -------------------------------------------------------------------------------
t0=$(now)
kube_bin=$("$root/hack/testenv/build-kube.sh") || harness "hack/testenv/build-kube.sh failed"
node_bin=$("$root/hack/vm/fetch-node.sh") || harness "hack/vm/fetch-node.sh failed"
helm=$("$root/hack/helm.sh") || harness "hack/helm.sh failed"
export HELM_CACHE_HOME=$work/helm/cache HELM_CONFIG_HOME=$work/helm/config HELM_DATA_HOME=$work/helm/data
# A fresh control plane every run: no Node, pods or releases from an earlier one. The CRDs come
# from the chart, as in a real install.
"$root/hack/testenv/down.sh" --dir "$tenv" --purge >/dev/null
"$root/hack/testenv/up.sh" --dir "$tenv" --controllers --no-crds || harness "hack/testenv/up.sh failed"
# shellcheck disable=SC1091
. "$tenv/env"
export KUBECONFIG
for i in 1 2 3; do  # a free port can be taken between picking and binding it
  "$root/hack/testenv/registry-up.sh" --dir "$reg" --plain && break
  [ "$i" -lt 3 ] || harness "hack/testenv/registry-up.sh failed"
  sleep 1
done
# shellcheck disable=SC1091
. "$reg/env"
[ -x "$images_sh" ] || harness "no $images_sh (it builds and pushes the schedkit images)"
"$images_sh" --build "$build" --out "$work/images" --registry "$REGISTRY_HOST" --tag vm-node \
  >"$work/images.txt" || harness "$images_sh failed"
image() {  # NAME → the pinned reference (REPO[:TAG]@sha256:...) as the guest sees the registry
  local ref
  ref=$(awk -v n="$1" '$1 == n {print $2}' "$work/images.txt")
  [[ $ref == "$REGISTRY_HOST"/*@sha256:* ]] || harness "$images_sh printed no $1 $REGISTRY_HOST/...@sha256:DIGEST"
  echo "$REGISTRY_GUEST_HOST${ref#"$REGISTRY_HOST"}"
}
repo() {  # REPO[:TAG]@DIGEST → REPO (the chart takes the repository and the digest apart)
  local r=${1%@*}
  [[ ${r##*/} != *:* ]] || r=${r%:*}
  echo "$r"
}
agent_ref=$(image schedkit-agent) operator_ref=$(image schedkit-operator) pause_ref=$(image schedkit-pause)
log "images: $(tr '\n' ';' <"$work/images.txt")"
"$root/hack/testenv/kubeconfig.sh" --dir "$tenv" --node "$node" --guest \
  --out "$work/kubelet.kubeconfig" >/dev/null
mark "host setup (control plane with controllers, registry, images, credentials)" "$(secs "$t0")"

# The verdict channel: the guest polls http://10.0.2.2:PORT/verdict (busybox httpd on loopback).
control_port= report_port=
free_port control_port
free_port report_port  # the guest's findings: http://127.0.0.1:PORT/<name> (node_ready.sh)
busybox httpd -f -p "127.0.0.1:$control_port" -h "$work/control" &
httpd_pid=$!

# --- the VM ----------------------------------------------------------------------------------------
guest=$root/tests/vm/guest
vm_args=(--net --mem 3072 --timeout 1500
  --env "NODE_NAME=$node" --env "NODE_LABELS=schedkit.io/pool=$pool"
  --env "REGISTRY=$REGISTRY_GUEST_HOST" --env "SANDBOX_IMAGE=$pause_ref"
  --env "CONTROL=10.0.2.2:$control_port" --hostfwd "$report_port:2324"
  --file "$guest/lib.sh:/schedkit/tests/lib.sh" --file "$guest/node_lib.sh:/schedkit/tests/node_lib.sh"
  --file "$work/kubelet.kubeconfig:/etc/kubernetes/kubelet.kubeconfig"
  --file "$TESTENV_CA:/etc/kubernetes/pki/ca.crt"
  --file "$fifo:/usr/lib/schedkit/testsched/fifo.bpf.o"
  --file "$runner:/usr/lib/schedkit/testsched/schedkit-testsched-runner"
  --bin "$kube_bin/kubelet")
for b in containerd containerd-shim-runc-v2 runc; do vm_args+=(--bin "$node_bin/bin/$b"); done
for c in "$node_bin"/cni/*; do vm_args+=(--bin "$c:/opt/cni/bin/$(basename "$c")"); done
if [ -n "${SCHEDKIT_VM_NODE_SHELL:-}" ]; then
  vm_args+=(--hostfwd "$SCHEDKIT_VM_NODE_SHELL:2323" --env DEBUG_SHELL=2323)
  log "guest shell: busybox nc 127.0.0.1 $SCHEDKIT_VM_NODE_SHELL"
fi
t_boot=$(now)
"$root/hack/vm/run.sh" "${vm_args[@]}" "$@" -- "$guest/node_ready.sh" >"$work/vm.out" 2>"$work/vm.err" &
vm_pid=$!

k() { kubectl --request-timeout=30s "$@"; }
diagnose() {
  echo "--- nodes:"; k get nodes -o wide 2>&1
  echo "--- node $node conditions:"
  k get node "$node" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' 2>&1
  echo "--- pods:"; k get pods -A -o wide 2>&1
  echo "--- $ns pods described:"; k -n "$ns" describe pods 2>&1 | tail -80
  echo "--- events:"; k get events -A --sort-by=.lastTimestamp 2>&1 | tail -40
  echo "--- SchedulerPolicies and SchedulerNodeStates:"; k get sp,sns -o wide 2>&1
  k get sns "$node" -o yaml 2>&1 | sed -n '/^status:/,$p' | head -60
}
finish() {  # RC — tells the guest, waits for the VM, prints its output
  local rc=$1 vm_rc=0
  wait "$vm_pid" || vm_rc=$?
  vm_pid=
  echo "=== guest output:"; cat "$work/vm.out"
  [ ! -s "$work/vm.err" ] || { echo "=== hack/vm/run.sh:"; cat "$work/vm.err"; }
  echo "=== timings (TCG):"; printf '  %s\n' "${timings[@]}"
  [ "$rc" = 0 ] || exit "$rc"
  exit "$vm_rc"
}
fail() {
  log "FAIL: $*"
  diagnose >&2 || true
  echo "fail $*" >"$work/control/verdict"
  verdict_sent=1
  finish 1
}
# wait_for SECONDS WHAT COMMAND...: retries COMMAND every 2 s; fails the test if the VM is gone.
wait_for() {
  local t=$1 what=$2 deadline; shift 2
  deadline=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    kill -0 "$vm_pid" 2>/dev/null || fail "the VM stopped while waiting for $what"
    [ "$SECONDS" -lt "$deadline" ] || fail "$what: not within $t s"
    sleep 2
  done
}
jp() { k get "$@" 2>/dev/null; }
node_ready() { [ "$(jp node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
node_registered() { jp node "$node" -o name | grep -q .; }

wait_for "$wait_s" "node $node registered" node_registered
mark "VM boot → node registered" "$(secs "$t_boot")"
wait_for "$wait_s" "node $node Ready" node_ready
mark "VM boot → node Ready" "$(secs "$t_boot")"
k get node "$node" -o wide

# --- helm install, from the host -----------------------------------------------------------------
cat >"$work/values.yaml" <<YAML
# tests/vm/node/run.sh: the images from the host's registry as the node sees it, the API server's
# own address (no kube-proxy on the node), and the operator on the node's network (no pod network).
image: {repository: $(repo "$agent_ref"), digest: ${agent_ref#*@}}
logLevel: debug
kubernetesService: {host: 10.0.2.2, port: "$APISERVER_PORT"}
operator:
  replicas: 1
  hostNetwork: true
  image: {repository: $(repo "$operator_ref"), digest: ${operator_ref#*@}}
YAML
t_helm=$(now)
"$helm" install schedkit "$root/helm/schedkit" -n "$ns" --create-namespace -f "$work/values.yaml" \
  >"$work/helm-install.out" 2>&1 ||
  { cat "$work/helm-install.out" >&2; fail "helm install failed"; }
mark "helm install" "$(secs "$t_helm")"
agent_phase() {
  [ "$(jp pods -n "$ns" -l app.kubernetes.io/name=schedkit-agent --field-selector "spec.nodeName=$node" \
    -o jsonpath='{.items[*].status.phase}')" = Running ]
}
operator_running() {
  [ "$(jp pods -n "$ns" -l app.kubernetes.io/name=schedkit-operator -o jsonpath='{.items[*].status.phase}')" = Running ]
}
wait_for "$wait_s" "the agent's DaemonSet pod Running on $node" agent_phase
mark "helm install → agent pod Running" "$(secs "$t_helm")"
wait_for "$wait_s" "the operator's pod Running" operator_running
mark "helm install → operator pod Running" "$(secs "$t_helm")"
k -n "$ns" get pods -o wide

# --- a SchedulerPolicy → the scheduler runs on the node ------------------------------------------
t_policy=$(now)
k apply -f - <<YAML || fail "kubectl apply of the SchedulerPolicy failed"
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: $policy}
spec:
  scheduler: {hostPath: /usr/lib/schedkit/testsched/fifo.bpf.o}
  nodeSelector: {matchLabels: {schedkit.io/pool: $pool}}
YAML
sns_running() {
  [ "$(jp sns "$node" -o jsonpath='{.status.phase}/{.status.active.opsName}')" = "Running/$ops" ]
}
policy_ready() {
  [ "$(jp sp "$policy" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
wait_for "$wait_s" "SchedulerNodeState $node Running $ops" sns_running
mark "kubectl apply → SchedulerNodeState Running" "$(secs "$t_policy")"
wait_for "$wait_s" "SchedulerPolicy $policy Ready" policy_ready
mark "kubectl apply → SchedulerPolicy Ready" "$(secs "$t_policy")"
mark "helm install → scheduler Running and policy Ready" "$(secs "$t_helm")"
k get sp,sns -o wide
attached=$(jp sp "$policy" -o jsonpath='{.status.nodes.attached}/{.status.nodes.matched}')
[ "$attached" = 1/1 ] || fail "policy status.nodes attached/matched is '$attached', want 1/1"
echo "ok: policy $policy: attached/matched $attached"
guest_report() { curl -fsS -m 5 "http://127.0.0.1:$report_port/$1"; }
pinned() { [ "$(guest_report pinned | awk '{print $2}')" = "$ops" ]; }
wait_for 60 "the guest to see the agent's link pinned on the node's bpffs" pinned
echo "ok: the node's bpffs holds the agent's pinned link: $(guest_report pinned)"

# --- a binary scheduler: crun from the agent's image, in the node's PID and cgroup hierarchy -----
# The runner is static, so it needs nothing from the node but the object it loads. A hostPath
# binary sees the node's /usr, /bin, /sbin, /lib, /lib64 and /etc (read-only), which is why the
# test schedulers live under /usr/lib/schedkit/testsched on this node.
t_bin=$(now)
seq_before=$(jp sns "$node" -o jsonpath='{.status.active.enableSeq}')
k apply -f - <<YAML || fail "kubectl apply of the binary SchedulerPolicy failed"
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: $policy}
spec:
  scheduler:
    hostPath: /usr/lib/schedkit/testsched/schedkit-testsched-runner
    type: binary
    opsName: $ops
    args: [/usr/lib/schedkit/testsched/fifo.bpf.o]
  nodeSelector: {matchLabels: {schedkit.io/pool: $pool}}
YAML
sns_binary_running() {
  local s
  s=$(jp sns "$node" -o jsonpath='{.status.phase}/{.status.active.opsName}/{.status.active.enableSeq}/{.status.active.pid}')
  [[ $s == "Running/$ops/"* ]] && [ "$(cut -d/ -f3 <<<"$s")" != "$seq_before" ] && [ -n "$(cut -d/ -f4 <<<"$s")" ]
}
wait_for "$wait_s" "SchedulerNodeState $node Running the binary scheduler" sns_binary_running
wait_for "$wait_s" "SchedulerPolicy $policy Ready for the binary scheduler" policy_ready
pid=$(jp sns "$node" -o jsonpath='{.status.active.pid}')
mark "kubectl apply (binary) → SchedulerNodeState Running, policy Ready" "$(secs "$t_bin")"
k get sp,sns -o wide
echo "ok: binary scheduler $ops running as pid $pid on the node"

echo "pass $ops $pid" >"$work/control/verdict"
verdict_sent=1
finish 0
