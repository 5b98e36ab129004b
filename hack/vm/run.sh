#!/usr/bin/env bash
# Boots a sched_ext kernel in qemu with a throwaway initramfs, runs one guest job and exits with
# the job's status. The job's output (stdout+stderr) is printed on stdout after the VM stops.
#
#   hack/vm/run.sh [options] [--] SCRIPT [ARGS...]   run a POSIX sh script (busybox ash) in the guest
#   hack/vm/run.sh [options] --cmd 'COMMAND'         run one shell command line in the guest
#
# Options:
#   --kernel K          6.18 (default; or $SCHEDKIT_VM_KERNEL) | 6.16 | 6.19: fetched and cached
#                       by fetch-kernel.sh; or a kernel cache dir; or a bzImage path
#   --bzimage           boot the cache dir's vmlinuz; by default qemu boots its vmlinux ELF
#                       through the PVH entry, which skips seconds of decompression under TCG
#   --bin PATH[:GUEST]  add a host binary (default guest path /usr/bin/<name>) and every
#                       library `ldd` lists for it, plus the dynamic loader
#   --file PATH:GUEST   add a host file or directory at GUEST (absolute)
#   --env NAME=VALUE    export NAME in the job's environment
#   --net               virtio-net on a qemu user network: guest 10.0.2.15/24, host is 10.0.2.2
#   --hostfwd H:G       with --net: forward host tcp port H (on 127.0.0.1) to guest port G
#   --timeout SECONDS   kill the VM after this long (default 120)
#   --mem MIB --smp N   guest size (default 1024 MiB, 2 vCPUs)
#   --accel tcg|kvm     default tcg,thread=single: KVM fails on this machine class
#                       (notes/vm-sched-ext.md), and multi-threaded TCG oopsed 6.18 guests in
#                       jump-label patching while a scheduler was being disabled (docs/vm.md)
#   --append ARGS       extra kernel command line
#   --console FILE      keep the serial console log (kernel messages) in FILE
#   -v, --verbose       stream the serial console to stderr while the VM runs
#   --keep              keep the work directory (initramfs, logs) and print its path
#
# Exit status: the job's own status; 124 the VM timed out; 125 the harness failed (qemu did not
# start, the guest stopped without reporting a status, e.g. a kernel panic, or bad usage). On
# 124/125 the first kernel oops, or else the end of the console log, is printed on stderr.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/lib.sh"
VM_DIR=$(cd "$(dirname "$0")" && pwd)
# Harness failures exit 125 so that they never pass for the guest job's own status.
die() { log "error: $*"; exit 125; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-125}"; }

kernel=${SCHEDKIT_VM_KERNEL:-6.18} timeout=120 mem=1024 smp=2 accel=${SCHEDKIT_VM_ACCEL:-tcg,thread=single} append='' net='' keep=''
verbose='' console_keep='' cmd='' hostfwd=() bzimage=''
bins=() files=() envs=()
while [ $# -gt 0 ]; do
  case $1 in
    --kernel|--bin|--file|--env|--hostfwd|--timeout|--mem|--smp|--accel|--append|--console|--cmd)
      [ $# -ge 2 ] || die "$1 needs a value" ;;
  esac
  case $1 in
    --kernel) kernel=$2; shift 2 ;;
    --bin) bins+=("$2"); shift 2 ;;
    --file) files+=("$2"); shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --net) net=1; shift ;;
    --hostfwd) hostfwd+=("$2"); net=1; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --accel) accel=$2; shift 2 ;;
    --append) append+=" $2"; shift 2 ;;
    --console) console_keep=$2; shift 2 ;;
    --cmd) cmd=$2; shift 2 ;;
    -v|--verbose) verbose=1; shift ;;
    --keep) keep=1; shift ;;
    --bzimage) bzimage=1; shift ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    -*) log "unknown option $1"; usage ;;
    *) break ;;
  esac
done
if [ -n "$cmd" ]; then [ $# -eq 0 ] || die "give either --cmd or a SCRIPT, not both"
else [ $# -ge 1 ] || usage; script=$1; shift; [ -f "$script" ] || die "no guest script $script"; fi
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout wants seconds, got '$timeout'"
case ${accel%%,*} in tcg) cpu=max ;; kvm) cpu=host ;; *) die "--accel is tcg or kvm (with options, e.g. tcg,thread=single)" ;; esac

# --- kernel ---------------------------------------------------------------------------------
kdir=
if [[ $kernel =~ ^[0-9]+\.[0-9]+$ ]]; then
  kdir=$("$VM_DIR/fetch-kernel.sh" "$kernel") || die "could not fetch a $kernel kernel"
elif [ -d "$kernel" ]; then kdir=$kernel
elif [ -f "$kernel" ]; then vmlinuz=$kernel
else die "--kernel: '$kernel' is neither a series (6.18), a kernel cache dir nor a bzImage"; fi
# qemu boots the uncompressed ELF through its PVH entry point: that skips the real-mode setup and
# the in-guest decompression, several seconds under TCG. The bzImage is the fallback.
if [ -n "$kdir" ]; then
  vmlinuz=$kdir/vmlinuz
  [ -n "$bzimage" ] || [ ! -f "$kdir/vmlinux" ] || vmlinuz=$kdir/vmlinux
fi
[ -f "$vmlinuz" ] || die "no kernel image at $vmlinuz"
if [ -n "$net" ]; then
  [ -n "$kdir" ] && [ -f "$kdir/modules/virtio_net.ko" ] ||
    die "--net needs virtio_net.ko beside the kernel (fetch-kernel.sh caches it; a bzImage path has none)"
fi

# --- base initramfs: busybox + init, cached by content --------------------------------------
BUSYBOX=${BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] && "$BUSYBOX" --list-full >/dev/null 2>&1 ||
  die "busybox-static is needed ($BUSYBOX); run hack/deps.sh"
file -L "$BUSYBOX" | grep >/dev/null 'statically linked' || die "$BUSYBOX is not statically linked"
base_key=$(cat "$BUSYBOX" "$VM_DIR/guest-init.sh" | sha256sum | cut -c1-16)
base=$SCHEDKIT_CACHE/vm/base-$base_key.cpio

make_cpio() {  # $1 = staging dir, $2 = output; newc, all files owned by root
  (cd "$1" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
    cpio --null -o -H newc -R 0:0 --quiet) >"$2"
}

build_base() {
  local st; st=$(mktemp -d)
  mkdir -p "$st"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,root,etc,lib/modules/schedkit,var/tmp}
  chmod 1777 "$st/tmp" "$st/var/tmp"
  cp "$BUSYBOX" "$st/bin/busybox"
  local applet
  for applet in $("$BUSYBOX" --list-full); do
    [ -e "$st/$applet" ] || { mkdir -p "$st/$(dirname "$applet")"; ln -s /bin/busybox "$st/$applet"; }
  done
  install -m 0755 "$VM_DIR/guest-init.sh" "$st/init"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$st/etc/passwd"
  printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' >"$st/etc/group"
  printf '127.0.0.1 localhost schedkit-vm\n::1 localhost\n' >"$st/etc/hosts"
  # The kernel opens /dev/console before /init runs; devtmpfs is mounted only by init.
  [ "$(id -u)" != 0 ] || mknod -m 600 "$st/dev/console" c 5 1
  mkdir -p "$(dirname "$base")"
  make_cpio "$st" "$base.tmp.$$" && mv "$base.tmp.$$" "$base"
  rm -rf "$st"
}
[ -s "$base" ] || build_base

# --- per-run overlay: the job, binaries with their libraries, files, modules -----------------
work=$(mktemp -d "${TMPDIR:-/tmp}/schedkit-vm.XXXXXX")
qpid='' tpid=''
cleanup() {
  [ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true
  [ -z "$tpid" ] || kill "$tpid" 2>/dev/null || true
  if [ -n "$keep" ]; then log "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
st=$work/overlay
mkdir -p "$st/schedkit"

add_path() {  # host path → guest path inside the overlay, dereferencing symlinks
  local src=$1 dst=$2
  [[ $dst == /* ]] || die "guest path '$dst' must be absolute"
  mkdir -p "$st$(dirname "$dst")"
  cp -RL "$src" "$st$dst"
}
add_libs() {  # every library ldd resolves for $1, at the same path, plus the loader
  local lib
  ldd "$1" >/dev/null 2>&1 || return 0  # static, or not an ELF: nothing to add
  for lib in $(ldd "$1" | awk '/=> \// {print $3} /^[[:space:]]*\// {print $1}'); do
    [ -e "$st$lib" ] || add_path "$lib" "$lib"
  done
}
for b in "${bins[@]}"; do
  src=${b%%:*} dst=${b#*:}
  [ "$dst" != "$b" ] || dst=/usr/bin/$(basename "$src")
  [ -f "$src" ] || die "--bin: no file $src"
  add_path "$src" "$dst"; chmod 0755 "$st$dst"
  add_libs "$src"
done
for f in "${files[@]}"; do
  src=${f%%:*} dst=${f#*:}
  [ "$dst" != "$f" ] || die "--file wants HOST:GUEST, got '$f'"
  [ -e "$src" ] || die "--file: no such file or directory $src"
  add_path "$src" "$dst"
done
if [ -n "$net" ]; then mkdir -p "$st/lib/modules/schedkit"; cp "$kdir"/modules/*.ko "$st/lib/modules/schedkit/"; fi
# libbpf resolves a BPF object's __kconfig externs (CONFIG_NR_CPUS, CONFIG_HZ, ...) from
# /boot/config-$(uname -r) or /proc/config.gz; Debian kernels have no IKCONFIG, so a real node has
# the former (package linux-image/linux-base): so does the guest. Without it scx_* fail to load.
if [ -n "$kdir" ] && [ -f "$kdir/config" ]; then
  mkdir -p "$st/boot"; cp "$kdir/config" "$st/boot/config-$(basename "$kdir")"
fi

squote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
  echo "#!/bin/sh"
  for e in "${envs[@]}"; do
    [[ $e == *=* ]] || die "--env wants NAME=VALUE, got '$e'"
    echo "export ${e%%=*}=$(squote "${e#*=}")"
  done
  if [ -n "$cmd" ]; then
    echo "exec sh -c $(squote "$cmd")"
  else
    cp "$script" "$st/schedkit/job.sh"
    printf 'exec sh /schedkit/job.sh'
    for a in "$@"; do printf ' %s' "$(squote "$a")"; done
    echo
  fi
} >"$st/schedkit/job"
make_cpio "$st" "$work/overlay.cpio"
cat "$base" "$work/overlay.cpio" >"$work/initrd.cpio"

# --- boot -----------------------------------------------------------------------------------
: >"$work/out" && : >"$work/status" && : >"$work/console"
netargs=()
if [ -n "$net" ]; then
  nd=user,id=n0
  for h in "${hostfwd[@]}"; do nd+=",hostfwd=tcp:127.0.0.1:${h%%:*}-:${h#*:}"; done
  # shellcheck disable=SC2054  # qemu's own comma-separated option syntax
  netargs=(-netdev "$nd" -device virtio-net-pci,netdev=n0,romfile=)
  append+=" schedkit.net=1"
fi
# shellcheck disable=SC2054
qemu=(qemu-system-x86_64 -nodefaults -no-user-config -no-reboot -display none
  -accel "$accel" -cpu "$cpu" -smp "$smp" -m "$mem"
  -kernel "$vmlinuz" -initrd "$work/initrd.cpio"
  -append "console=ttyS0 quiet panic=-1 rdinit=/init$append"
  -serial "file:$work/console"
  -device virtio-serial-pci,id=vser0
  -chardev "file,id=out,path=$work/out" -device virtserialport,bus=vser0.0,chardev=out,name=schedkit.out
  -chardev "file,id=st,path=$work/status" -device virtserialport,bus=vser0.0,chardev=st,name=schedkit.status
  "${netargs[@]}")

start=$EPOCHREALTIME
timeout -k 5 "$timeout" "${qemu[@]}" 2>"$work/qemu.err" &
qpid=$!
if [ -n "$verbose" ]; then tail -n +1 -f "$work/console" >&2 & tpid=$!; fi
qrc=0; wait "$qpid" || qrc=$?
qpid=
if [ -n "$tpid" ]; then sleep 0.2; kill "$tpid" 2>/dev/null || true; wait "$tpid" 2>/dev/null || true; tpid=; fi
elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
[ -z "$console_keep" ] || cp "$work/console" "$console_keep"

cat "$work/out"
status=$(sed -n 's/^EXIT_STATUS=\([0-9][0-9]*\)$/\1/p' "$work/status" | head -1)
console_tail() {  # the first oops/panic if there is one, else the end of the console log
  local first
  first=$(grep -nE 'BUG:|Oops|Kernel panic|WARNING:|Call Trace' "$work/console" | head -1 | cut -d: -f1 || true)
  if [ -n "$first" ]; then
    log "kernel trouble on the console (from line $first):"
    tail -n +$((first > 5 ? first - 5 : 1)) "$work/console" | head -n 60 | sed 's/^/  | /' >&2
  else
    log "last console lines:"; tail -n 40 "$work/console" | sed 's/^/  | /' >&2
  fi
}
if [ "$qrc" = 124 ]; then
  log "timeout: the VM ran ${timeout}s without finishing the job (raise --timeout?); killed it"
  console_tail; exit 124
elif [ -z "$status" ]; then
  log "the guest stopped after ${elapsed}s without reporting a status (qemu exit $qrc)"
  [ ! -s "$work/qemu.err" ] || sed 's/^/  qemu: /' "$work/qemu.err" | grep -v 'TCG doesn.t support' >&2 || true
  console_tail; exit 125
fi
[ "${SCHEDKIT_VM_TIMING:-}" = "" ] || log "VM ran ${elapsed}s, job exit $status"
exit "$status"
