#!/usr/bin/env bash
# Writes vmlinux.h (C types + kfunc prototypes) from a test kernel's BTF. For the build tree only:
# generated headers are never committed.
#
#   hack/vm/gen-vmlinux.sh <kernel-dir|series> <out.h>
#     kernel-dir  a fetch-kernel.sh cache dir (its vmlinux, or the BTF inside its vmlinuz)
#     series      6.18, 6.16, 6.19: fetched first with fetch-kernel.sh
# The output is replaced only when its content changes, so dependent BPF objects rebuild only then.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/lib.sh"

[ $# -eq 2 ] || die "usage: $0 <kernel-dir|series> <out.h>"
src=$1 out=$2
if [[ $src =~ ^[0-9]+\.[0-9]+$ ]]; then src=$("$(dirname "$0")/fetch-kernel.sh" "$src"); fi
[ -d "$src" ] || die "no kernel directory $src"
command -v bpftool >/dev/null || die "bpftool not found; run hack/deps.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vmlinux=$src/vmlinux
if [ ! -f "$vmlinux" ]; then
  vmlinux=$tmp/vmlinux
  extract_vmlinux "$src/vmlinuz" "$vmlinux"
fi
bpftool btf dump file "$vmlinux" format c >"$tmp/vmlinux.h" || die "bpftool could not read BTF from $vmlinux"
mkdir -p "$(dirname "$out")"
if ! cmp -s "$tmp/vmlinux.h" "$out"; then mv "$tmp/vmlinux.h" "$out"; fi
