#!/usr/bin/env bash
# Brings up a real control plane for integration tests: etcd 3.5 and kube-apiserver on 127.0.0.1
# (random free ports, TLS, client-cert auth, Node+RBAC authorization, service-account tokens),
# writes an admin kubeconfig and DIR/env, then applies crds/*.yaml and waits for them.
#   hack/testenv/up.sh [--dir DIR] [--crds CRDDIR | --no-crds] [--controllers]
# --controllers also runs kube-controller-manager and kube-scheduler (for a real node: DaemonSets,
# Deployments, garbage collection, node lifecycle); give such an environment its own DIR.
# DIR defaults to build/testenv. Idempotent: what is already running is kept (CRDs are re-applied).
# Extra kube-apiserver flags: APISERVER_EXTRA_ARGS="--flag=value ..." (kept across restarts).
# Stop with hack/testenv/down.sh [--dir DIR].
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

usage() { sed -n '2,11s/^# \{0,1\}//p' "$0"; }
dir=$TESTENV_DIR_DEFAULT crds=$SCHEDKIT_ROOT/crds controllers=
while [ $# -gt 0 ]; do
  case $1 in
    --dir) [ $# -ge 2 ] || die "--dir needs a value"; dir=$2; shift 2 ;;
    --dir=*) dir=${1#*=}; shift ;;
    --crds) [ $# -ge 2 ] || die "--crds needs a value"; crds=$2; shift 2 ;;
    --crds=*) crds=${1#*=}; shift ;;
    --no-crds) crds=; shift ;;
    --controllers) controllers=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
for tool in openssl curl kubectl ss; do
  command -v "$tool" >/dev/null || die "$tool is not installed (hack/deps.sh installs it)"
done
dir=$(abs_dir "$dir")
mkdir -p "$dir/pki" "$dir/run" "$dir/logs"
mkdir -p "$dir/etcd" && chmod 700 "$dir/etcd"

ETCD_BIN_PATH=$(testenv_etcd_bin)
if [ -n "$controllers" ]; then
  # All four binaries in one go build (the node tests' kubelet too), reused when cached.
  KUBE_BIN_DIR=$("$here/build-kube.sh")
  KUBE_APISERVER_BIN=$KUBE_BIN_DIR/kube-apiserver
else
  KUBE_APISERVER_BIN=$("$here/build-kube-apiserver.sh")
  KUBE_BIN_DIR=$(dirname "$KUBE_APISERVER_BIN")
fi
KUBE_VERSION=$("$KUBE_APISERVER_BIN" --version | awk '{print $2}')
SERVICE_ACCOUNT_ISSUER=https://kubernetes.default.svc.cluster.local
extra_args_now=${APISERVER_EXTRA_ARGS-__unset__}

# Ports of a previous run are kept while free, so a restart keeps its URLs.
old_etcd_client= old_etcd_peer= old_apiserver= old_extra= old_bin=
old_kcm_bin=- old_kcm_port=- old_sched_bin=- old_sched_port=-
if [ -s "$dir/env" ]; then
  old_bin=$(set +u; . "$dir/env"; echo "${KUBE_APISERVER_BIN:-}")
  read -r old_etcd_client old_etcd_peer old_apiserver < <(
    set +u; . "$dir/env"; echo "${ETCD_CLIENT_PORT:--} ${ETCD_PEER_PORT:--} ${APISERVER_PORT:--}")
  old_extra=$(set +u; . "$dir/env"; echo "${APISERVER_EXTRA_ARGS:-}")
  read -r old_kcm_bin old_kcm_port old_sched_bin old_sched_port < <(set +u; . "$dir/env"
    echo "${KUBE_CONTROLLER_MANAGER_BIN:--} ${CONTROLLER_MANAGER_PORT:--} ${KUBE_SCHEDULER_BIN:--} ${SCHEDULER_PORT:--}")
  [ "$old_etcd_client" != - ] || old_etcd_client=
  [ "$old_etcd_peer" != - ] || old_etcd_peer=
  [ "$old_apiserver" != - ] || old_apiserver=
fi
if [ "$extra_args_now" = __unset__ ]; then APISERVER_EXTRA_ARGS=$old_extra; fi

# --- PKI -------------------------------------------------------------------------------------------
pki=$dir/pki
pki_ca "$pki"
pki_cert "$pki" apiserver server "/O=schedkit/CN=kube-apiserver" "${TESTENV_SANS[@]}" \
  DNS:kubernetes DNS:kubernetes.default DNS:kubernetes.default.svc \
  DNS:kubernetes.default.svc.cluster.local IP:10.96.0.1
pki_cert "$pki" admin client "/O=system:masters/CN=schedkit-testenv-admin"
pki_key "$pki/sa.key"
[ -s "$pki/sa.pub" ] || openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null

# --- etcd ------------------------------------------------------------------------------------------
if proc_alive "$dir/run/etcd.pid" "$ETCD_BIN_PATH" "$dir"; then
  ETCD_CLIENT_PORT=$old_etcd_client ETCD_PEER_PORT=$old_etcd_peer
  [ -n "$ETCD_CLIENT_PORT" ] || die "etcd is running (pid $(cat "$dir/run/etcd.pid")) but $dir/env has no port; run down.sh first"
else
  reuse_port ETCD_CLIENT_PORT "$old_etcd_client"
  reuse_port ETCD_PEER_PORT "$old_etcd_peer"
  proc_start "$dir/run/etcd.pid" "$dir/logs/etcd.log" "$ETCD_BIN_PATH" \
    --name=testenv --data-dir="$dir/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="testenv=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --log-level=warn
fi
ETCD_ENDPOINTS=http://127.0.0.1:$ETCD_CLIENT_PORT
wait_for 60 etcd "$dir/run/etcd.pid" "$ETCD_BIN_PATH" "$dir" "$dir/logs/etcd.log" \
  sh -c "curl -fsS -m 3 '$ETCD_ENDPOINTS/health' | grep -q '\"health\":\"true\"'"

# --- kube-apiserver --------------------------------------------------------------------------------
# A running kube-apiserver of the same version from another path (the binary moved in the cache)
# is kept: restarting it would break the watches of whoever uses it, for nothing.
if [ -n "$old_bin" ] && [ "$old_bin" != "$KUBE_APISERVER_BIN" ] &&
  proc_alive "$dir/run/kube-apiserver.pid" "$old_bin" "$dir" &&
  [ "$("$old_bin" --version 2>/dev/null)" = "$("$KUBE_APISERVER_BIN" --version)" ]; then
  KUBE_APISERVER_BIN=$old_bin
fi
if [ -n "$old_bin" ] && [ "$old_bin" != "$KUBE_APISERVER_BIN" ] &&
  proc_alive "$dir/run/kube-apiserver.pid" "$old_bin" "$dir"; then
  log "switching kube-apiserver from $old_bin to $KUBE_APISERVER_BIN"
  proc_stop "$dir/run/kube-apiserver.pid" "$old_bin" "$dir" kube-apiserver 30
fi
if proc_alive "$dir/run/kube-apiserver.pid" "$KUBE_APISERVER_BIN" "$dir"; then
  APISERVER_PORT=$old_apiserver
  [ -n "$APISERVER_PORT" ] ||
    die "kube-apiserver is running (pid $(cat "$dir/run/kube-apiserver.pid")) but $dir/env has no port; run down.sh first"
  if [ "$extra_args_now" != __unset__ ] && [ "$extra_args_now" != "$old_extra" ]; then
    log "APISERVER_EXTRA_ARGS changed; restarting kube-apiserver"
    proc_stop "$dir/run/kube-apiserver.pid" "$KUBE_APISERVER_BIN" "$dir" kube-apiserver
    testenv_apiserver_start "$dir"
  fi
else
  reuse_port APISERVER_PORT "$old_apiserver"
  testenv_apiserver_start "$dir"
fi
APISERVER_URL=https://127.0.0.1:$APISERVER_PORT
testenv_apiserver_wait "$dir"

testenv_kubeconfig "$dir/kubeconfig" "$APISERVER_URL" "$pki/ca.crt" schedkit-testenv-admin \
  --cert "$pki/admin.crt" "$pki/admin.key"

# --- controllers -----------------------------------------------------------------------------------
# start_controller NAME BINVAR PORTVAR OLD_BIN OLD_PORT START_FN: keeps a running one (of any
# binary), else starts BIN on the old port while free.
start_controller() {
  local name=$1 binvar=$2 portvar=$3 old_bin=$4 old_port=$5 start=$6
  [ "$old_bin" != - ] || old_bin=
  [ "$old_port" != - ] || old_port=
  if [ -n "$old_bin" ] && [ -n "$old_port" ] && proc_alive "$dir/run/$name.pid" "$old_bin" "$dir"; then
    printf -v "$binvar" '%s' "$old_bin"
    printf -v "$portvar" '%s' "$old_port"
    return 0
  fi
  [ -n "$controllers" ] || return 0
  printf -v "$binvar" '%s' "$KUBE_BIN_DIR/$name"
  reuse_port "$portvar" "$old_port"
  "$start" "$dir"
}
KUBE_CONTROLLER_MANAGER_BIN= CONTROLLER_MANAGER_PORT= KUBE_SCHEDULER_BIN= SCHEDULER_PORT=
[ -z "$controllers" ] || testenv_controller_kubeconfigs "$dir"
start_controller kube-controller-manager KUBE_CONTROLLER_MANAGER_BIN CONTROLLER_MANAGER_PORT \
  "$old_kcm_bin" "$old_kcm_port" testenv_controller_manager_start
start_controller kube-scheduler KUBE_SCHEDULER_BIN SCHEDULER_PORT \
  "$old_sched_bin" "$old_sched_port" testenv_scheduler_start
testenv_write_env "$dir"
if [ -n "$KUBE_CONTROLLER_MANAGER_BIN" ]; then
  testenv_healthz_wait "$dir" kube-controller-manager "$KUBE_CONTROLLER_MANAGER_BIN" "$CONTROLLER_MANAGER_PORT"
fi
if [ -n "$KUBE_SCHEDULER_BIN" ]; then
  testenv_healthz_wait "$dir" kube-scheduler "$KUBE_SCHEDULER_BIN" "$SCHEDULER_PORT"
fi

# --- CRDs ------------------------------------------------------------------------------------------
if [ -n "$crds" ]; then
  [ -d "$crds" ] || die "no CRD directory $crds"
  shopt -s nullglob
  files=("$crds"/*.yaml "$crds"/*.yml)
  shopt -u nullglob
  if [ ${#files[@]} -gt 0 ]; then
    k=(kubectl --kubeconfig "$dir/kubeconfig" --request-timeout=60s)
    fargs=()
    for f in "${files[@]}"; do fargs+=(-f "$f"); done
    applied=$("${k[@]}" apply --server-side --force-conflicts --field-manager=schedkit-testenv \
      "${fargs[@]}" -o name 2>"$dir/logs/crds.err") || {
      cat "$dir/logs/crds.err" >&2
      die "kubectl apply of $crds/*.yaml failed"
    }
    mapfile -t crd_names < <(grep '^customresourcedefinition' <<<"$applied" || true)
    if [ ${#crd_names[@]} -gt 0 ]; then
      "${k[@]}" wait --for condition=Established --timeout=60s "${crd_names[@]}" >/dev/null ||
        die "CRDs not Established within 60s: ${crd_names[*]}"
    fi
  fi
fi
