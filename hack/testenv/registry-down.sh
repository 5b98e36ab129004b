#!/usr/bin/env bash
# Stops the registry (and token server) that hack/testenv/registry-up.sh started.
#   hack/testenv/registry-down.sh [--dir DIR] [--purge]
# Keeps DIR (storage, PKI, config, logs); --purge removes DIR as well. Quiet when nothing runs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

usage() { sed -n '2,4s/^# \{0,1\}//p' "$0"; }
dir=$TESTENV_REGISTRY_DIR_DEFAULT purge=
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

proc_stop_recorded "$dir" REGISTRY_BIN registry docker-registry 20
proc_stop_recorded "$dir" TOKEN_SERVER_BIN tokenserver tokenserver 10
rm -f "$dir/run/mode"

if [ -n "$purge" ]; then
  [ -e "$dir/config.yml" ] || [ -d "$dir/pki" ] || [ -d "$dir/data" ] ||
    die "$dir does not look like a test registry (no config.yml, pki/ or data/); not removing it"
  rm -rf "$dir"
fi
