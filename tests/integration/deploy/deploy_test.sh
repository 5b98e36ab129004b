#!/usr/bin/env bash
# deploy/ against a real kube-apiserver: the objects are accepted, and the agent's RBAC and
# ValidatingAdmissionPolicy hold for a real node-bound service-account token.
#   deploy_test.sh apply                  apply deploy/ (server-side); every object is there
#   deploy_test.sh access                 a token bound to a pod on node A: what it may and may not do
#   deploy_test.sh agent AGENT_BINARY     the real schedkit-agent with such a token, for a few seconds
#   deploy_test.sh operator               the operator's pod passes Pod Security "restricted"; a token
#                                         bound to it: what the operator may and may not do
#   deploy_test.sh operator-binary OPERATOR_BINARY
#                                         the real schedkit-operator with such a token: it leads, rolls
#                                         a policy out to a node and labels it, with nothing refused
# Needs SCHEDKIT_KUBE_TESTENV: a directory that hack/testenv/up.sh brought up (the kube_testenv
# ctest fixture). No kubelet or controllers run there: Nodes and Pods are plain objects that the
# test creates, which is all a pod-bound token needs.
set -euo pipefail

root=$(cd "$(dirname "$0")/../../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "--- $*"; }
[ $# -ge 1 ] || fail "usage: $0 apply | access | agent AGENT_BINARY | operator | operator-binary OPERATOR_BINARY"
[ -n "${SCHEDKIT_KUBE_TESTENV:-}" ] || fail "SCHEDKIT_KUBE_TESTENV is not set (run through ctest, or point it at a hack/testenv/up.sh --dir)"
[ -f "$SCHEDKIT_KUBE_TESTENV/env" ] || fail "no test environment at $SCHEDKIT_KUBE_TESTENV (no env file)"
# shellcheck disable=SC1091
. "$SCHEDKIT_KUBE_TESTENV/env"
command -v jq >/dev/null || fail "jq is needed (hack/deps.sh installs it)"
command -v curl >/dev/null || fail "curl is needed"
admin=$KUBECONFIG
k() { kubectl --kubeconfig "$admin" --request-timeout=30s "$@"; }
k get --raw /readyz >/dev/null || fail "the API server at $APISERVER_URL is not ready"

ns=schedkit-system
sa=schedkit-agent
op_sa=schedkit-operator
vap=schedkit-agent-own-node-state
label=schedkit.io/test=deploy-it
# A namespace that enforces Pod Security "restricted", to try the operator's pod in. It stays, like
# deploy/'s (no namespace controller would finish deleting it).
restricted_ns=deploy-it-restricted
work=$(mktemp -d "${TMPDIR:-/tmp}/schedkit-deploy-it.XXXXXX")
op_pid=  # a schedkit-operator the test started, while it runs

# Everything the test makes besides deploy/ itself, which stays applied: a namespace cannot be
# deleted here (no namespace controller finishes it), and the policy only matches this agent.
cleanup() {
  # No kubelet confirms a graceful delete: force it.
  k -n "$ns" delete pods -l "$label" --grace-period=0 --force --ignore-not-found >/dev/null 2>&1 || true
  k delete schedulernodestates,schedulerpolicies,nodes -l "$label" --ignore-not-found >/dev/null 2>&1 || true
  # The agent's own SchedulerNodeState carries no test label.
  k delete schedulernodestates deploy-it-a deploy-it-b deploy-it-agent --ignore-not-found >/dev/null 2>&1 || true
  k -n "$ns" delete secrets,leases.coordination.k8s.io -l "$label" --ignore-not-found >/dev/null 2>&1 || true
  # The operator's Lease, which a test made as the operator would (no operator runs here).
  k -n "$ns" delete leases.coordination.k8s.io schedkit-operator --ignore-not-found >/dev/null 2>&1 || true
  k -n "$restricted_ns" delete serviceaccounts -l "$label" --ignore-not-found >/dev/null 2>&1 || true
  k -n default delete secrets,events.events.k8s.io -l "$label" --ignore-not-found >/dev/null 2>&1 || true
  # Events the agent recorded about our nodes and policy (it does not label them).
  k -n default get events.events.k8s.io -o json 2>/dev/null |
    jq -r '.items[] | select((.regarding.name // "") | startswith("deploy-it-")) | .metadata.name' |
    xargs -r kubectl --kubeconfig "$admin" -n default delete events.events.k8s.io --ignore-not-found >/dev/null 2>&1 || true
}
finish() {
  local rc=$?
  # Stopped before the cleanup, or it would take the Lease again and label the node.
  if [ -n "$op_pid" ]; then
    kill -KILL "$op_pid" 2>/dev/null || true
    wait "$op_pid" 2>/dev/null || true
  fi
  [ "$rc" = 0 ] || [ ! -s "$work/agent.log" ] || { echo "--- agent log:"; cat "$work/agent.log"; }
  [ "$rc" = 0 ] || [ ! -s "$work/operator.log" ] || { echo "--- operator log:"; cat "$work/operator.log"; }
  cleanup
  rm -rf "$work"
  exit "$rc"
}
trap finish EXIT

# Applies deploy/ as the docs say (server-side; --force-conflicts because hack/testenv/up.sh
# applied the CRDs under another field manager).
apply_deploy() {
  local out
  out=$(k apply --server-side --force-conflicts --field-manager=schedkit-deploy-it -k "$root/deploy" 2>&1) ||
    fail "kubectl apply --server-side -k deploy/ failed: $out"
  printf '%s\n' "$out"
  k wait --for condition=Established --timeout=30s crd/schedulerpolicies.schedkit.io \
    crd/schedulernodestates.schedkit.io >/dev/null
}
# Every object deploy/ renders, with its resourceVersion; fails when one is missing.
deployed_versions() {
  k get -k "$root/deploy" -o json | jq -r '.items[] | "\(.kind)/\(.metadata.name) \(.metadata.resourceVersion)"' ||
    fail "not every object of deploy/ exists"
}

# make_node NAME: a Node object (no kubelet behind it).
make_node() {
  k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $1
  labels: {schedkit.io/test: deploy-it, schedkit.io/pool: deploy-it}
EOF
}

# make_agent_pod NAME NODE: the Pod the DaemonSet controller would make from deploy/'s template,
# bound to NODE. It never runs; its only use is to bind a token to it (and it proves that the
# namespace's Pod Security level admits the privileged template).
make_agent_pod() {
  k -n "$ns" get ds schedkit-agent -o json |
    jq --arg name "$1" --arg node "$2" '{apiVersion: "v1", kind: "Pod",
      metadata: {name: $name, namespace: .metadata.namespace,
                 labels: (.spec.template.metadata.labels + {"schedkit.io/test": "deploy-it"})},
      spec: (.spec.template.spec + {nodeName: $node})}' |
    k create -f - >/dev/null || fail "the DaemonSet's pod template was not admitted as a Pod on $2"
}

# template_pod WORKLOAD NAME NAMESPACE [KUBECTL_CREATE_ARGS...]: creates the Pod that WORKLOAD's
# controller would make from its template (WORKLOAD is ds/NAME or deploy/NAME in $ns). No kubelet
# runs it: it binds a token, or (with --dry-run=server) shows what Pod Security admission says.
template_pod() {
  local workload=$1 name=$2 in_ns=$3
  shift 3
  k -n "$ns" get "$workload" -o json |
    jq --arg name "$name" --arg ns "$in_ns" '{apiVersion: "v1", kind: "Pod",
      metadata: {name: $name, namespace: $ns,
                 labels: (.spec.template.metadata.labels + {"schedkit.io/test": "deploy-it"})},
      spec: .spec.template.spec}' |
    k create "$@" -f -
}

# token_kubeconfig POD [NAME [SERVICE_ACCOUNT]]: a kubeconfig with a token for the service account
# (the agent's by default) bound to POD (hence to its node, if it has one), as the kubelet would
# mount it.
token_kubeconfig() {
  local token
  token=$(k -n "$ns" create token "${3:-$sa}" --bound-object-kind Pod --bound-object-name "$1" --duration 1h) ||
    fail "could not mint a token bound to pod $1"
  printf '%s' "$token" >"$work/${2:-$1}.token"
  "$root/hack/testenv/kubeconfig.sh" --dir "$SCHEDKIT_KUBE_TESTENV" --token "$token" --name "${2:-$1}" \
    --out "$work/${2:-$1}.kubeconfig"
}

# free_port: a TCP port that nothing on this machine uses, below the ephemeral range.
free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 10000))
    [ -n "$(ss -Hatn "( sport = :$p )" 2>/dev/null)" ] || { echo "$p"; return 0; }
  done
  fail "found no free TCP port in 20000-29999"
}

# raw_patch TOKEN_FILE PATH JSON: a merge patch sent as it is (kubectl patch would GET first,
# which the agent never needs and may not do). Prints the body; fails on a non-2xx status.
raw_patch() {
  local code
  code=$(curl -sS --cacert "$TESTENV_CA" -o "$work/patch.out" -w '%{http_code}' -X PATCH \
    -H "Authorization: Bearer $(cat "$1")" -H 'Content-Type: application/merge-patch+json' \
    --data "$3" "$APISERVER_URL$2") || return 1
  # An error is a Status object: its message is what kubectl would print.
  jq -r 'if .kind == "Status" then .message else "patched" end' "$work/patch.out" 2>/dev/null ||
    cat "$work/patch.out"
  [[ $code == 2?? ]]
}

# sns_yaml NODE [OWNER_UID]: a SchedulerNodeState as the agent creates it, owned by the Node.
sns_yaml() {
  cat <<EOF
apiVersion: schedkit.io/v1alpha1
kind: SchedulerNodeState
metadata:
  name: $1
  labels: {schedkit.io/test: deploy-it}
EOF
  [ -z "${2:-}" ] || echo "  ownerReferences: [{apiVersion: v1, kind: Node, name: $1, uid: \"$2\"}]"
  echo "spec: {nodeName: $1}"
}
status_yaml() {
  cat <<EOF
apiVersion: schedkit.io/v1alpha1
kind: SchedulerNodeState
metadata: {name: $1}
status:
  phase: ${2:-Idle}
EOF
}

# check_can_i KUBECONFIG < TABLE: for each line "yes|no VERB RESOURCE[/status|/NAME] [NAMESPACE]",
# `kubectl auth can-i` with those credentials answers yes or no.
check_can_i() {
  local want verb res nsarg got sub
  while read -r want verb res nsarg; do
    sub=()
    # kubectl reads RESOURCE/NAME, so a subresource goes in its own flag.
    if [[ $res == */status ]]; then sub=(--subresource=status); res=${res%/status}; fi
    got=$(kubectl --kubeconfig "$1" --request-timeout=30s auth can-i "$verb" "$res" ${nsarg:+-n "$nsarg"} \
      "${sub[@]}" 2>/dev/null || true)
    [ "$got" = "$want" ] || fail "can-i $verb $res ${nsarg:+-n $nsarg}: $got, want $want"
  done
}

# expect_denied WHAT SUBSTRING CMD...: CMD fails, saying SUBSTRING.
expect_denied() {
  local what=$1 want=$2 out; shift 2
  if out=$("$@" 2>&1); then fail "$what was allowed: $out"; fi
  grep -qF -- "$want" <<<"$out" || fail "$what failed, but not with '$want': $out"
  note "denied: $what"
}
expect_ok() {
  local what=$1 out; shift
  out=$("$@" 2>&1) || fail "$what failed: $out"
  note "allowed: $what"
}

case_apply() {
  local before after n
  cleanup
  apply_deploy
  before=$(deployed_versions)
  n=$(wc -l <<<"$before")
  [ "$n" -ge 21 ] || fail "deploy/ has only $n objects: $before"
  # A second apply writes nothing: the manifests say what the server keeps (no defaulted atomic
  # field that would flip back and forth).
  apply_deploy >/dev/null
  after=$(deployed_versions)
  [ "$before" = "$after" ] || fail "a second apply changed objects:
$(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") || true)"
  # The objects as the server kept them.
  [ "$(k get ns "$ns" -o jsonpath='{.metadata.labels.pod-security\.kubernetes\.io/enforce}')" = privileged ] ||
    fail "namespace $ns is not labelled for privileged pods"
  k -n "$ns" get ds schedkit-agent -o json | jq -e '
    .spec.template.spec as $s | $s.hostPID == true and $s.priorityClassName == "system-node-critical"
    and ($s.tolerations | any(.operator == "Exists" and (.key // "") == "" and (.effect // "") == ""))
    and ($s.containers[0].securityContext.privileged == true)
    and ($s.containers[0].resources.limits.cpu == null)
    and ($s.containers[0].env | any(.name == "NODE_NAME" and .valueFrom.fieldRef.fieldPath == "spec.nodeName"))
    and ($s.containers[0].args | index("--host-root=/host") != null)' >/dev/null ||
    fail "the DaemonSet lacks hostPID, system-node-critical, tolerate-all, privileged, NODE_NAME, --host-root or has a CPU limit"
  local path
  for path in / /sys /sys/fs/bpf /sys/fs/cgroup /sys/kernel/debug /sys/kernel/tracing /dev/kmsg \
    /run/schedkit /run/scx /var/lib/schedkit; do
    k -n "$ns" get ds schedkit-agent -o json |
      jq -e --arg p "$path" '.spec.template.spec.volumes | any(.hostPath.path == $p)' >/dev/null ||
      fail "the DaemonSet does not mount the host's $path"
  done
  [ "$(k get validatingadmissionpolicybinding "$vap" -o jsonpath='{.spec.validationActions[0]}')" = Deny ] ||
    fail "the policy binding does not deny"
  # The operator: two replicas that prefer different nodes, nothing from the host, its pod's own
  # name and namespace as its Lease identity and namespace.
  k -n "$ns" get deploy schedkit-operator -o json | jq -e '
    .spec.replicas as $r | .spec.template.spec as $s | $s.containers[0] as $c
    | $r == 2 and $s.serviceAccountName == "schedkit-operator" and $s.automountServiceAccountToken == true
    and ($s.hostPID // false) == false and ($s.hostNetwork // false) == false
    and ($s.volumes // [] | all(.hostPath == null))
    and $s.securityContext.runAsNonRoot == true and $s.securityContext.seccompProfile.type == "RuntimeDefault"
    and $c.securityContext.readOnlyRootFilesystem == true and $c.securityContext.allowPrivilegeEscalation == false
    and $c.securityContext.capabilities.drop == ["ALL"] and ($c.securityContext.privileged // false) == false
    and ($s.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution
         | any(.podAffinityTerm.topologyKey == "kubernetes.io/hostname"
               and .podAffinityTerm.labelSelector.matchLabels == {"app.kubernetes.io/name": "schedkit-operator"}))
    and ($c.env | any(.name == "POD_NAME" and .valueFrom.fieldRef.fieldPath == "metadata.name"))
    and ($c.env | any(.name == "POD_NAMESPACE" and .valueFrom.fieldRef.fieldPath == "metadata.namespace"))
    and ($c.args | index("--identity=$(POD_NAME)") != null and index("--namespace=$(POD_NAMESPACE)") != null
         and index("--leader-elect=true") != null and index("--metrics-address=0.0.0.0:9478") != null)
    and ($c.ports | any(.name == "metrics" and .containerPort == 9478))
    and $c.livenessProbe.tcpSocket.port == "metrics" and $c.readinessProbe.tcpSocket.port == "metrics"
    and $c.resources.limits.cpu == null and $c.resources.limits.memory == "256Mi"
    and $s.terminationGracePeriodSeconds == 30' >/dev/null ||
    fail "the operator Deployment is not as docs/deploy.md describes: $(k -n "$ns" get deploy schedkit-operator -o json | jq -c .spec.template.spec)"
  echo "ok: deploy/ applied server-side, $n objects accepted"
}

case_access() {
  local kc kc_unbound out uid
  cleanup
  apply_deploy >/dev/null
  make_node deploy-it-a
  make_node deploy-it-b
  make_agent_pod deploy-it-agent-a deploy-it-a
  kc=$(token_kubeconfig deploy-it-agent-a)
  a() { kubectl --kubeconfig "$kc" --request-timeout=30s "$@"; }

  # Who the API server thinks we are: the service account, on node A.
  out=$(a auth whoami -o yaml)
  printf '%s\n' "$out"
  a auth whoami -o json | jq -e --arg u "system:serviceaccount:$ns:$sa" '
    .status.userInfo.username == $u and
    .status.userInfo.extra["authentication.kubernetes.io/node-name"] == ["deploy-it-a"] and
    .status.userInfo.extra["authentication.kubernetes.io/pod-name"] == ["deploy-it-agent-a"]' >/dev/null ||
    fail "the pod-bound token does not carry node-name deploy-it-a"

  # RBAC: exactly the agent's verbs.
  check_can_i "$kc" <<'EOF'
yes list schedulerpolicies.schedkit.io
yes watch schedulerpolicies.schedkit.io
no create schedulerpolicies.schedkit.io
no patch schedulerpolicies.schedkit.io/status
yes get nodes
yes list nodes
yes watch nodes
no patch nodes
yes get schedulernodestates.schedkit.io
yes create schedulernodestates.schedkit.io
no update schedulernodestates.schedkit.io
no delete schedulernodestates.schedkit.io
no list schedulernodestates.schedkit.io
yes patch schedulernodestates.schedkit.io/status
yes update schedulernodestates.schedkit.io/status
yes create events.events.k8s.io default
yes patch events.events.k8s.io default
no create events.events.k8s.io kube-system
no create events.events.k8s.io schedkit-system
yes get secrets schedkit-system
no list secrets schedkit-system
no get secrets default
no create pods schedkit-system
EOF
  note "RBAC grants exactly the agent's verbs"

  expect_ok "list schedulerpolicies" a get schedulerpolicies
  expect_ok "get its own Node" a get node deploy-it-a
  # Its own node's state: create it, owned by the Node, then server-side-apply its status.
  uid=$(k get node deploy-it-a -o jsonpath='{.metadata.uid}')
  expect_ok "create its own SchedulerNodeState" a create -f - < <(sns_yaml deploy-it-a "$uid")
  expect_ok "apply its own status" a apply --server-side --force-conflicts --field-manager=schedkit-agent \
    --subresource=status -f - < <(status_yaml deploy-it-a Incompatible)
  [ "$(k get sns deploy-it-a -o jsonpath='{.status.phase}')" = Incompatible ] || fail "status not written"

  # Another node's state: the ValidatingAdmissionPolicy says no, with its message.
  local msg='schedkit-agent on node deploy-it-a may only write its own node'"'"'s SchedulerNodeState (deploy-it-a), not "deploy-it-b"'
  expect_denied "create node B's SchedulerNodeState" "$msg" a create -f - < <(sns_yaml deploy-it-b)
  k create -f - >/dev/null < <(sns_yaml deploy-it-b)  # as admin: the operator or a human may
  expect_denied "apply node B's status" "$msg" \
    a apply --server-side --force-conflicts --field-manager=schedkit-agent --subresource=status -f - < <(status_yaml deploy-it-b Running)
  expect_denied "merge-patch node B's status" "$msg" raw_patch "$work/deploy-it-agent-a.token" \
    /apis/schedkit.io/v1alpha1/schedulernodestates/deploy-it-b/status '{"status":{"phase":"Running"}}'
  # An update (PUT) of the status as well. kubectl patch --subresource would GET it first, which
  # the agent has no need for, so the request is sent as it is.
  k get sns deploy-it-b -o json | jq '.status = {phase: "Running"}' >"$work/b-status.json"
  expect_denied "update node B's status" "$msg" \
    a replace --raw /apis/schedkit.io/v1alpha1/schedulernodestates/deploy-it-b/status -f "$work/b-status.json"
  [ -z "$(k get sns deploy-it-b -o jsonpath='{.status.phase}')" ] || fail "node B's status was written"
  # spec.nodeName cannot move: no update of the object itself, and a status write ignores spec.
  expect_denied "change its spec.nodeName" "cannot patch resource" \
    a patch sns deploy-it-a --type=merge -p '{"spec":{"nodeName":"deploy-it-b"}}'
  k get sns deploy-it-a -o json | jq '.spec.nodeName = "deploy-it-b" | .status = {phase: "Idle"}' >"$work/a-status.json"
  a replace --raw /apis/schedkit.io/v1alpha1/schedulernodestates/deploy-it-a/status -f "$work/a-status.json" >/dev/null ||
    fail "a status update of its own state failed"
  [ "$(k get sns deploy-it-a -o jsonpath='{.spec.nodeName}/{.status.phase}')" = deploy-it-a/Idle ] ||
    fail "a status update changed spec.nodeName"
  note "spec.nodeName stays"
  expect_denied "delete its own SchedulerNodeState" "cannot delete resource" a delete sns deploy-it-a

  # The same account with a token that names no node: refused whatever it writes.
  out=$(k -n "$ns" create token "$sa" --duration 10m)
  kc_unbound=$("$root/hack/testenv/kubeconfig.sh" --dir "$SCHEDKIT_KUBE_TESTENV" --token "$out" \
    --name unbound --out "$work/unbound.kubeconfig")
  expect_denied "apply status with a token bound to no node" "carries no authentication.kubernetes.io/node-name" \
    kubectl --kubeconfig "$kc_unbound" apply --server-side --force-conflicts --field-manager=schedkit-agent \
    --subresource=status -f - < <(status_yaml deploy-it-a Running)
  # Others are not matched by the policy.
  k apply --server-side --force-conflicts --field-manager=deploy-it --subresource=status -f - >/dev/null < <(status_yaml deploy-it-b Running) ||
    fail "the policy stopped an administrator"
  note "allowed: an administrator writes node B's status"

  # Events, as the agent records them: events.k8s.io/v1 in "default".
  expect_ok "create an Event in default" a create -f - <<EOF
apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: deploy-it-a.test, namespace: default, labels: {schedkit.io/test: deploy-it}}
eventTime: "2025-01-01T10:00:00.000000Z"
reportingController: schedkit.io/agent
reportingInstance: schedkit-agent-deploy-it-a
action: Incompatible
reason: Incompatible
type: Warning
note: test
regarding: {apiVersion: v1, kind: Node, name: deploy-it-a, uid: "$uid"}
EOF
  expect_ok "patch the Event" raw_patch "$work/deploy-it-agent-a.token" \
    /apis/events.k8s.io/v1/namespaces/default/events/deploy-it-a.test \
    '{"series":{"count":2,"lastObservedTime":"2025-01-01T10:01:00.000000Z"}}'

  # Secrets: by name in its own namespace only.
  k -n "$ns" create secret generic deploy-it-regcred --from-literal=k=v >/dev/null
  k -n "$ns" label secret deploy-it-regcred schedkit.io/test=deploy-it >/dev/null
  k -n default create secret generic deploy-it-other --from-literal=k=v >/dev/null
  k -n default label secret deploy-it-other schedkit.io/test=deploy-it >/dev/null
  expect_ok "get a Secret in $ns" a -n "$ns" get secret deploy-it-regcred
  expect_denied "get a Secret in default" 'cannot get resource "secrets" in API group "" in the namespace "default"' \
    a -n default get secret deploy-it-other
  expect_denied "list Secrets in $ns" "cannot list resource" a -n "$ns" get secrets
  echo "ok: the node-bound token can do what the agent needs, and no more"
}

case_agent() {
  local bin=${1:-} kc pid i phase out extra=()
  [ -n "$bin" ] || fail "usage: $0 agent AGENT_BINARY"
  [ -x "$bin" ] || fail "no schedkit-agent binary at $bin (build the schedkit-agent target)"
  cleanup
  apply_deploy >/dev/null
  make_node deploy-it-agent
  make_agent_pod deploy-it-agent-pod deploy-it-agent
  kc=$(token_kubeconfig deploy-it-agent-pod agent)
  # A policy for the node, so the agent has something to decide (it cannot run it here).
  k apply -f - >/dev/null <<'EOF'
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata:
  name: deploy-it-fifo
  labels: {schedkit.io/test: deploy-it}
spec:
  scheduler: {hostPath: /usr/lib/schedkit/testsched/fifo.bpf.o, type: bpf-object, opsName: fifo_test}
  nodeSelector: {matchLabels: {schedkit.io/pool: deploy-it}}
EOF
  # Metrics off where the agent has them: nothing binds a fixed port in a test.
  if "$bin" --help 2>/dev/null | grep -- '--metrics-address' >/dev/null; then extra+=(--metrics-address ''); fi
  if "$bin" --help 2>/dev/null | grep -- '--health-address' >/dev/null; then extra+=(--health-address ''); fi
  # As the DaemonSet runs it, but with a kubeconfig instead of the in-cluster token, and this
  # host's own / as the host root (no sched_ext here, so the node is Incompatible).
  NODE_NAME=deploy-it-agent "$bin" --kubeconfig "$kc" --namespace "$ns" --state-dir "$work/state" \
    --host-root / --grpc-socket "$work/agent.sock" --log-format text "${extra[@]}" >"$work/agent.log" 2>&1 &
  pid=$!
  for ((i = 0; i < 100; i++)); do
    phase=$(k get sns deploy-it-agent -o jsonpath='{.status.phase}' 2>/dev/null || true)
    [ -z "$phase" ] || break
    kill -0 "$pid" 2>/dev/null || fail "the agent exited early"
    sleep 0.2
  done
  [ -n "$phase" ] || fail "the agent wrote no SchedulerNodeState in 20 s"
  note "the agent reported phase $phase; letting it run"
  sleep 8
  kill -0 "$pid" 2>/dev/null || fail "the agent exited while running"
  kill -TERM "$pid"
  wait "$pid" || fail "the agent exited with status $? after SIGTERM"
  cat "$work/agent.log"

  out=$(k get sns deploy-it-agent -o json --show-managed-fields)
  jq -e --arg uid "$(k get node deploy-it-agent -o jsonpath='{.metadata.uid}')" '
    .spec.nodeName == "deploy-it-agent" and .status.phase == "Incompatible"
    and .status.policy == "deploy-it-fifo" and .status.kernel.schedExt == false
    and (.metadata.ownerReferences | any(.kind == "Node" and .name == "deploy-it-agent" and .uid == $uid))
    and (.metadata.managedFields | any(.manager == "schedkit-agent" and (.subresource // "") == ""))
    and (.metadata.managedFields | any(.manager == "schedkit-agent" and .subresource == "status"))' \
    <<<"$out" >/dev/null || fail "the agent's SchedulerNodeState is not as expected: $out"
  note "SchedulerNodeState deploy-it-agent: Incompatible, created by the agent and owned by its Node, status applied by schedkit-agent"
  k -n default get events.events.k8s.io -o json | jq -e '[.items[] |
    select(.reportingInstance == "schedkit-agent-deploy-it-agent" and .reason == "Incompatible")] |
    any(.regarding.kind == "Node") and any(.regarding.kind == "SchedulerPolicy")' >/dev/null ||
    fail "the agent recorded no Incompatible Events on its Node and the policy"
  note "Events recorded on the Node and the SchedulerPolicy"
  ! grep -qiE 'forbidden|denied|status 403' "$work/agent.log" ||
    fail "the agent was refused something: $(grep -iE 'forbidden|denied|status 403' "$work/agent.log")"
  echo "ok: the real agent ran with a node-bound token and the shipped RBAC"
}

case_operator() {
  local kc out now
  cleanup
  apply_deploy >/dev/null

  # Pod Security: the operator's pod passes "restricted"; the agent's, tried the same way, does not
  # (so the namespace does enforce it).
  k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $restricted_ns
  labels:
    schedkit.io/test: deploy-it
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: $op_sa, namespace: $restricted_ns, labels: {schedkit.io/test: deploy-it}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: $sa, namespace: $restricted_ns, labels: {schedkit.io/test: deploy-it}}
EOF
  expect_ok "the operator's pod under Pod Security restricted" \
    template_pod deploy/schedkit-operator deploy-it-operator "$restricted_ns" --dry-run=server
  expect_denied "the agent's pod under Pod Security restricted" 'violates PodSecurity "restricted' \
    template_pod ds/schedkit-agent deploy-it-agent "$restricted_ns" --dry-run=server

  # The operator's credentials: a token bound to a pod made from the Deployment's template, as the
  # kubelet would mount it.
  template_pod deploy/schedkit-operator deploy-it-operator "$ns" >/dev/null ||
    fail "the Deployment's pod template was not admitted as a Pod in $ns"
  kc=$(token_kubeconfig deploy-it-operator deploy-it-operator "$op_sa")
  o() { kubectl --kubeconfig "$kc" --request-timeout=30s "$@"; }
  o auth whoami -o json | jq -e --arg u "system:serviceaccount:$ns:$op_sa" '
    .status.userInfo.username == $u and
    .status.userInfo.extra["authentication.kubernetes.io/pod-name"] == ["deploy-it-operator"]' >/dev/null ||
    fail "the token is not the operator's service account bound to its pod: $(o auth whoami -o json)"

  # RBAC: exactly the operator's verbs.
  check_can_i "$kc" <<EOF
yes get schedulerpolicies.schedkit.io
yes list schedulerpolicies.schedkit.io
yes watch schedulerpolicies.schedkit.io
no create schedulerpolicies.schedkit.io
no update schedulerpolicies.schedkit.io
no patch schedulerpolicies.schedkit.io
no delete schedulerpolicies.schedkit.io
yes get schedulerpolicies.schedkit.io/status
yes update schedulerpolicies.schedkit.io/status
yes patch schedulerpolicies.schedkit.io/status
yes get schedulernodestates.schedkit.io
yes list schedulernodestates.schedkit.io
yes watch schedulernodestates.schedkit.io
no create schedulernodestates.schedkit.io
no update schedulernodestates.schedkit.io
no patch schedulernodestates.schedkit.io
no delete schedulernodestates.schedkit.io
no update schedulernodestates.schedkit.io/status
no patch schedulernodestates.schedkit.io/status
yes get nodes
yes list nodes
yes watch nodes
yes patch nodes
no update nodes
no create nodes
no delete nodes
no patch nodes/status
yes create events.events.k8s.io default
yes patch events.events.k8s.io default
no create events.events.k8s.io $ns
no create events.events.k8s.io kube-system
no create events default
yes create leases.coordination.k8s.io $ns
yes get leases.coordination.k8s.io/schedkit-operator $ns
yes update leases.coordination.k8s.io/schedkit-operator $ns
no patch leases.coordination.k8s.io/schedkit-operator $ns
no delete leases.coordination.k8s.io/schedkit-operator $ns
no get leases.coordination.k8s.io/deploy-it-other $ns
no update leases.coordination.k8s.io/deploy-it-other $ns
no list leases.coordination.k8s.io $ns
no create leases.coordination.k8s.io kube-system
no update leases.coordination.k8s.io/schedkit-operator kube-system
yes get secrets $ns
no list secrets $ns
no watch secrets $ns
no get secrets kube-system
no get secrets default
no create pods $ns
no delete pods $ns
no get configmaps $ns
EOF
  note "RBAC grants exactly the operator's verbs"

  # Policies: read them, write their status (server-side apply, then an update), never the spec.
  k apply -f - >/dev/null <<'EOF'
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata:
  name: deploy-it-rollout
  labels: {schedkit.io/test: deploy-it}
spec:
  scheduler: {hostPath: /usr/lib/schedkit/testsched/fifo.bpf.o, type: bpf-object, opsName: fifo_test}
  nodeSelector: {matchLabels: {schedkit.io/pool: deploy-it}}
EOF
  expect_ok "list schedulerpolicies" o get schedulerpolicies
  expect_ok "list schedulernodestates" o get schedulernodestates
  expect_ok "list nodes" o get nodes
  expect_ok "apply a policy's status" o apply --server-side --field-manager=schedkit-operator --subresource=status -f - <<'EOF'
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: deploy-it-rollout}
status:
  observedGeneration: 1
  nodes: {matched: 1, attached: 0, pending: 1}
EOF
  o get sp deploy-it-rollout -o json | jq '.status.nodes.attached = 1 | .status.nodes.pending = 0' >"$work/sp-status.json"
  expect_ok "update a policy's status" o replace --subresource=status -f "$work/sp-status.json"
  [ "$(k get sp deploy-it-rollout -o jsonpath='{.status.nodes.matched}/{.status.nodes.attached}')" = 1/1 ] ||
    fail "the policy's status was not written: $(k get sp deploy-it-rollout -o jsonpath='{.status}')"
  expect_denied "patch a policy's spec" 'cannot patch resource "schedulerpolicies"' \
    o patch sp deploy-it-rollout --type=merge -p '{"spec":{"paused":true}}'
  o get sp deploy-it-rollout -o json | jq '.spec.paused = true' >"$work/sp.json"
  expect_denied "update a policy's spec" 'cannot update resource "schedulerpolicies"' o replace -f "$work/sp.json"
  expect_denied "delete a policy" 'cannot delete resource "schedulerpolicies"' o delete sp deploy-it-rollout
  [ "$(k get sp deploy-it-rollout -o jsonpath='{.spec.paused}')" != true ] || fail "the policy's spec was changed"

  # SchedulerNodeStates are the agents': read only, status included.
  k create -f - >/dev/null < <(sns_yaml deploy-it-op-node)
  expect_ok "get a SchedulerNodeState" o get sns deploy-it-op-node
  expect_denied "patch a SchedulerNodeState" 'cannot patch resource "schedulernodestates"' \
    o patch sns deploy-it-op-node --type=merge -p '{"spec":{"nodeName":"elsewhere"}}'
  expect_denied "apply a SchedulerNodeState's status" 'cannot patch resource "schedulernodestates/status"' \
    o apply --server-side --force-conflicts --field-manager=schedkit-operator --subresource=status -f - < <(status_yaml deploy-it-op-node Running)
  k get sns deploy-it-op-node -o json | jq '.status = {phase: "Running"}' >"$work/sns-status.json"
  expect_denied "update a SchedulerNodeState's status" 'cannot update resource "schedulernodestates/status"' \
    o replace --raw /apis/schedkit.io/v1alpha1/schedulernodestates/deploy-it-op-node/status -f "$work/sns-status.json"

  # Node labels, server-side-applied as the operator does; a workload's nodeSelector finds them
  # (the example in docs/deploy.md), and labels of other managers stay.
  # Created as a kubelet does (not by kubectl apply: a later `kubectl apply --server-side` would
  # move the client-side-applied labels to the operator's field manager and drop them).
  k create -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: deploy-it-op-node
  labels: {schedkit.io/test: deploy-it, schedkit.io/pool: deploy-it}
EOF
  node_labels() {
    o apply --server-side --field-manager=schedkit-operator -f - <<EOF
apiVersion: v1
kind: Node
metadata:
  name: deploy-it-op-node
  labels: {schedkit.io/scheduler: lavd, schedkit.io/scheduler-ready: "$1"}
EOF
  }
  expect_ok "apply the node labels" node_labels true
  [ "$(k get nodes -l 'schedkit.io/scheduler=lavd,schedkit.io/scheduler-ready=true' -o name)" = node/deploy-it-op-node ] ||
    fail "nodeSelector {schedkit.io/scheduler: lavd, schedkit.io/scheduler-ready: \"true\"} does not select the node"
  k get node deploy-it-op-node -o json --show-managed-fields | jq -e '
    .metadata.labels["schedkit.io/pool"] == "deploy-it"
    and (.metadata.managedFields | any(.manager == "schedkit-operator" and .operation == "Apply"
         and (.fieldsV1["f:metadata"]["f:labels"] | has("f:schedkit.io/scheduler") and has("f:schedkit.io/scheduler-ready"))))' \
    >/dev/null || fail "the labels are not the operator's, or others' labels went: $(k get node deploy-it-op-node -o json --show-managed-fields | jq -c .metadata)"
  expect_ok "flip scheduler-ready" node_labels false
  [ -z "$(k get nodes -l 'schedkit.io/scheduler=lavd,schedkit.io/scheduler-ready=true' -o name)" ] ||
    fail "the node is still selected once not ready"
  expect_denied "create a Node" 'cannot create resource "nodes"' o create -f - <<'EOF'
apiVersion: v1
kind: Node
metadata: {name: deploy-it-op-new, labels: {schedkit.io/test: deploy-it}}
EOF
  expect_denied "delete a Node" 'cannot delete resource "nodes"' o delete node deploy-it-op-node
  expect_denied "patch a Node's status" 'cannot patch resource "nodes/status"' raw_patch "$work/deploy-it-operator.token" \
    /api/v1/nodes/deploy-it-op-node/status '{"status":{"capacity":{"cpu":"64"}}}'

  # Leader election as the operator does it: create its Lease, then read and renew it.
  now=$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)
  expect_ok "create the Lease schedkit-operator" o -n "$ns" create -f - <<EOF
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: schedkit-operator, namespace: $ns}
spec: {holderIdentity: deploy-it-operator, leaseDurationSeconds: 15, acquireTime: "$now", renewTime: "$now", leaseTransitions: 0}
EOF
  o -n "$ns" get lease schedkit-operator -o json |
    jq --arg t "$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)" '.spec.renewTime = $t | .spec.holderIdentity = "deploy-it-operator-2"' \
    >"$work/lease.json" || fail "the operator cannot read its Lease"
  expect_ok "renew the Lease (update)" o replace -f "$work/lease.json"
  [ "$(k -n "$ns" get lease schedkit-operator -o jsonpath='{.spec.holderIdentity}')" = deploy-it-operator-2 ] ||
    fail "the Lease was not updated"
  expect_denied "delete the Lease" 'cannot delete resource "leases"' o -n "$ns" delete lease schedkit-operator
  # Another Lease: RBAC cannot stop its creation (no names on create), but it cannot be read or
  # renewed, so it is no use for leading anything.
  k -n "$ns" apply -f - >/dev/null <<EOF
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: deploy-it-other, namespace: $ns, labels: {schedkit.io/test: deploy-it}}
spec: {holderIdentity: someone-else, leaseDurationSeconds: 15}
EOF
  expect_denied "get another Lease" 'cannot get resource "leases"' o -n "$ns" get lease deploy-it-other
  k -n "$ns" get lease deploy-it-other -o json | jq '.spec.holderIdentity = "deploy-it-operator"' >"$work/other-lease.json"
  expect_denied "update another Lease" 'cannot update resource "leases"' o replace -f "$work/other-lease.json"
  expect_denied "create a Lease in kube-system" 'cannot create resource "leases"' o -n kube-system create -f - <<'EOF'
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: schedkit-operator, namespace: kube-system}
spec: {holderIdentity: deploy-it-operator}
EOF

  # Image pull Secrets: by name, in its own namespace only.
  k -n "$ns" create secret generic deploy-it-op-regcred --from-literal=k=v >/dev/null
  k -n "$ns" label secret deploy-it-op-regcred schedkit.io/test=deploy-it >/dev/null
  expect_ok "get a Secret in $ns" o -n "$ns" get secret deploy-it-op-regcred
  expect_denied "list Secrets in $ns" 'cannot list resource "secrets"' o -n "$ns" get secrets
  expect_denied "get a Secret in kube-system" 'cannot get resource "secrets" in API group "" in the namespace "kube-system"' \
    o -n kube-system get secret anything

  # Events about a policy: events.k8s.io/v1 in "default".
  expect_ok "create an Event in default" o create -f - <<EOF
apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: deploy-it-rollout.test, namespace: default, labels: {schedkit.io/test: deploy-it}}
eventTime: "$now"
reportingController: schedkit.io/operator
reportingInstance: deploy-it-operator
action: Rollout
reason: CanaryAdmitted
type: Normal
note: test
regarding: {apiVersion: schedkit.io/v1alpha1, kind: SchedulerPolicy, name: deploy-it-rollout, uid: "$(k get sp deploy-it-rollout -o jsonpath='{.metadata.uid}')"}
EOF
  expect_ok "patch the Event" raw_patch "$work/deploy-it-operator.token" \
    /apis/events.k8s.io/v1/namespaces/default/events/deploy-it-rollout.test \
    "{\"series\":{\"count\":2,\"lastObservedTime\":\"$now\"}}"
  expect_denied "create an Event in $ns" 'cannot create resource "events"' o -n "$ns" create -f - <<EOF
apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: deploy-it-rollout.elsewhere, namespace: $ns}
eventTime: "$now"
reportingController: schedkit.io/operator
reportingInstance: deploy-it-operator
action: Rollout
reason: CanaryAdmitted
type: Normal
regarding: {apiVersion: schedkit.io/v1alpha1, kind: SchedulerPolicy, name: deploy-it-rollout}
EOF
  echo "ok: the operator's token can do what the operator needs, and no more"
}

# The first thing not yet as the running operator should have made it, or nothing once all is.
operator_binary_pending() {
  local pol=$1 node=$2 out
  [ "$(k -n "$ns" get lease schedkit-operator -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)" = deploy-it-op ] ||
    { echo "the Lease $ns/schedkit-operator is not held by deploy-it-op: $(k -n "$ns" get lease schedkit-operator -o jsonpath='{.spec}' 2>&1)"; return; }
  out=$(k get sp "$pol" -o json)
  jq -e '.metadata.generation as $g | .status.observedGeneration == $g
    and .status.nodes.matched == 1 and .status.nodes.attached == 1
    and (.status.conditions // [] | any(.type == "Ready" and .status == "True" and .observedGeneration == $g))' \
    <<<"$out" >/dev/null ||
    { echo "the policy's status is not matched 1, attached 1, Ready True at its generation: $(jq -c '{generation: .metadata.generation, status}' <<<"$out")"; return; }
  out=$(k get node "$node" -o json --show-managed-fields)
  jq -e '.metadata.labels["schedkit.io/scheduler"] == "fifo" and .metadata.labels["schedkit.io/scheduler-ready"] == "true"
    and .metadata.labels["schedkit.io/pool"] == "deploy-it-op"
    and (.metadata.managedFields | any(.manager == "schedkit-operator" and .operation == "Apply"
         and (.fieldsV1["f:metadata"]["f:labels"] | has("f:schedkit.io/scheduler") and has("f:schedkit.io/scheduler-ready"))))' \
    <<<"$out" >/dev/null ||
    { echo "the node is not labelled scheduler=fifo, scheduler-ready=true by schedkit-operator: $(jq -c .metadata <<<"$out")"; return; }
  k -n default get events.events.k8s.io -o json | jq -e --arg p "$pol" '.items | any(
    .reportingController == "schedkit.io/operator" and .regarding.kind == "SchedulerPolicy" and .regarding.name == $p)' \
    >/dev/null || { echo "no Event from schedkit.io/operator about SchedulerPolicy $pol in default"; return; }
}

case_operator_binary() {
  local bin=${1:-} kc port i deadline rev uid now pending rc metrics pol=deploy-it-op-fifo node=deploy-it-op-node
  [ -n "$bin" ] || fail "usage: $0 operator-binary OPERATOR_BINARY"
  [ -x "$bin" ] || fail "no schedkit-operator binary at $bin (build the schedkit-operator target)"
  cleanup
  apply_deploy >/dev/null
  # Its credentials, as the kubelet would mount them in a pod of the Deployment.
  template_pod deploy/schedkit-operator deploy-it-op-pod "$ns" >/dev/null ||
    fail "the Deployment's pod template was not admitted as a Pod in $ns"
  kc=$(token_kubeconfig deploy-it-op-pod operator "$op_sa")
  # As the Deployment runs it, but with a kubeconfig instead of the in-cluster token, a fixed
  # identity, metrics on a free loopback port and short leader-election times.
  port=$(free_port)
  "$bin" --kubeconfig "$kc" --namespace "$ns" --identity deploy-it-op --metrics-address "127.0.0.1:$port" \
    --lease-duration 4s --renew-deadline 3s --retry-period 500ms --log-format json >"$work/operator.log" 2>&1 &
  op_pid=$!
  note "schedkit-operator started (pid $op_pid, metrics on 127.0.0.1:$port)"

  # A node of its own pool (created as a kubelet would, not applied), and its SchedulerNodeState
  # as the agent creates it, owned by the Node.
  k create -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $node
  labels: {schedkit.io/test: deploy-it, schedkit.io/pool: deploy-it-op}
EOF
  uid=$(k get node "$node" -o jsonpath='{.metadata.uid}')
  k create -f - >/dev/null < <(sns_yaml "$node" "$uid")
  # No opsName in the spec: the scheduler label comes from what the node reports it runs.
  k apply -f - >/dev/null <<EOF
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata:
  name: $pol
  labels: {schedkit.io/test: deploy-it}
spec:
  scheduler: {hostPath: /usr/lib/schedkit/fifo.bpf.o, type: bpf-object}
  nodeSelector: {matchLabels: {schedkit.io/pool: deploy-it-op}}
  rollout: {strategy: Immediate}
EOF

  # The node's agent takes the revision up once the operator has written it.
  # Wall-clock deadlines: each round trip costs several kubectl calls.
  rev="" deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    kill -0 "$op_pid" 2>/dev/null || fail "the operator exited early"
    rev=$(k get sp "$pol" -o jsonpath='{.status.rollout.revision}' 2>/dev/null || true)
    [ -z "$rev" ] || break
    sleep 0.2
  done
  [ -n "$rev" ] || fail "the operator wrote no status.rollout.revision in 30 s: $(k get sp "$pol" -o jsonpath='{.status}')"
  note "the operator rolls out revision $rev; the node's agent reports it Running"
  now=$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)
  k apply --server-side --force-conflicts --field-manager=schedkit-agent --subresource=status -f - >/dev/null <<EOF
apiVersion: schedkit.io/v1alpha1
kind: SchedulerNodeState
metadata: {name: $node}
status:
  policy: $pol
  revision: "$rev"
  phase: Running
  active: {opsName: fifo_test, since: "$now"}
EOF

  deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    kill -0 "$op_pid" 2>/dev/null || fail "the operator exited early"
    pending=$(operator_binary_pending "$pol" "$node")
    [ -n "$pending" ] || break
    sleep 0.2
  done
  [ -z "$pending" ] || fail "after 30 s, $pending"
  note "Lease held by deploy-it-op; $pol: 1 matched, 1 attached, Ready; $node labelled schedkit.io/scheduler=fifo, scheduler-ready=true by schedkit-operator; an Event about $pol"
  metrics=$(curl -fsS -m 5 "http://127.0.0.1:$port/metrics") || fail "no metrics on 127.0.0.1:$port"
  grep -qx 'schedkit_operator_leader 1' <<<"$metrics" || fail "the operator's metrics do not say it leads"
  ! grep -E '^schedkit_operator_(status|node_label)_writes_total\{result="error"\} [1-9]' <<<"$metrics" ||
    fail "the operator's writes failed (metrics above)"
  note "metrics: leader 1, no failed status or label writes"

  # SIGTERM: it stops acting, releases the Lease and exits 0.
  kill -TERM "$op_pid"
  for ((i = 0; i < 50; i++)); do
    kill -0 "$op_pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -0 "$op_pid" 2>/dev/null && fail "the operator still runs 10 s after SIGTERM"
  rc=0
  wait "$op_pid" || rc=$?
  op_pid=
  [ "$rc" = 0 ] || fail "the operator exited with status $rc after SIGTERM"
  [ -z "$(k -n "$ns" get lease schedkit-operator -o jsonpath='{.spec.holderIdentity}')" ] ||
    fail "the operator did not release its Lease: $(k -n "$ns" get lease schedkit-operator -o jsonpath='{.spec}')"
  note "SIGTERM: exited 0 within 10 s and released the Lease"
  cat "$work/operator.log"

  ! grep -F '"level":"error"' "$work/operator.log" || fail "the operator logged errors (above)"
  ! grep -iE 'forbidden|\(403\)|PERMISSION_DENIED' "$work/operator.log" ||
    fail "the operator was refused something (above)"
  note "the operator's log: $(wc -l <"$work/operator.log") lines, no error and nothing refused"
  echo "ok: the real operator ran with its pod-bound token and the shipped RBAC, and needed nothing more"
}

case $1 in
  apply) case_apply ;;
  access) case_access ;;
  agent) case_agent "${2:-}" ;;
  operator) case_operator ;;
  operator-binary) case_operator_binary "${2:-}" ;;
  -h | --help) sed -n '2,11s/^# \{0,1\}//p' "$0" ;;
  *) fail "unknown case '$1'" ;;
esac
