#!/usr/bin/env bash
# Stops kube-apiserver (SIGTERM, wait, SIGKILL) and starts it again on the same port with the same
# flags, against the same etcd, then waits for /readyz. Watches and the watch cache start afresh.
#   hack/testenv/restart-apiserver.sh [--dir] DIR
# Extra flags for this and later starts: APISERVER_EXTRA_ARGS="--flag=value ..." (recorded in DIR/env).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

usage() { sed -n '2,5s/^# \{0,1\}//p' "$0"; }
dir=$TESTENV_DIR_DEFAULT
extra_args_now=${APISERVER_EXTRA_ARGS-__unset__}
while [ $# -gt 0 ]; do
  case $1 in
    --dir) [ $# -ge 2 ] || die "--dir needs a value"; dir=$2; shift 2 ;;
    --dir=*) dir=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown argument '$1' (see --help)" ;;
    *) dir=$1; shift ;;
  esac
done
[ -d "$dir" ] || die "no test environment at $dir"
dir=$(cd "$dir" && pwd)
testenv_load "$dir"
[ "$extra_args_now" = __unset__ ] || APISERVER_EXTRA_ARGS=$extra_args_now
ETCD_BIN_PATH=${ETCD_BIN_PATH:?}
proc_alive "$dir/run/etcd.pid" "$ETCD_BIN_PATH" "$dir" || die "etcd of $dir is not running; use up.sh"

proc_stop "$dir/run/kube-apiserver.pid" "$KUBE_APISERVER_BIN" "$dir" kube-apiserver 30
# The old process has let go of the port; anything else on it now would make the start fail.
for _ in $(seq 1 50); do
  port_in_use_listen "$APISERVER_PORT" || break
  sleep 0.1
done
port_in_use_listen "$APISERVER_PORT" && die "port $APISERVER_PORT is taken by another program; cannot restart on it"
testenv_apiserver_start "$dir"
testenv_apiserver_wait "$dir"
testenv_write_env "$dir"
