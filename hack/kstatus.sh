#!/usr/bin/env bash
# Judges Kubernetes objects with the real kstatus library (sigs.k8s.io/cli-utils), as GitOps tools
# do: reads an object or a List as JSON on stdin and prints "<name> <Status> <message>" for each.
#   kubectl get sp NAME -o json | hack/kstatus.sh --expect Current    exit 1 unless all are Current
#   hack/kstatus.sh --print-path                                      the binary's path
# Builds hack/kstatus once into $SCHEDKIT_CACHE/kstatus-<cli-utils version>/bin/kstatus; quiet then.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib/common.sh"

src=$SCHEDKIT_ROOT/hack/kstatus
version=$(awk '$1 == "sigs.k8s.io/cli-utils" { print $2 }' "$src/go.mod")
[ -n "$version" ] || die "no sigs.k8s.io/cli-utils requirement in $src/go.mod"
prefix=$SCHEDKIT_CACHE/kstatus-$version
bin=$prefix/bin/kstatus
# The directory is named by the library version alone, so an edit to main.go must still rebuild.
sources=$(cd "$src" && cat go.mod go.sum main.go | sha256sum | cut -d' ' -f1)
fresh() { [ -x "$bin" ] && [ "$(cat "$prefix/source.sha256" 2>/dev/null)" = "$sources" ]; }

# go_tool installs pkg@version from the proxy; this is its equivalent for a module in the tree.
build() {
  command -v go >/dev/null || die "go is needed to build kstatus"
  mkdir -p "$prefix"
  exec {lock}>"$prefix/.lock"
  flock "$lock"
  if ! fresh; then
    log "building kstatus (cli-utils $version) into $prefix (once; log in $prefix/build.log)"
    local tmp; tmp=$(mktemp -d "$prefix/.build.XXXXXX")
    if ! (cd "$src" && GOMODCACHE=$SCHEDKIT_CACHE/go/mod GOCACHE=$SCHEDKIT_CACHE/go/build \
      GOPATH=$SCHEDKIT_CACHE/go/path GOTOOLCHAIN=local GOFLAGS=-mod=readonly GOWORK=off \
      CGO_ENABLED=0 nice go build -trimpath -ldflags "-s -w" -o "$tmp/kstatus" .) \
      >"$prefix/build.log" 2>&1; then
      rm -rf "$tmp"
      tail -20 "$prefix/build.log" >&2
      die "building kstatus failed"
    fi
    "$tmp/kstatus" --help >/dev/null 2>&1 || { rm -rf "$tmp"; die "the built kstatus does not run"; }
    mkdir -p "$prefix/bin"
    mv "$tmp/kstatus" "$bin"
    echo "$sources" >"$prefix/source.sha256"
    rm -rf "$tmp"
  fi
  exec {lock}>&-
}

fresh || build
if [ "${1:-}" = --print-path ]; then
  [ $# -eq 1 ] || die "--print-path takes no other arguments"
  echo "$bin"
  exit 0
fi
exec "$bin" "$@"
