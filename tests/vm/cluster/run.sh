#!/usr/bin/env bash
# Host half of the cluster-mode VM tests: the kube_testenv fixture's kube-apiserver runs on the
# host; this script mints a kubeconfig that reaches it from the guest (https://10.0.2.2:PORT),
# creates the guest's Node object, and boots the VM (hack/vm/run.sh) with the agent, kubectl and
# the kubeconfig inside. The guest script drives the test with kubectl, as a user would.
#   tests/vm/cluster/run.sh NODE [run.sh options] -- GUEST_SCRIPT [ARGS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
node=$1; shift
env_dir=${SCHEDKIT_KUBE_TESTENV:?run through ctest: the kube_testenv fixture sets SCHEDKIT_KUBE_TESTENV}
# shellcheck disable=SC1091
source "$env_dir/env"
export KUBECONFIG
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$root/hack/testenv/kubeconfig.sh" --dir "$env_dir" --user "schedkit-vm-admin" \
  --group system:masters --guest --out "$work/kubeconfig" >/dev/null
# A fresh node: no state or policies from an earlier run.
kubectl delete schedulerpolicies --all --wait=false >/dev/null 2>&1 || true
kubectl delete schedulernodestate "$node" --ignore-not-found >/dev/null
kubectl delete node "$node" --ignore-not-found >/dev/null
kubectl create -f - >/dev/null <<YAML
apiVersion: v1
kind: Node
metadata: {name: $node, labels: {schedkit.io/pool: vm}}
YAML
exec "$root/hack/vm/run.sh" --net --env "NODE_NAME=$node" \
  --file "$work/kubeconfig:/etc/schedkit/kubeconfig" "$@"
