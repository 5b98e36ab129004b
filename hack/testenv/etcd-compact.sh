#!/usr/bin/env bash
# Compacts the test environment's etcd history up to a revision (default: the current one), so
# that watches from older resourceVersions get "410 Gone" once kube-apiserver's watch cache no
# longer holds them (restart-apiserver.sh empties it). Prints the revision compacted to.
#   hack/testenv/etcd-compact.sh [--dir DIR] [REVISION]
# Uses etcd's own gRPC gateway (POST /v3/kv/compaction), so no etcdctl is needed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

usage() { sed -n '2,6s/^# \{0,1\}//p' "$0"; }
dir=$TESTENV_DIR_DEFAULT rev=
while [ $# -gt 0 ]; do
  case $1 in
    --dir) [ $# -ge 2 ] || die "--dir needs a value"; dir=$2; shift 2 ;;
    --dir=*) dir=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown argument '$1' (see --help)" ;;
    *) [[ $1 =~ ^[0-9]+$ ]] || die "REVISION must be a number, got '$1'"; rev=$1; shift ;;
  esac
done
testenv_load "$dir"

etcd_post() { # PATH JSON
  curl -fsS -m 30 -X POST -H 'Content-Type: application/json' -d "$2" "$ETCD_ENDPOINTS$1" ||
    die "etcd at $ETCD_ENDPOINTS did not answer POST $1"
}
# The current revision: the header of any range request (key "\0" matches nothing).
current=$(etcd_post /v3/kv/range '{"key":"AA==","limit":1}' | jq -r '.header.revision')
[[ $current =~ ^[0-9]+$ ]] || die "could not read etcd's current revision"
[ -n "$rev" ] || rev=$current
[ "$rev" -le "$current" ] || die "revision $rev is in the future (current $current)"
out=$(curl -sS -m 60 -X POST -H 'Content-Type: application/json' \
  -d "{\"revision\":\"$rev\",\"physical\":true}" "$ETCD_ENDPOINTS/v3/kv/compaction") ||
  die "etcd at $ETCD_ENDPOINTS did not answer the compaction request"
if jq -e 'has("error") or has("code")' <<<"$out" >/dev/null 2>&1; then
  msg=$(jq -r '.message // .error' <<<"$out")
  case $msg in
    *"required revision has been compacted"*) ;; # already compacted that far: nothing to do
    *) die "etcd refused to compact to $rev: $msg" ;;
  esac
fi
echo "$rev"
