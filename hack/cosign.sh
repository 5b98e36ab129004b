#!/usr/bin/env bash
# Prints the path of a cosign binary, building it first with `go install` into the schedkit cache
# ($SCHEDKIT_CACHE/cosign-<version>/bin/cosign) when it is not there. Used by the OCI integration
# tests to sign images with the real cosign CLI.
#   hack/cosign.sh              COSIGN_VERSION=v2.x.y overrides the default version
# Go's module and build caches live under $SCHEDKIT_CACHE/go, so a second build needs no network.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

case ${1:-} in
  "") ;;
  -h | --help) sed -n '2,6s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) die "unknown argument '$1' (see --help)" ;;
esac
version=${COSIGN_VERSION:-v2.6.5}
[[ $version =~ ^v2\.[0-9]+\.[0-9]+$ ]] || die "COSIGN_VERSION must look like v2.6.5, not '$version'"
go_tool cosign "$version" github.com/sigstore/cosign/v2/cmd/cosign
