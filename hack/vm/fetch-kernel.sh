#!/usr/bin/env bash
# Downloads (never installs) a Debian trixie-backports kernel with sched_ext and caches what the VM
# tests need. Prints the cache directory on stdout; a second run is silent and needs no network.
#
#   hack/vm/fetch-kernel.sh [SERIES]        SERIES = 6.18 (default, LTS) | 6.16 | 6.19 | other X.Y
#   SCHEDKIT_KERNEL_VERSION=6.18.12 hack/vm/fetch-kernel.sh 6.18   pin one release of the series
#
# Cache layout, $SCHEDKIT_CACHE/kernels/<release>/ (release as in `uname -r`, e.g. 6.18.15+deb13-amd64):
#   vmlinuz   the bootable image          vmlinux   the uncompressed ELF, for BTF
#   config    the kernel config, as /boot/config-<release> on a Debian node (libbpf reads it)
#   modules/  failover.ko net_failover.ko virtio_net.ko, xz-decompressed
#   package   the Debian package(s) and version it came from
# From 6.19 Debian splits the kernel: linux-binary-* (vmlinuz), linux-base-* (config) and
# linux-modules-* (modules). trixie-backports' index lists only linux-binary-*, but the pool has
# all three at the version linux-binary's Built-Using names, so the other two come from there.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/lib.sh"

series=${1:-6.18}
[[ $series =~ ^[0-9]+\.[0-9]+$ ]] || die "usage: $0 [6.18|6.16|6.19]  (got '$series')"

# Releases checked by hand (notes/vm-sched-ext.md); anything newer in the same series also works.
declare -A PREFERRED=([6.16]=6.16.12 [6.18]=6.18.15 [6.19]=6.19.14)
preferred=${SCHEDKIT_KERNEL_VERSION:-${PREFERRED[$series]:-}}
[ -z "$preferred" ] || [[ $preferred == "$series".* ]] ||
  die "SCHEDKIT_KERNEL_VERSION=$preferred is not in series $series"

FLAVOUR=deb13-amd64
APT_NAME=trixie-backports
APT_SOURCES="deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $DEBIAN_MIRROR trixie-backports main"
NET_MODULES=(failover net_failover virtio_net)

cached() {  # newest complete cache dir of the series, the preferred release first
  local d
  # Complete = .done and a config (caches from before the split packages were known lack it).
  if [ -n "$preferred" ] && [ -f "$SCHEDKIT_KERNELS/$preferred+$FLAVOUR/.done" ] &&
    [ -f "$SCHEDKIT_KERNELS/$preferred+$FLAVOUR/config" ]; then
    echo "$SCHEDKIT_KERNELS/$preferred+$FLAVOUR"; return 0
  fi
  [ -n "${SCHEDKIT_KERNEL_VERSION:-}" ] && return 1
  d=$(ls -d "$SCHEDKIT_KERNELS/$series".*"+$FLAVOUR/config" 2>/dev/null | sort -V | while read -r c; do
    [ -f "$(dirname "$c")/.done" ] && echo "$c"; done | tail -1)
  [ -n "$d" ] && dirname "$d"
}

if dir=$(cached); then echo "$dir"; exit 0; fi

mkdir -p "$SCHEDKIT_KERNELS"
exec 9>"$SCHEDKIT_KERNELS/.lock"
flock 9
if dir=$(cached); then echo "$dir"; exit 0; fi  # another run fetched it while we waited

apt_() { foreign_apt "$APT_NAME" "$APT_SOURCES" -- "$@"; }
apt_ -qq check >/dev/null || die "could not read the trixie-backports index"
names=$(foreign_apt_cache "$APT_NAME" pkgnames "linux-" | grep -E "^linux-(image|binary)-$series\.[0-9]+\+$FLAVOUR\$" || true)
mapfile -t versions < <(sed -E "s/^linux-(image|binary)-(.*)\+$FLAVOUR\$/\2/" <<<"$names" | sort -Vru)
[ ${#versions[@]} -gt 0 ] && [ -n "${versions[0]}" ] ||
  die "trixie-backports has no linux-image-$series.*+$FLAVOUR (versions rotate; try another series)"
candidates=()
[ -n "$preferred" ] && grep -qx "$preferred" < <(printf "%s\n" "${versions[@]}") && candidates+=("$preferred")
[ -n "${SCHEDKIT_KERNEL_VERSION:-}" ] || candidates+=("${versions[@]}")
[ ${#candidates[@]} -gt 0 ] || die "trixie-backports has no $preferred; it offers: ${versions[*]}"
[ -z "$preferred" ] || [ "${candidates[0]}" = "$preferred" ] ||
  log "preferred $preferred is gone from trixie-backports; falling back to ${candidates[0]}"

tmp=$(mktemp -d "$SCHEDKIT_KERNELS/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

deb=
for v in "${candidates[@]}"; do
  # From 6.19 linux-image-* is a metapackage; the image itself is in linux-binary-*.
  if grep -qx "linux-binary-$v+$FLAVOUR" <<<"$names"; then pkg=linux-binary-$v+$FLAVOUR
  else pkg=linux-image-$v+$FLAVOUR; fi
  log "downloading $pkg from trixie-backports"
  if (cd "$tmp" && apt_ download -qq "$pkg" >/dev/null 2>"$tmp/apt.err"); then
    deb=$(ls "$tmp"/*.deb); version=$v; break
  fi
  log "could not download $pkg: $(tr '\n' ' ' <"$tmp/apt.err")"
done
[ -n "$deb" ] || die "no $series kernel could be downloaded"

release=$version+$FLAVOUR
debs=("$deb")
if [[ $pkg == linux-binary-* ]]; then
  # The split layout: config and modules from the pool, at the source version linux-binary was
  # built from ("Built-Using: linux (= 6.19.14-1~bpo13+1)").
  srcver=$(dpkg-deb -f "$deb" Built-Using | sed -n 's/.*linux (= \([^)]*\)).*/\1/p')
  [ -n "$srcver" ] || die "$pkg names no linux source version in Built-Using"
  for part in base modules; do
    p=linux-$part-$release
    url=$DEBIAN_MIRROR/pool/main/l/linux/${p}_${srcver}_amd64.deb
    log "downloading $p $srcver from the pool (not in the trixie-backports index)"
    curl -fsSL --retry 3 -o "$tmp/$p.deb" "$url" || die "could not download $url"
    debs+=("$tmp/$p.deb")
  done
fi
out=$tmp/out
mkdir -p "$out/modules" "$tmp/x"
patterns=('./boot/*')
for m in "${NET_MODULES[@]}"; do patterns+=("*/$m.ko*"); done
# tar fails on patterns that match nothing (each split package holds only some); checks below judge.
for d in "${debs[@]}"; do
  dpkg-deb --fsys-tarfile "$d" | tar -x -C "$tmp/x" --wildcards "${patterns[@]}" 2>/dev/null || true
done
[ -f "$tmp/x/boot/vmlinuz-$release" ] || die "$pkg holds no boot/vmlinuz-$release"
mv "$tmp/x/boot/vmlinuz-$release" "$out/vmlinuz"
[ -f "$tmp/x/boot/config-$release" ] || die "no boot/config-$release in ${debs[*]##*/}"
mv "$tmp/x/boot/config-$release" "$out/config"
for m in "${NET_MODULES[@]}"; do
  f=$(find "$tmp/x" -name "$m.ko*" | head -1)
  [ -n "$f" ] || die "no $m.ko in ${debs[*]##*/}"
  case $f in
    *.xz) xz -dc "$f" >"$out/modules/$m.ko" ;;
    *.zst) zstd -dcq "$f" >"$out/modules/$m.ko" ;;
    *) cp "$f" "$out/modules/$m.ko" ;;
  esac
done
extract_vmlinux "$out/vmlinuz" "$out/vmlinux"

grep -qx 'CONFIG_SCHED_CLASS_EXT=y' "$out/config" || die "$release lacks CONFIG_SCHED_CLASS_EXT=y"
for d in "${debs[@]}"; do printf '%s %s\n' "$(dpkg-deb -f "$d" Package)" "$(dpkg-deb -f "$d" Version)"; done >"$out/package"
touch "$out/.done"

rm -rf "${SCHEDKIT_KERNELS:?}/$release"
mv "$out" "$SCHEDKIT_KERNELS/$release"
echo "$SCHEDKIT_KERNELS/$release"
