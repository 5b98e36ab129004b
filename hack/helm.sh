#!/usr/bin/env bash
# Prints the path of a helm binary, building it first with `go install` into the schedkit cache
# ($SCHEDKIT_CACHE/helm-<version>/bin/helm) when it is not there. Used by the chart's integration
# test (helm lint, helm template); the machine has no helm and release downloads are unreachable,
# but the Go module proxy serves helm.sh/helm/v3.
#   hack/helm.sh               HELM_VERSION=v3.x.y overrides the default version
# Go's module and build caches live under $SCHEDKIT_CACHE/go, so a second build needs no network.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

case ${1:-} in
  "") ;;
  -h | --help) sed -n '2,7s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) die "unknown argument '$1' (see --help)" ;;
esac
version=${HELM_VERSION:-v3.22.0}
[[ $version =~ ^v3\.[0-9]+\.[0-9]+$ ]] || die "HELM_VERSION must look like v3.22.0, not '$version'"
# The version stamp makes `helm version` report the release instead of "v3.x+unreleased".
go_tool helm "$version" helm.sh/helm/v3/cmd/helm \
  "-X helm.sh/helm/v3/internal/version.version=$version" version --short
