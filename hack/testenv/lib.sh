# Helpers shared by the hack/testenv scripts: versions, free ports, the test PKI, process control.
# Source it; it sources hack/lib/common.sh.
# shellcheck shell=bash

source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib/common.sh"

# set -e exits silently; say which command failed instead.
trap 'log "error: \"$BASH_COMMAND\" failed (line $LINENO)"' ERR

TESTENV_KUBE_VERSION=v1.34.4
TESTENV_DIR_DEFAULT=${SCHEDKIT_BUILD:-$SCHEDKIT_ROOT/build}/testenv
TESTENV_REGISTRY_DIR_DEFAULT=${SCHEDKIT_BUILD:-$SCHEDKIT_ROOT/build}/testenv-registry

# Go's caches under the schedkit cache, so builds are repeatable offline. GOTOOLCHAIN=local: never
# download another toolchain.
testenv_go_env() {
  export GOMODCACHE=$SCHEDKIT_CACHE/go/mod GOCACHE=$SCHEDKIT_CACHE/go/build GOTOOLCHAIN=local
  export GOPATH=$SCHEDKIT_CACHE/go/path
  mkdir -p "$GOMODCACHE" "$GOCACHE" "$GOPATH"
}

# --- arguments -------------------------------------------------------------------------------------

# Absolute form of a directory path, created if missing.
abs_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

# --- free ports ------------------------------------------------------------------------------------

TESTENV_PORTS_TAKEN=" "
# free_port VAR: a random TCP port that nothing on this machine uses (in any state, TIME_WAIT
# included), below the kernel's ephemeral range so outgoing connections cannot take it later.
free_port() {
  local var=$1 lo=10000 hi p i
  hi=$(awk '{print $1 - 1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32767)
  [ "$hi" -gt $((lo + 1000)) ] || hi=32767
  for ((i = 0; i < 500; i++)); do
    p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
    case $TESTENV_PORTS_TAKEN in *" $p "*) continue ;; esac
    port_in_use "$p" && continue
    TESTENV_PORTS_TAKEN+="$p "
    printf -v "$var" '%s' "$p"
    return 0
  done
  die "found no free TCP port in $lo-$hi"
}
port_in_use() { [ -n "$(ss -Hatn "( sport = :$1 )" 2>/dev/null)" ]; }
port_in_use_listen() { [ -n "$(ss -Hltn "( sport = :$1 )" 2>/dev/null)" ]; }
# reuse_port VAR OLD: OLD if nothing listens on it (a restart keeps its ports; our servers bind with
# SO_REUSEADDR, so connections left in TIME_WAIT do not matter), else a new free port.
reuse_port() {
  if [ -n "${2:-}" ] && ! port_in_use_listen "$2"; then
    TESTENV_PORTS_TAKEN+="$2 "
    printf -v "$1" '%s' "$2"
  else
    free_port "$1"
  fi
}

# --- test PKI (openssl, EC P-256) ------------------------------------------------------------------
# Keys and certificates are made once per directory and reused; a certificate that no longer
# verifies against the directory's CA, or lacks a wanted SAN, is made again.

TESTENV_SANS=(IP:127.0.0.1 IP:10.0.2.2 DNS:localhost)

pki_key() {
  [ -s "$1" ] && return 0
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.tmp" 2>/dev/null) ||
    die "openssl could not make a key at $1"
  mv "$1.tmp" "$1"
}

# pki_ca PKIDIR: PKIDIR/ca.crt and PKIDIR/ca.key.
pki_ca() {
  local d=$1
  mkdir -p "$d"
  if [ -s "$d/ca.crt" ] && [ -s "$d/ca.key" ]; then return 0; fi
  rm -f "$d/ca.crt"
  pki_key "$d/ca.key"
  openssl req -x509 -new -key "$d/ca.key" -subj "/O=schedkit/CN=schedkit-testenv-ca" -days 3650 -sha256 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -addext subjectKeyIdentifier=hash -out "$d/ca.crt" 2>/dev/null || die "openssl could not make the test CA"
}

# pki_cert PKIDIR NAME server|client|self SUBJECT [SAN...]: PKIDIR/NAME.crt and NAME.key, signed by
# PKIDIR/ca (or self-signed for "self"). SUBJECT is openssl's form, e.g. "/O=system:nodes/CN=system:node:n1".
pki_cert() {
  local d=$1 name=$2 kind=$3 subj=$4; shift 4
  local crt=$d/$name.crt key=$d/$name.key sans="" ext
  [ $# -eq 0 ] || sans=$(IFS=,; echo "$*")
  if [ -s "$crt" ] && [ -s "$key" ] && pki_cert_ok "$d" "$crt" "$kind" "$subj" "$@"; then return 0; fi
  pki_key "$key"
  case $kind in
    server) ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth" ;;
    client) ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth" ;;
    self) ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature" ;;
    *) die "pki_cert: unknown kind $kind" ;;
  esac
  [ -z "$sans" ] || ext+=$'\n'"subjectAltName=$sans"
  if [ "$kind" = self ]; then
    openssl req -x509 -new -key "$key" -subj "$subj" -days 3650 -sha256 \
      -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature" \
      -out "$crt.tmp" 2>/dev/null || die "openssl could not make $crt"
  else
    openssl req -new -key "$key" -subj "$subj" 2>/dev/null |
      openssl x509 -req -CA "$d/ca.crt" -CAkey "$d/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
        -days 3650 -sha256 -extfile <(printf '%s\n' "$ext") -out "$crt.tmp" 2>/dev/null ||
      die "openssl could not make $crt"
  fi
  mv "$crt.tmp" "$crt"
}
pki_cert_ok() {
  local d=$1 crt=$2 kind=$3 subj=$4 san text; shift 4
  [ "$kind" = self ] || openssl verify -CAfile "$d/ca.crt" "$crt" >/dev/null 2>&1 || return 1
  text=$(openssl x509 -in "$crt" -noout -text 2>/dev/null) || return 1
  for san in "$@"; do
    case $san in
      IP:*) grep -q "IP Address:${san#IP:}\(,\|$\)" <<<"$text" || return 1 ;;
      DNS:*) grep -q "DNS:${san#DNS:}\(,\|$\)" <<<"$text" || return 1 ;;
    esac
  done
}

# --- processes -------------------------------------------------------------------------------------
# Each daemon has DIR/run/NAME.pid. A pid counts as ours only while its program is still BIN and
# its command line still names DIR, so a recycled pid is never signalled.

proc_alive() { # PIDFILE BIN DIR
  local pid cmdline
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  # Read once into a variable: `tr | head` or `| grep -q` under pipefail fails at random when the
  # reader exits before the writer (SIGPIPE), and then a live daemon looks dead.
  cmdline=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [ "${cmdline%%$'\n'*}" = "$2" ] || return 1
  [[ ${cmdline//$'\n'/ } == *"$3/"* ]]
}

# proc_start PIDFILE LOG CMD...: runs CMD detached (own session, stdin closed), output appended to
# LOG. etcd reads ETCD_* and the registry REGISTRY_* variables as configuration, and a sourced
# DIR/env defines such names: CMD runs without any of them.
proc_start() {
  local pidfile=$1 logf=$2 v unset=(); shift 2
  for v in $(compgen -e); do
    case $v in ETCD_* | ETCDCTL_* | REGISTRY_*) unset+=(-u "$v") ;; esac
  done
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logf")"
  printf '==== %s start: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$logf"
  setsid env "${unset[@]}" "$@" >>"$logf" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

# pid_gone PID: the process has exited (a zombie waiting for its parent counts as gone).
pid_gone() {
  local state
  [ -e "/proc/$1" ] || return 0
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 0
  [ -z "$state" ] || [ "$state" = Z ] || [ "$state" = X ]
}

# proc_stop PIDFILE BIN DIR NAME [TIMEOUT_S]: SIGTERM, wait until the process is gone, then SIGKILL.
# Quiet when it is not running.
proc_stop() {
  local pidfile=$1 bin=$2 dir=$3 name=$4 timeout=${5:-20} pid i
  if ! proc_alive "$pidfile" "$bin" "$dir"; then rm -f "$pidfile"; return 0; fi
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    pid_gone "$pid" && { rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  # Still the same program (not a recycled pid)? Then force it.
  if proc_alive "$pidfile" "$bin" "$dir"; then
    log "$name (pid $pid) did not stop within ${timeout}s of SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  for ((i = 0; i < 100; i++)); do
    pid_gone "$pid" && { rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  die "$name (pid $pid) is still there after SIGKILL"
}

# proc_stop_recorded DIR VAR PIDNAME NAME TIMEOUT_S: proc_stop for DIR/run/PIDNAME.pid, the program
# being what DIR/env records in VAR or, without an env file (a start that stopped half-way), the
# program the pid file's process runs.
proc_stop_recorded() {
  local dir=$1 var=$2 pidfile=$1/run/$3.pid bin=
  [ -s "$dir/env" ] && bin=$(set +u; . "$dir/env"; echo "${!var:-}")
  [ -n "$bin" ] || bin=$(readlink "/proc/$(cat "$pidfile" 2>/dev/null)/exe" 2>/dev/null || true)
  [ -z "$bin" ] || proc_stop "$pidfile" "$bin" "$dir" "$4" "$5"
}

# wait_for SECONDS WHAT PIDFILE BIN DIR LOG CMD...: retries CMD until it succeeds; fails early (with
# the log's tail) if the process dies.
wait_for() {
  local timeout=$1 what=$2 pidfile=$3 bin=$4 dir=$5 logf=$6 deadline; shift 6
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! proc_alive "$pidfile" "$bin" "$dir"; then
      tail -30 "$logf" >&2 || true
      die "$what exited during start-up; log: $logf"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -30 "$logf" >&2 || true
      die "$what not ready after ${timeout}s; log: $logf"
    fi
    sleep 0.2
  done
}

# write_env FILE KEY=VALUE...: a shell-sourceable file of `export KEY=VALUE` lines, written atomically.
write_env() {
  local f=$1 kv; shift
  {
    echo "# Written by hack/testenv; source it: . $f"
    for kv in "$@"; do printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"; done
  } >"$f.tmp"
  mv "$f.tmp" "$f"
}

# --- the apiserver test environment ----------------------------------------------------------------

testenv_etcd_bin() {
  local b
  b=$(ls -d "$SCHEDKIT_CACHE"/etcd-3.5.*/bin/etcd 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$b" ] && [ -x "$b" ] || die "no etcd 3.5 under $SCHEDKIT_CACHE; run hack/deps.sh (install_etcd)"
  echo "$b"
}

# testenv_load DIR: sources DIR/env into this shell; fails if the environment was never brought up.
testenv_load() {
  [ -s "$1/env" ] || die "no test environment in $1 (no $1/env); run hack/testenv/up.sh --dir $1"
  # shellcheck disable=SC1091
  . "$1/env"
}

# Starts kube-apiserver for DIR from the variables testenv_load (or up.sh) set.
testenv_apiserver_start() {
  local dir=$1 pki=$1/pki extra=()
  read -r -a extra <<<"${APISERVER_EXTRA_ARGS:-}"
  proc_start "$dir/run/kube-apiserver.pid" "$dir/logs/kube-apiserver.log" "$KUBE_APISERVER_BIN" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
    --cert-dir="$dir/run/apiserver-certs" \
    --etcd-servers="$ETCD_ENDPOINTS" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-account-issuer="$SERVICE_ACCOUNT_ISSUER" \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 --endpoint-reconciler-type=none \
    --allow-privileged=true --profiling=false --v=1 \
    "${extra[@]}"
}

testenv_apiserver_wait() {
  local dir=$1
  wait_for "${TESTENV_READY_TIMEOUT:-180}" kube-apiserver "$dir/run/kube-apiserver.pid" "$KUBE_APISERVER_BIN" \
    "$dir" "$dir/logs/kube-apiserver.log" \
    curl -fsS -m 5 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" \
    "$APISERVER_URL/readyz"
}

# testenv_write_env DIR: DIR/env from the current variables (pids read from DIR/run).
testenv_write_env() {
  local dir=$1
  write_env "$dir/env" \
    TESTENV_DIR="$dir" \
    KUBECONFIG="$dir/kubeconfig" \
    KUBE_VERSION="$KUBE_VERSION" \
    KUBE_APISERVER_BIN="$KUBE_APISERVER_BIN" \
    APISERVER_URL="https://127.0.0.1:$APISERVER_PORT" \
    APISERVER_GUEST_URL="https://10.0.2.2:$APISERVER_PORT" \
    APISERVER_PORT="$APISERVER_PORT" \
    APISERVER_PID="$(cat "$dir/run/kube-apiserver.pid" 2>/dev/null || true)" \
    APISERVER_LOG="$dir/logs/kube-apiserver.log" \
    APISERVER_EXTRA_ARGS="${APISERVER_EXTRA_ARGS:-}" \
    SERVICE_ACCOUNT_ISSUER="$SERVICE_ACCOUNT_ISSUER" \
    TESTENV_CA="$dir/pki/ca.crt" \
    ADMIN_CERT="$dir/pki/admin.crt" \
    ADMIN_KEY="$dir/pki/admin.key" \
    ETCD_BIN_PATH="$ETCD_BIN_PATH" \
    ETCD_ENDPOINTS="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    ETCD_CLIENT_PORT="$ETCD_CLIENT_PORT" \
    ETCD_PEER_PORT="$ETCD_PEER_PORT" \
    ETCD_PID="$(cat "$dir/run/etcd.pid" 2>/dev/null || true)" \
    ETCD_LOG="$dir/logs/etcd.log" \
    KUBE_CONTROLLER_MANAGER_BIN="${KUBE_CONTROLLER_MANAGER_BIN:-}" \
    CONTROLLER_MANAGER_PORT="${CONTROLLER_MANAGER_PORT:-}" \
    CONTROLLER_MANAGER_LOG="${KUBE_CONTROLLER_MANAGER_BIN:+$dir/logs/kube-controller-manager.log}" \
    KUBE_SCHEDULER_BIN="${KUBE_SCHEDULER_BIN:-}" \
    SCHEDULER_PORT="${SCHEDULER_PORT:-}" \
    SCHEDULER_LOG="${KUBE_SCHEDULER_BIN:+$dir/logs/kube-scheduler.log}" \
    KUBE_BIN_DIR="${KUBE_BIN_DIR:-}"
}

# --- controllers (up.sh --controllers) -------------------------------------------------------------
# kube-controller-manager and kube-scheduler against DIR's kube-apiserver, with client certificates
# from DIR's PKI for the identities the bootstrap RBAC policy grants their permissions to.

# testenv_controller_kubeconfigs DIR: DIR/pki/{kube-controller-manager,kube-scheduler}.{crt,key} and
# DIR/run/<name>.kubeconfig for each.
testenv_controller_kubeconfigs() {
  local dir=$1 pki=$1/pki name
  for name in kube-controller-manager kube-scheduler; do
    pki_cert "$pki" "$name" client "/CN=system:$name"
    testenv_kubeconfig "$dir/run/$name.kubeconfig" "$APISERVER_URL" "$pki/ca.crt" "system:$name" \
      --cert "$pki/$name.crt" "$pki/$name.key"
  done
}

# Starts kube-controller-manager for DIR (KUBE_CONTROLLER_MANAGER_BIN, CONTROLLER_MANAGER_PORT).
# Service-account tokens are signed with the apiserver's key (--service-account-private-key-file)
# and each controller acts as its own service account; the root-ca-cert publisher puts the test CA
# into every namespace's kube-root-ca.crt, which projected service-account volumes mount.
testenv_controller_manager_start() {
  local dir=$1 pki=$1/pki kc=$1/run/kube-controller-manager.kubeconfig
  proc_start "$dir/run/kube-controller-manager.pid" "$dir/logs/kube-controller-manager.log" \
    "$KUBE_CONTROLLER_MANAGER_BIN" \
    --kubeconfig="$kc" \
    --bind-address=127.0.0.1 --secure-port="$CONTROLLER_MANAGER_PORT" \
    --cert-dir="$dir/run/kube-controller-manager-certs" \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --use-service-account-credentials=true \
    --service-cluster-ip-range=10.96.0.0/16 \
    --leader-elect=false --profiling=false --v=1
}

testenv_scheduler_start() {
  local dir=$1 kc=$1/run/kube-scheduler.kubeconfig
  proc_start "$dir/run/kube-scheduler.pid" "$dir/logs/kube-scheduler.log" "$KUBE_SCHEDULER_BIN" \
    --kubeconfig="$kc" \
    --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" \
    --cert-dir="$dir/run/kube-scheduler-certs" \
    --leader-elect=false --profiling=false --v=1
}

# testenv_healthz_wait DIR NAME BIN PORT: waits until NAME answers /healthz on 127.0.0.1:PORT
# (self-signed serving certificate; /healthz needs no credentials). The controllers get no
# --authentication/--authorization-kubeconfig: their port serves only the health paths, and
# without an apiserver --requestheader-client-ca-file the delegated authentication would log an
# error every few seconds.
testenv_healthz_wait() {
  local dir=$1 name=$2
  wait_for "${TESTENV_READY_TIMEOUT:-180}" "$name" "$dir/run/$name.pid" "$3" "$dir" "$dir/logs/$name.log" \
    sh -c "curl -fsSk -m 5 'https://127.0.0.1:$4/healthz' | grep -qx ok"
}

# testenv_kubeconfig OUT SERVER CA USER (--cert CRT KEY | --token TOKEN): a self-contained kubeconfig.
testenv_kubeconfig() {
  local out=$1 server=$2 ca=$3 user=$4 k
  shift 4
  k=(kubectl --kubeconfig "$out.tmp")
  rm -f "$out.tmp"
  (umask 077 && touch "$out.tmp")
  "${k[@]}" config set-cluster schedkit-testenv --server="$server" --certificate-authority="$ca" \
    --embed-certs=true >/dev/null
  case $1 in
    --cert) "${k[@]}" config set-credentials "$user" --client-certificate="$2" --client-key="$3" \
      --embed-certs=true >/dev/null ;;
    --token) "${k[@]}" config set-credentials "$user" --token="$2" >/dev/null ;;
    *) die "testenv_kubeconfig: want --cert or --token" ;;
  esac
  "${k[@]}" config set-context schedkit-testenv --cluster=schedkit-testenv --user="$user" >/dev/null
  "${k[@]}" config use-context schedkit-testenv >/dev/null
  mv "$out.tmp" "$out"
}
