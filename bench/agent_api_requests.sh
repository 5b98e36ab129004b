#!/usr/bin/env bash
# Benchmark (not a test): what an idle agent costs the API server. Starts the test control plane
# with an audit log of every request the agent's user makes, runs schedkit-agent in cluster mode
# against it for IDLE minutes (default 10) after a first policy was applied, and reports the
# requests by verb and resource: the expectation is one list + watch per resource, re-watches when
# the server ends a watch (timeoutSeconds, 5-10 min), no re-lists and no writes.
#   bench/agent_api_requests.sh [--idle-minutes 10]
# Needs a build (SCHEDKIT_BUILD, default build/ci) with schedkit-agent.
set -euo pipefail
source "$(dirname "$0")/../hack/lib/common.sh"
minutes=10
while [ $# -gt 0 ]; do
  case $1 in
    --idle-minutes) minutes=$2; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
build=${SCHEDKIT_BUILD:-$SCHEDKIT_ROOT/build/ci}
agent=$build/agent/schedkit-agent
[ -x "$agent" ] || die "$agent missing: build first"
dir=$(mktemp -d)
trap '"$SCHEDKIT_ROOT/hack/testenv/down.sh" --dir "$dir/env" >/dev/null 2>&1 || true; kill $apid 2>/dev/null || true' EXIT
mkdir -p "$dir/env"
user=schedkit-bench-agent
cat >"$dir/audit-policy.yaml" <<YAML
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [ResponseStarted, ResponseComplete, Panic]
rules:
- level: Metadata
  users: [$user]
- level: None
YAML
APISERVER_EXTRA_ARGS="--audit-policy-file=$dir/audit-policy.yaml --audit-log-path=$dir/audit.log --audit-log-format=json" \
  "$SCHEDKIT_ROOT/hack/testenv/up.sh" --dir "$dir/env" >/dev/null
# shellcheck disable=SC1091
source "$dir/env/env"
export KUBECONFIG
kc=$("$SCHEDKIT_ROOT/hack/testenv/kubeconfig.sh" --dir "$dir/env" --user "$user" --group system:masters)
kubectl create -f - >/dev/null <<YAML
apiVersion: v1
kind: Node
metadata: {name: bench-node, labels: {schedkit.io/pool: bench}}
YAML
kubectl apply -f "$SCHEDKIT_ROOT/crds/samples/test-fifo-hostpath.yaml" >/dev/null
"$agent" --kubeconfig "$kc" --node-name bench-node --state-dir "$dir/state" --log-level warn \
  >"$dir/agent.log" 2>&1 &
apid=$!
sleep 15   # start-up: lists, watches, the first status write and events
start_lines=$(wc -l <"$dir/audit.log")
log "agent settled; measuring $minutes idle minutes"
sleep $((minutes * 60))
kill -TERM $apid; wait $apid 2>/dev/null || true
report() {  # FROM_LINE TO_LINE
  sed -n "$1,$2p" "$dir/audit.log" | jq -r 'select(.stage == "RequestReceived") |
    "\(.verb) \(.objectRef.resource // .requestURI)\(if .objectRef.subresource then "/" + .objectRef.subresource else "" end)"' |
    sort | uniq -c | sort -rn | sed 's/^/    /'
}
total=$(wc -l <"$dir/audit.log")
echo "schedkit agent → API server requests (kube-apiserver $KUBE_VERSION, audit log), $(date -u +%F)"
echo "  start-up (first 15 s: list + watch, the node state created and its status applied, events):"
report 1 "$start_lines"
echo "  then $minutes idle minutes:"
idle=$(report $((start_lines + 1)) "$total")
if [ -z "$idle" ]; then echo "    (none)"; else echo "$idle"; fi
echo "  idle writes: $writes   idle re-lists: $relists"
