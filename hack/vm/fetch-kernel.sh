#!/usr/bin/env bash
# Downloads (never installs) a Debian trixie-backports kernel with sched_ext and caches what the VM
# tests need. Prints the cache directory on stdout; a second run is silent and needs no network.
#
#   hack/vm/fetch-kernel.sh [SERIES]        SERIES = 6.18 (default, LTS) | 6.16 | 6.19 | other X.Y
#   SCHEDKIT_KERNEL_VERSION=6.18.12 hack/vm/fetch-kernel.sh 6.18   pin one release of the series
#
# Cache layout, $SCHEDKIT_CACHE/kernels/<release>/ (release as in `uname -r`, e.g. 6.18.15+deb13-amd64):
#   vmlinuz   the bootable image          vmlinux   the uncompressed ELF, for BTF
#   config    the kernel config (absent from 6.19 on: Debian ships no config with linux-binary-*)
#   modules/  failover.ko net_failover.ko virtio_net.ko, xz-decompressed (when the package has them)
#   package   the Debian package and version it came from
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
  if [ -n "$preferred" ] && [ -f "$SCHEDKIT_KERNELS/$preferred+$FLAVOUR/.done" ]; then
    echo "$SCHEDKIT_KERNELS/$preferred+$FLAVOUR"; return 0
  fi
  [ -n "${SCHEDKIT_KERNEL_VERSION:-}" ] && return 1
  d=$(ls -d "$SCHEDKIT_KERNELS/$series".*"+$FLAVOUR/.done" 2>/dev/null | sort -V | tail -1)
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
out=$tmp/out
mkdir -p "$out/modules" "$tmp/x"
patterns=('./boot/*')
for m in "${NET_MODULES[@]}"; do patterns+=("*/$m.ko*"); done
# tar fails on patterns that match nothing (no modules from 6.19 on); the checks below judge.
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" --wildcards "${patterns[@]}" 2>/dev/null || true
[ -f "$tmp/x/boot/vmlinuz-$release" ] || die "$pkg holds no boot/vmlinuz-$release"
mv "$tmp/x/boot/vmlinuz-$release" "$out/vmlinuz"
[ ! -f "$tmp/x/boot/config-$release" ] || mv "$tmp/x/boot/config-$release" "$out/config"
for m in "${NET_MODULES[@]}"; do
  f=$(find "$tmp/x" -name "$m.ko*" | head -1)
  [ -n "$f" ] || continue
  case $f in
    *.xz) xz -dc "$f" >"$out/modules/$m.ko" ;;
    *.zst) zstd -dcq "$f" >"$out/modules/$m.ko" ;;
    *) cp "$f" "$out/modules/$m.ko" ;;
  esac
done
rmdir "$out/modules" 2>/dev/null || true
extract_vmlinux "$out/vmlinuz" "$out/vmlinux"

# The kernel must have sched_ext: the config says so directly; without one, BTF must know the ops.
if [ -f "$out/config" ]; then
  grep -qx 'CONFIG_SCHED_CLASS_EXT=y' "$out/config" || die "$release lacks CONFIG_SCHED_CLASS_EXT=y"
else
  bpftool btf dump file "$out/vmlinux" format raw | grep >/dev/null "STRUCT 'sched_ext_ops'" ||
    die "$release has no struct sched_ext_ops in its BTF (no sched_ext)"
fi
printf '%s %s\n' "$pkg" "$(dpkg-deb -f "$deb" Version)" >"$out/package"
touch "$out/.done"

rm -rf "${SCHEDKIT_KERNELS:?}/$release"
mv "$out" "$SCHEDKIT_KERNELS/$release"
echo "$SCHEDKIT_KERNELS/$release"
