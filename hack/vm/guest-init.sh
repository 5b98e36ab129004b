#!/bin/sh
# /init of the schedkit test VM (busybox sh). Mounts the kernel filesystems, optionally brings up
# the network, runs /schedkit/job and reports through two virtio serial ports that run.sh reads:
#   schedkit.out     everything the job writes (stdout and stderr)
#   schedkit.status  one line, EXIT_STATUS=<n>, written after the job and every process it left
#                    behind are gone
# Then powers off. Kernel messages go to the console (ttyS0) only.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb

mount -t devtmpfs -o mode=0755 devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mkdir -p /dev/pts /dev/shm /run /tmp
mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev tmpfs /dev/shm
mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
mount -t bpf -o mode=0700 bpf /sys/fs/bpf
[ -d /sys/kernel/tracing ] && mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
[ -d /sys/kernel/debug ] && mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
ln -sf /proc/self/fd /dev/fd
hostname schedkit-vm
ip link set lo up

fatal() { echo "guest init: $*"; poweroff -f; }

# The virtio serial ports, found by the names run.sh gave them (no udev to make
# /dev/virtio-ports/ links).
port() {
  for d in /sys/class/virtio-ports/*; do
    [ "$(cat "$d/name" 2>/dev/null)" = "$1" ] && { echo "/dev/${d##*/}"; return 0; }
  done
  return 1
}
out=$(port schedkit.out) || fatal "no schedkit.out port"
status=$(port schedkit.status) || fatal "no schedkit.status port"

for arg in $(cat /proc/cmdline); do
  case $arg in
    schedkit.net=1) net=1 ;;
  esac
done
if [ -n "${net:-}" ]; then
  # virtio_net is a module in Debian's kernels; run.sh put it and its dependencies here.
  for m in failover net_failover virtio_net; do
    [ -f "/lib/modules/schedkit/$m.ko" ] && insmod "/lib/modules/schedkit/$m.ko"
  done
  ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 &&
    ip route add default via 10.0.2.2 || fatal "network setup failed (see above)"
  echo "nameserver 10.0.2.3" >/etc/resolv.conf
fi

cd /root || fatal "no /root"
sh /schedkit/job </dev/null >"$out" 2>&1
rc=$?
# Nothing may write after the status line: stop whatever the job left running.
kill -9 -1 2>/dev/null
sleep 0.1 2>/dev/null
echo "EXIT_STATUS=$rc" >"$status"
sync
poweroff -f
