#!/usr/bin/env bash
# Downloads (never installs) Debian bookworm's containerd, runc and CNI plugins for a Kubernetes
# node inside the test VM, and prints the cache directory that holds them. Nothing is installed on
# the host and no service starts; a second run is silent and needs no network.
#
#   hack/vm/fetch-node.sh
#   SCHEDKIT_NODE_CONTAINERD=1.6.20 SCHEDKIT_NODE_RUNC=1.1.5 SCHEDKIT_NODE_CNI=1.1.1 hack/vm/fetch-node.sh
#
# The variables name upstream versions; the newest Debian revision of each that bookworm (or
# bookworm-updates) offers is taken. Cache layout, $SCHEDKIT_CACHE/node/<versions>/:
#   bin/containerd bin/containerd-shim-runc-v2 bin/ctr bin/runc
#   cni/bridge cni/host-local cni/loopback     (Debian's /usr/lib/cni)
#   package                                    the packages and Debian versions
# The binaries are dynamically linked (runc needs libseccomp.so.2, which crun's dependencies put
# on the host): hack/vm/run.sh --bin adds the libraries ldd finds.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/lib.sh"

case ${1:-} in
  "") ;;
  -h | --help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) die "unknown argument '$1' (see --help)" ;;
esac

declare -A WANT=([containerd]=${SCHEDKIT_NODE_CONTAINERD:-1.6.20} [runc]=${SCHEDKIT_NODE_RUNC:-1.1.5}
  [containernetworking-plugins]=${SCHEDKIT_NODE_CNI:-1.1.1})
PKGS=(containerd runc containernetworking-plugins)
CNI_PLUGINS=(bridge host-local loopback)
APT_NAME=bookworm
KEYRING="signed-by=/usr/share/keyrings/debian-archive-keyring.gpg"
APT_SOURCES="deb [$KEYRING] $DEBIAN_MIRROR bookworm main
deb [$KEYRING] $DEBIAN_MIRROR bookworm-updates main"
NODE_CACHE=$SCHEDKIT_CACHE/node

# The cache dir is named by the upstream versions, so a cached set is found without the index.
key=containerd-${WANT[containerd]}_runc-${WANT[runc]}_cni-${WANT[containernetworking-plugins]}
dir=$NODE_CACHE/$key
if [ -f "$dir/.done" ]; then echo "$dir"; exit 0; fi

mkdir -p "$NODE_CACHE"
exec 9>"$NODE_CACHE/.lock"
flock 9
if [ -f "$dir/.done" ]; then echo "$dir"; exit 0; fi  # fetched by another run while we waited

apt_() { foreign_apt "$APT_NAME" "$APT_SOURCES" -- "$@"; }
apt_ -qq check >/dev/null || die "could not read the bookworm index"

tmp=$(mktemp -d "$NODE_CACHE/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for p in "${PKGS[@]}"; do
  up=${WANT[$p]}
  # Debian versions of this upstream release ("1.6.20~ds1-1+deb12u3" for 1.6.20), newest first.
  v=$(foreign_apt_cache "$APT_NAME" madison "$p" | awk -F'|' '{gsub(/ /, "", $2); print $2}' |
    grep -E "^(1:)?${up//./\\.}([~+-]|$)" | sort -Vru | head -1 || true)
  [ -n "$v" ] || die "bookworm offers no $p $up (it has: $(foreign_apt_cache "$APT_NAME" madison "$p" |
    awk -F'|' '{gsub(/ /, "", $2); printf "%s ", $2}'))"
  log "downloading $p $v from bookworm"
  (cd "$tmp" && apt_ download -qq "$p=$v" >/dev/null 2>"$tmp/apt.err") ||
    die "could not download $p=$v: $(tr '\n' ' ' <"$tmp/apt.err")"
done

out=$tmp/out
mkdir -p "$out/bin" "$out/cni" "$tmp/x"
for d in "$tmp"/*.deb; do dpkg-deb -x "$d" "$tmp/x"; done
for b in containerd containerd-shim-runc-v2 ctr; do
  [ -x "$tmp/x/usr/bin/$b" ] || die "the containerd package holds no /usr/bin/$b"
  mv "$tmp/x/usr/bin/$b" "$out/bin/$b"
done
r=$(find "$tmp/x/usr/sbin" "$tmp/x/usr/bin" -maxdepth 1 -name runc 2>/dev/null | head -1)
[ -n "$r" ] || die "the runc package holds no runc"
mv "$r" "$out/bin/runc"
for c in "${CNI_PLUGINS[@]}"; do
  [ -x "$tmp/x/usr/lib/cni/$c" ] || die "containernetworking-plugins holds no /usr/lib/cni/$c"
  mv "$tmp/x/usr/lib/cni/$c" "$out/cni/$c"
done
"$out/bin/containerd" --version >/dev/null 2>&1 || die "the extracted containerd does not run"
"$out/bin/runc" --version >/dev/null 2>&1 || die "the extracted runc does not run (libseccomp2 missing?)"
for d in "$tmp"/*.deb; do printf '%s %s\n' "$(dpkg-deb -f "$d" Package)" "$(dpkg-deb -f "$d" Version)"; done >"$out/package"
touch "$out/.done"

rm -rf "${dir:?}"
mv "$out" "$dir"
echo "$dir"
