#!/usr/bin/env bash
# Stops what hack/testenv/up.sh started (SIGTERM, wait, then SIGKILL): kube-scheduler and
# kube-controller-manager (--controllers), kube-apiserver and etcd.
#   hack/testenv/down.sh [--dir DIR] [--purge]
# Keeps DIR (etcd data, PKI, kubeconfigs, logs) so up.sh can start again where it stopped;
# --purge removes DIR as well. Quiet and successful when nothing is running.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

usage() { sed -n '2,6s/^# \{0,1\}//p' "$0"; }
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

proc_stop_recorded "$dir" KUBE_SCHEDULER_BIN kube-scheduler kube-scheduler 20
proc_stop_recorded "$dir" KUBE_CONTROLLER_MANAGER_BIN kube-controller-manager kube-controller-manager 20
proc_stop_recorded "$dir" KUBE_APISERVER_BIN kube-apiserver kube-apiserver 30
proc_stop_recorded "$dir" ETCD_BIN_PATH etcd etcd 20

if [ -n "$purge" ]; then
  # Refuse to remove anything that does not look like a test environment.
  [ -e "$dir/env" ] || [ -d "$dir/pki" ] || [ -d "$dir/etcd" ] ||
    die "$dir does not look like a test environment (no env, pki/ or etcd/); not removing it"
  rm -rf "$dir"
fi
