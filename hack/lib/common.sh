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
