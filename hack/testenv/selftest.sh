#!/usr/bin/env bash
# End-to-end check of hack/testenv: brings everything up in a temporary directory, exercises it
# with kubectl, curl and skopeo, tears it down, and prints timings and "N passed, N failed".
#   hack/testenv/selftest.sh [--keep] [--skip-registry] [--skip-apiserver] [--skip-controllers]
# --keep leaves the temporary directory (and stops nothing on failure) for a look.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
trap - ERR

keep= do_registry=1 do_apiserver=1 do_controllers=1 build_s= up_s= restart_s= warm_s= ctl_s=
for a in "$@"; do
  case $a in
    --keep) keep=1 ;;
    --skip-registry) do_registry= ;;
    --skip-apiserver) do_apiserver= ;;
    --skip-controllers) do_controllers= ;;
    -h | --help) sed -n '2,5s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown argument '$a'" ;;
  esac
done

t=$(mktemp -d "${TMPDIR:-/tmp}/schedkit-testenv-selftest.XXXXXX")
env_dir=$t/env reg_dir=$t/registry ctl_dir=$t/controllers
cleanup() {
  if [ -n "$keep" ]; then echo "# kept $t" >&2; return; fi
  "$here/down.sh" --dir "$env_dir" --purge >/dev/null 2>&1 || true
  "$here/down.sh" --dir "$ctl_dir" --purge >/dev/null 2>&1 || true
  "$here/registry-down.sh" --dir "$reg_dir" --purge >/dev/null 2>&1 || true
  rm -rf "$t"
}
trap cleanup EXIT

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
bad() { fail=$((fail + 1)); echo "not ok - $*"; }
check() { # DESCRIPTION CMD...
  local d=$1; shift
  if "$@" >"$t/out" 2>&1; then ok "$d"; else bad "$d"; sed 's/^/#   /' "$t/out" | tail -15; fi
}
timed() { # VAR CMD...: runs CMD, stores its wall time in seconds (one decimal) in VAR
  local _timed_var=$1 _timed_start _timed_ns _timed_rc=0; shift
  _timed_start=$(date +%s%N)
  "$@" || _timed_rc=$?
  _timed_ns=$(($(date +%s%N) - _timed_start))
  printf -v "$_timed_var" '%d.%d' $((_timed_ns / 1000000000)) $(((_timed_ns / 100000000) % 10))
  return $_timed_rc
}

if [ -n "$do_apiserver" ]; then
  # --- control plane -------------------------------------------------------------------------------
  mkdir -p "$t/crds"
  cat >"$t/crds/widgets.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.selftest.schedkit.io
spec:
  group: selftest.schedkit.io
  scope: Cluster
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
EOF

  timed build_s "$here/build-kube-apiserver.sh" >/dev/null
  if timed up_s "$here/up.sh" --dir "$env_dir" --crds "$t/crds"; then ok "up.sh (fresh dir) in ${up_s}s"; else
    bad "up.sh"
    echo "$pass passed, $((fail)) failed"
    exit 1
  fi
  # shellcheck disable=SC1091
  . "$env_dir/env"
  k() { kubectl --request-timeout=30s "$@"; }
  check "kubectl get --raw /readyz" sh -c 'kubectl get --raw /readyz | grep -qx ok'
  check "server version is $KUBE_VERSION" sh -c "kubectl version -o json | jq -er '.serverVersion.gitVersion' | grep -qx '$KUBE_VERSION'"
  check "CRD from --crds is Established" k wait --for condition=Established --timeout=5s crd/widgets.selftest.schedkit.io
  check "a custom resource can be created" sh -c \
    'printf "apiVersion: selftest.schedkit.io/v1alpha1\nkind: Widget\nmetadata: {name: w1}\nspec: {a: 1}\n" | kubectl apply -f -'
  check "up.sh again is a quiet no-op" sh -c "[ -z \"\$('$here/up.sh' --dir '$env_dir' --crds '$t/crds' 2>&1)\" ]"
  check "env: APISERVER_URL on 127.0.0.1" sh -c "[ '$APISERVER_URL' = https://127.0.0.1:$APISERVER_PORT ]"
  check "serving cert has SANs 127.0.0.1, 10.0.2.2, localhost" sh -c \
    "openssl x509 -in '$env_dir/pki/apiserver.crt' -noout -ext subjectAltName | grep -q 'IP Address:10.0.2.2' &&
     openssl x509 -in '$env_dir/pki/apiserver.crt' -noout -ext subjectAltName | grep -q 'DNS:localhost'"
  check "ValidatingAdmissionPolicy is served (admissionregistration.k8s.io/v1)" sh -c \
    'kubectl api-resources --api-group=admissionregistration.k8s.io -o name | grep -qx validatingadmissionpolicies.admissionregistration.k8s.io'
  k apply -f - >/dev/null <<'EOF'
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: selftest-deny-forbidden}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
  validations:
    - expression: "object.metadata.name != 'forbidden'"
      message: no configmap may be called forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: selftest-deny-forbidden}
spec:
  policyName: selftest-deny-forbidden
  validationActions: [Deny]
EOF
  # The policy takes effect once the admission plugin's informer has seen it.
  vap_ok=
  for _ in $(seq 1 50); do
    out=$(k create configmap forbidden -n default 2>&1 || true)
    if grep -q 'no configmap may be called forbidden' <<<"$out"; then vap_ok=1; break; fi
    k delete configmap forbidden -n default --ignore-not-found >/dev/null 2>&1 || true
    sleep 0.2
  done
  if [ -n "$vap_ok" ]; then ok "ValidatingAdmissionPolicy denies a matching request"; else bad "ValidatingAdmissionPolicy did not deny"; fi

  # --- restricted credentials --------------------------------------------------------------------------
  nodecfg=$("$here/kubeconfig.sh" --dir "$env_dir" --node selftest-node)
  kn() { kubectl --kubeconfig "$nodecfg" --request-timeout=30s "$@"; }
  check "node kubeconfig: whoami is system:node:selftest-node in system:nodes" sh -c \
    "kubectl --kubeconfig '$nodecfg' auth whoami -o json | jq -e '.status.userInfo.username == \"system:node:selftest-node\" and (.status.userInfo.groups | index(\"system:nodes\"))'"
  check "node kubeconfig: can-i get nodes/selftest-node → yes" sh -c "[ \"\$(kubectl --kubeconfig '$nodecfg' auth can-i get nodes/selftest-node)\" = yes ]"
  check "node kubeconfig: can-i list nodes → no (Node authorizer: own Node only)" sh -c "! kubectl --kubeconfig '$nodecfg' auth can-i list nodes"
  check "node kubeconfig: can-i list secrets → no" sh -c "! kubectl --kubeconfig '$nodecfg' auth can-i list secrets -A"
  check "node kubeconfig: can-i create clusterrolebindings → no" sh -c "! kubectl --kubeconfig '$nodecfg' auth can-i create clusterrolebindings"
  check "node kubeconfig: can-i list widgets → no (RBAC grants nothing yet)" sh -c "! kubectl --kubeconfig '$nodecfg' auth can-i list widgets.selftest.schedkit.io"
  k create clusterrole selftest-widget-reader --verb=get,list,watch --resource=widgets.selftest.schedkit.io >/dev/null
  k create clusterrolebinding selftest-nodes-read-widgets --clusterrole=selftest-widget-reader --group=system:nodes >/dev/null
  check "node kubeconfig: lists widgets once RBAC allows system:nodes" kn get widgets.selftest.schedkit.io w1
  guestcfg=$("$here/kubeconfig.sh" --dir "$env_dir" --node selftest-node --guest)
  check "--guest kubeconfig points at https://10.0.2.2:$APISERVER_PORT" sh -c \
    "[ \"\$(kubectl --kubeconfig '$guestcfg' config view -o jsonpath='{.clusters[0].cluster.server}')\" = 'https://10.0.2.2:$APISERVER_PORT' ]"
  sacfg=$("$here/kubeconfig.sh" --dir "$env_dir" --serviceaccount schedkit-system/agent --create)
  check "serviceaccount kubeconfig: whoami" sh -c \
    "kubectl --kubeconfig '$sacfg' auth whoami -o jsonpath='{.status.userInfo.username}' | grep -qx system:serviceaccount:schedkit-system:agent"
  check "serviceaccount kubeconfig: can-i list pods → no" sh -c "! kubectl --kubeconfig '$sacfg' auth can-i list pods -A"

  # --- restart, compaction, 410 --------------------------------------------------------------------------
  k create configmap rv-probe -n default --from-literal=n=0 >/dev/null
  rv_old=$(k get configmap rv-probe -n default -o jsonpath='{.metadata.resourceVersion}')
  for i in 1 2 3; do k patch configmap rv-probe -n default -p "{\"data\":{\"n\":\"$i\"}}" >/dev/null; done
  if compacted=$("$here/etcd-compact.sh" --dir "$env_dir"); then ok "etcd-compact.sh compacted to revision $compacted"; else bad "etcd-compact.sh"; fi
  check "etcd refuses a read at a compacted revision" sh -c \
    "curl -sS -X POST -d '{\"key\":\"AA==\",\"revision\":\"$rv_old\"}' '$ETCD_ENDPOINTS/v3/kv/range' | grep -q 'required revision has been compacted'"
  old_pid=$APISERVER_PID
  if timed restart_s "$here/restart-apiserver.sh" "$env_dir"; then ok "restart-apiserver.sh in ${restart_s}s"; else bad "restart-apiserver.sh"; fi
  . "$env_dir/env"
  check "restart kept port $APISERVER_PORT and changed the pid" sh -c "[ '$APISERVER_PID' != '$old_pid' ] && kubectl get --raw /readyz | grep -qx ok"
  curl_admin() { curl -sS -m 5 --cacert "$TESTENV_CA" --cert "$ADMIN_CERT" --key "$ADMIN_KEY" "$@"; }
  check "LIST at a compacted resourceVersion (Exact) → 410 Gone" sh -c \
    "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --cacert '$TESTENV_CA' --cert '$ADMIN_CERT' --key '$ADMIN_KEY' \
       '$APISERVER_URL/api/v1/namespaces/default/configmaps?resourceVersion=$rv_old&resourceVersionMatch=Exact')\" = 410 ]"
  curl_admin -m 5 "$APISERVER_URL/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=$rv_old" >"$t/watch" 2>/dev/null || true
  check "WATCH from a compacted resourceVersion → ERROR event with code 410" \
    jq -e 'select(.type == "ERROR") | .object.code == 410' "$t/watch"
  check "data survived the restart" k get widgets.selftest.schedkit.io w1

  # --- down, warm start ----------------------------------------------------------------------------------
  check "down.sh stops both" "$here/down.sh" --dir "$env_dir"
  check "no process left" eval "pid_gone $APISERVER_PID && pid_gone $ETCD_PID"
  check "down.sh again is a no-op" "$here/down.sh" --dir "$env_dir"
  if timed warm_s "$here/up.sh" --dir "$env_dir" --crds "$t/crds"; then ok "up.sh (warm: existing dir) in ${warm_s}s"; else bad "up.sh warm"; fi
  . "$env_dir/env"
  check "warm start kept etcd data" k get widgets.selftest.schedkit.io w1
  check "down.sh --purge removes the dir" sh -c "'$here/down.sh' --dir '$env_dir' --purge && [ ! -e '$env_dir' ]"
fi

if [ -n "$do_controllers" ]; then
  # --- up.sh --controllers: kube-controller-manager and kube-scheduler, in a dir of their own ------
  if timed ctl_s "$here/up.sh" --dir "$ctl_dir" --no-crds --controllers; then
    ok "up.sh --controllers (fresh dir) in ${ctl_s}s"
    (
      # shellcheck disable=SC1091
      . "$ctl_dir/env"
      k() { kubectl --request-timeout=30s "$@"; }  # KUBECONFIG: the env file exports it
      until_ok() { local i; for i in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done; return 1; }
      export -f k until_ok
      check "controller-manager /healthz on 127.0.0.1:$CONTROLLER_MANAGER_PORT" \
        sh -c "curl -fsSk https://127.0.0.1:$CONTROLLER_MANAGER_PORT/healthz | grep -qx ok"
      check "scheduler /healthz on 127.0.0.1:$SCHEDULER_PORT" \
        sh -c "curl -fsSk https://127.0.0.1:$SCHEDULER_PORT/healthz | grep -qx ok"
      check "serviceaccount controller: default/default exists" until_ok k -n default get sa default
      check "root-ca-cert publisher: kube-root-ca.crt holds the test CA" until_ok bash -c \
        "k -n default get cm kube-root-ca.crt -o jsonpath='{.data.ca\.crt}' | cmp -s - '$ctl_dir/pki/ca.crt'"
      check "controllers act as their own service accounts (--use-service-account-credentials)" \
        until_ok k -n kube-system get sa replicaset-controller
      # (bash -c below: k and until_ok are exported bash functions)
      k create deployment selftest --image=registry.invalid/none:1 >/dev/null
      check "deployment → replicaset → pod" until_ok bash -c \
        "k get pods -l app=selftest -o name | grep -q ."
      check "scheduler: the pod is unschedulable (no nodes)" until_ok bash -c \
        "k get pods -l app=selftest -o jsonpath='{.items[0].status.conditions[?(@.type==\"PodScheduled\")].reason}' | grep -qx Unschedulable"
      k delete deployment selftest --wait=false >/dev/null
      check "garbage collector: deleting the deployment removes its pods" until_ok bash -c \
        "[ -z \"\$(k get pods,rs -l app=selftest -o name)\" ]"
      kcm=$(cat "$ctl_dir/run/kube-controller-manager.pid") sched=$(cat "$ctl_dir/run/kube-scheduler.pid")
      check "down.sh stops the controllers too" "$here/down.sh" --dir "$ctl_dir" --purge
      check "no controller process left" eval "pid_gone $kcm && pid_gone $sched"
      echo "pass=$pass fail=$fail" >"$t/ctl.counts"
    )
    # The checks ran in a subshell (for the env): carry its counts back.
    if [ -s "$t/ctl.counts" ]; then . "$t/ctl.counts"; else bad "controller checks did not finish"; fi
  else
    bad "up.sh --controllers"
  fi
fi

if [ -n "$do_registry" ]; then
  # --- registry --------------------------------------------------------------------------------------
  img=$t/oci
  "$here/make-oci-image.sh" "$img" v1 >/dev/null
  want=$(jq -r '.manifests[0].digest' "$img/index.json")
  check_mode() { # LABEL registry-up args...
    local label=$1; shift
    local secs
    if ! timed secs "$here/registry-up.sh" --dir "$reg_dir" "$@"; then bad "registry-up.sh $*"; return; fi
    ok "registry-up.sh $* in ${secs}s"
    . "$reg_dir/env"
    local tls itls dcreds icreds ref
    tls=(--dest-tls-verify=false) itls=(--tls-verify=false) dcreds=() icreds=()
    if [ "$REGISTRY_TLS" = 1 ]; then tls=(--dest-cert-dir "$REGISTRY_CERT_DIR") itls=(--cert-dir "$REGISTRY_CERT_DIR"); fi
    if [ -n "$REGISTRY_AUTHFILE" ]; then dcreds=(--dest-authfile "$REGISTRY_AUTHFILE") icreds=(--authfile "$REGISTRY_AUTHFILE"); fi
    ref=docker://$REGISTRY_HOST/selftest/$label:v1
    check "$label: skopeo copy oci: → $REGISTRY_URL" skopeo copy -q "${tls[@]}" "${dcreds[@]}" "oci:$img:v1" "$ref"
    check "$label: skopeo inspect shows the pushed digest" sh -c \
      "skopeo inspect ${itls[*]} ${icreds[*]} '$ref' | jq -er .Digest | grep -qx '$want'"
    if [ "$REGISTRY_AUTH_MODE" != none ]; then
      check "$label: without credentials → refused" sh -c "! skopeo inspect ${itls[*]} --no-creds '$ref'"
      check "$label: wrong password → refused" sh -c "! skopeo inspect ${itls[*]} --creds '$REGISTRY_USER:wrong' '$ref'"
    fi
    if [ "$REGISTRY_TLS" = 1 ]; then
      check "$label: TLS without the test CA → refused" sh -c "! skopeo inspect ${icreds[*]} '$ref'"
    fi
  }
  check_mode plain --plain
  check_mode tls --tls
  check_mode htpasswd --htpasswd selftest:pw-$$
  check_mode token --token selftest:pw-$$
  check "registry-up.sh again is a quiet no-op" sh -c "[ -z \"\$('$here/registry-up.sh' --dir '$reg_dir' --token selftest:pw-$$ 2>&1)\" ]"
  check "registry-down.sh --purge" sh -c "'$here/registry-down.sh' --dir '$reg_dir' --purge && [ ! -e '$reg_dir' ]"
fi

echo "# timings: kube-apiserver build (cached now) ${build_s:-n/a}s; up fresh ${up_s:-n/a}s; restart ${restart_s:-n/a}s; up warm ${warm_s:-n/a}s; up --controllers ${ctl_s:-n/a}s"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
