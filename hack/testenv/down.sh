#!/usr/bin/env bash
# Stops the kube-apiserver and etcd that hack/testenv/up.sh started (SIGTERM, wait, then SIGKILL).
#   hack/testenv/down.sh [--dir DIR] [--purge]
# Keeps DIR (etcd data, PKI, kubeconfigs, logs) so up.sh can start again where it stopped;
# --purge removes DIR as well. Quiet and successful when nothing is running.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

usage() { sed -n '2,5s/^# \{0,1\}//p' "$0"; }
dir=$TESTENV_DIR_DEFAULT purge=
while [ $# -gt 0 ]; do
  case $1 in
    --dir) [ $# -ge 2 ] || die "--dir needs a value"; dir=$2; shift 2 ;;
    --dir=*) dir=${1#*=}; shift ;;
    --purge) purge=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ -d "$dir" ] || exit 0
dir=$(cd "$dir" && pwd)

apiserver_bin= etcd_bin=
if [ -s "$dir/env" ]; then
  apiserver_bin=$(set +u; . "$dir/env"; echo "${KUBE_APISERVER_BIN:-}")
  etcd_bin=$(set +u; . "$dir/env"; echo "${ETCD_BIN_PATH:-}")
fi
# Without an env file (up.sh stopped half-way) fall back to the program the pid file names.
pid_program() { readlink "/proc/$(cat "$1" 2>/dev/null)/exe" 2>/dev/null || true; }
[ -n "$apiserver_bin" ] || apiserver_bin=$(pid_program "$dir/run/kube-apiserver.pid")
[ -n "$etcd_bin" ] || etcd_bin=$(pid_program "$dir/run/etcd.pid")

[ -z "$apiserver_bin" ] || proc_stop "$dir/run/kube-apiserver.pid" "$apiserver_bin" "$dir" kube-apiserver 30
[ -z "$etcd_bin" ] || proc_stop "$dir/run/etcd.pid" "$etcd_bin" "$dir" etcd 20

if [ -n "$purge" ]; then
  # Refuse to remove anything that does not look like a test environment.
  [ -e "$dir/env" ] || [ -d "$dir/pki" ] || [ -d "$dir/etcd" ] ||
    die "$dir does not look like a test environment (no env, pki/ or etcd/); not removing it"
  rm -rf "$dir"
fi
