#!/usr/bin/env bash
# Prints the path of kube-apiserver KUBE_VERSION, building it first when it is not cached.
#   hack/testenv/build-kube-apiserver.sh            build (or reuse) KUBE_VERSION
#   KUBE_VERSION=v1.34.4 hack/testenv/build-kube-apiserver.sh
# A wrapper kept for its callers: hack/testenv/build-kube.sh does the work (it builds the other
# Kubernetes binaries too, into the same $SCHEDKIT_CACHE/kube-<version>/bin/).
set -euo pipefail
bindir=$("$(dirname "$0")/build-kube.sh" kube-apiserver)
echo "$bindir/kube-apiserver"
