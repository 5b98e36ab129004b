# Shared helpers for hack/ scripts. Source this file; it defines no side effects beyond variables.
# shellcheck shell=bash

SCHEDKIT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Downloads and built tools live here, keyed by version, so a second run needs no network.
SCHEDKIT_CACHE=${SCHEDKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/schedkit}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export SCHEDKIT_ROOT SCHEDKIT_CACHE

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Runs apt-get against a private source list and state dir so the host's own
# bookworm install is never touched. $1 = name (e.g. trixie), $2 = source lines.
# Usage: foreign_apt trixie "deb $DEBIAN_MIRROR trixie main" -- download pkg
foreign_apt() {
  local name=$1 sources=$2; shift 2; [ "${1:-}" = -- ] && shift
  local dir=$SCHEDKIT_CACHE/apt-$name
  mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/etc/preferences.d"
  printf '%s\n' "$sources" >"$dir/etc/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$dir/etc/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache::Archives=$dir/archives"
    -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$dir/etc/preferences.d"
    -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  # Refresh the index at most once a day; versions rotate in the archive.
  if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
    apt-get "${opts[@]}" -qq update >/dev/null || return 1
  fi
  apt-get "${opts[@]}" "$@"
}
foreign_apt_cache() {
  local name=$1; shift
  local dir=$SCHEDKIT_CACHE/apt-$name
  apt-cache -o "Dir::Etc::SourceList=$dir/etc/sources.list" -o "Dir::Etc::SourceParts=/dev/null" \
    -o "Dir::State::Lists=$dir/lists" -o "Dir::Etc::Preferences=/dev/null" \
    -o "Dir::Etc::PreferencesParts=$dir/etc/preferences.d" "$@"
}

# go_tool NAME VERSION PACKAGE [LDFLAGS] [CHECK_ARGS...]: prints the path of NAME built with
# `go install PACKAGE@VERSION` into $SCHEDKIT_CACHE/NAME-VERSION/bin, building it the first time.
# Go's module and build caches live under $SCHEDKIT_CACHE/go, so a rebuild needs no network.
# Concurrent callers wait for one build; a failed or interrupted build leaves no binary behind.
# The built binary must run with CHECK_ARGS (default: version).
go_tool() {
  local name=$1 version=$2 pkg=$3 ldflags=${4:-} prefix bin tmp; shift 3; [ $# -gt 0 ] && shift
  local check=("$@"); [ ${#check[@]} -gt 0 ] || check=(version)
  prefix=$SCHEDKIT_CACHE/$name-$version
  bin=$prefix/bin/$name
  [ -x "$bin" ] && { echo "$bin"; return 0; }
  command -v go >/dev/null || die "go is needed to build $name"
  mkdir -p "$prefix"
  exec {lock}>"$prefix/.lock"
  flock "$lock"
  if [ ! -x "$bin" ]; then
    log "building $name $version into $prefix (once; log in $prefix/build.log)"
    tmp=$(mktemp -d "$prefix/.gobin.XXXXXX")
    if ! GOMODCACHE=$SCHEDKIT_CACHE/go/mod GOCACHE=$SCHEDKIT_CACHE/go/build \
      GOPATH=$SCHEDKIT_CACHE/go/path GOTOOLCHAIN=local GOBIN=$tmp CGO_ENABLED=0 \
      nice go install -trimpath -ldflags "-s -w $ldflags" "$pkg@$version" >"$prefix/build.log" 2>&1; then
      rm -rf "$tmp"
      tail -20 "$prefix/build.log" >&2
      die "go install $pkg@$version failed"
    fi
    mkdir -p "$prefix/bin"
    mv "$tmp/$name" "$bin"
    rm -rf "$tmp"
    "$bin" "${check[@]}" >/dev/null 2>&1 || { rm -f "$bin"; die "the built $name does not run"; }
  fi
  exec {lock}>&-
  echo "$bin"
}
