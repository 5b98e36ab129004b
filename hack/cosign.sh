#!/usr/bin/env bash
# Prints the path of a cosign binary, building it first with `go install` into the schedkit cache
# ($SCHEDKIT_CACHE/cosign-<version>/bin/cosign) when it is not there. Used by the OCI integration
# tests to sign images with the real cosign CLI.
#   hack/cosign.sh              COSIGN_VERSION=v2.x.y overrides the default version
# Go's module and build caches live under $SCHEDKIT_CACHE/go, so a second build needs no network.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

case ${1:-} in
  -h | --help) sed -n '2,6s/^# \{0,1\}//p' "$0"; exit 0 ;;
esac
version=${COSIGN_VERSION:-v2.6.5}
prefix=$SCHEDKIT_CACHE/cosign-$version
bin=$prefix/bin/cosign
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || die "go is needed to build cosign"
export GOMODCACHE=$SCHEDKIT_CACHE/go/mod GOCACHE=$SCHEDKIT_CACHE/go/build GOTOOLCHAIN=local
export GOPATH=$SCHEDKIT_CACHE/go/path
mkdir -p "$GOMODCACHE" "$GOCACHE" "$prefix"
log "building cosign $version into $prefix (once; log in $prefix/build.log)"
# GOBIN to a temp dir first so a failed or interrupted build never leaves a half binary at $bin.
tmp=$(mktemp -d "$prefix/.gobin.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! GOBIN=$tmp CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
  "github.com/sigstore/cosign/v2/cmd/cosign@$version" >"$prefix/build.log" 2>&1; then
  tail -20 "$prefix/build.log" >&2
  die "go install cosign@$version failed"
fi
mkdir -p "$prefix/bin"
mv "$tmp/cosign" "$bin"
"$bin" version >/dev/null 2>&1 || die "the built cosign does not run"
echo "$bin"
