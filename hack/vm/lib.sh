# Helpers shared by the hack/vm scripts. Source after hack/lib/common.sh.
# shellcheck shell=bash

# shellcheck disable=SC2034  # used by the scripts that source this file
SCHEDKIT_KERNELS=$SCHEDKIT_CACHE/kernels

# set -e exits silently; say which command failed instead.
trap 'log "error: \"$BASH_COMMAND\" failed (line $LINENO)"' ERR

# Writes the uncompressed ELF vmlinux held in a Debian vmlinuz ($1) to $2. Debian compresses the
# payload with zstd: try each zstd frame magic (28 b5 2f fd) until one decompresses to an ELF with
# BTF. zstd exits non-zero on the bytes that trail the frame, so judge by the result instead.
extract_vmlinux() {
  local vmlinuz=$1 out=$2 off
  [ -r "$vmlinuz" ] || die "no kernel image at $vmlinuz"
  for off in $(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$vmlinuz" | cut -d: -f1); do
    tail -c +$((off + 1)) "$vmlinuz" | zstd -dcq 2>/dev/null >"$out.tmp" || true
    if [ "$(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] &&
      readelf -S "$out.tmp" 2>/dev/null | grep >/dev/null '[[:space:]]\.BTF[[:space:]]'; then
      mv "$out.tmp" "$out"
      return 0
    fi
  done
  rm -f "$out.tmp"
  die "no zstd-compressed ELF with BTF found in $vmlinuz"
}
