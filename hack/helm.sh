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
prefix=$SCHEDKIT_CACHE/helm-$version
bin=$prefix/bin/helm
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || die "go is needed to build helm"
export GOMODCACHE=$SCHEDKIT_CACHE/go/mod GOCACHE=$SCHEDKIT_CACHE/go/build GOTOOLCHAIN=local
export GOPATH=$SCHEDKIT_CACHE/go/path
mkdir -p "$GOMODCACHE" "$GOCACHE" "$prefix"
# Two tests may ask at once: one builds, the other waits for it.
exec 9>"$prefix/.lock"
flock 9
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
log "building helm $version into $prefix (once; log in $prefix/build.log)"
# GOBIN to a temp dir first so a failed or interrupted build never leaves a half binary at $bin.
tmp=$(mktemp -d "$prefix/.gobin.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# The version stamp makes `helm version` report the release instead of "v3.x+unreleased".
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
if ! GOBIN=$tmp CGO_ENABLED=0 nice go install -trimpath -ldflags "$ldflags" \
  "helm.sh/helm/v3/cmd/helm@$version" >"$prefix/build.log" 2>&1; then
  tail -20 "$prefix/build.log" >&2
  die "go install helm.sh/helm/v3/cmd/helm@$version failed"
fi
mkdir -p "$prefix/bin"
mv "$tmp/helm" "$bin"
"$bin" version --short >/dev/null 2>&1 || die "the built helm does not run"
echo "$bin"
