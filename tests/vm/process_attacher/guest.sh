# ProcessAttacher end to end: schedkit-process-attacher-check starts fifo_test under crun as a
# detached container, checks that the kernel enabled it, re-adopts it from a second attacher,
# stops it and cleans up. Three runs in one boot:
#   1. a hostPath scheduler, stopped with SIGTERM;
#   2. the same, left running as if the agent had crashed;
#   3. an image-rootfs scheduler in partial mode with the same id: start() must first remove
#      run 2's stale container; stopped with SIGKILL.
. /schedkit/tests/lib.sh
CHECK=schedkit-process-attacher-check
RUNNER_BIN=/usr/bin/schedkit-testsched-runner
OBJ=/usr/lib/schedkit/testsched/fifo.bpf.o
LOG=/var/lib/schedkit/run/schedkit-process-attacher-check.log

ok "$(crun --version | head -1)"

echo "== 1: hostPath scheduler, stopped with SIGTERM"
$CHECK --ops fifo_test -- "$RUNNER_BIN" "$OBJ" || fail "run 1"

echo "== 2: hostPath scheduler, left running (agent crash)"
out=$($CHECK --ops fifo_test --leave -- "$RUNNER_BIN" "$OBJ") || { echo "$out"; fail "run 2"; }
echo "$out"
stale=$(echo "$out" | sed -n 's/^left running: pid //p')
[ -n "$stale" ] && kill -0 "$stale" || fail "run 2 left no scheduler running"
grep -q "detached fifo_test" "$LOG.prev" || fail "run 1's log was not kept as $LOG.prev"
ok "run 1's log kept as $LOG.prev"

echo "== 3: image rootfs, partial mode, replaces the stale container, stopped with SIGKILL"
# The runner is static: the binary and the object are the whole image.
mkdir -p /tmp/image/usr/bin /tmp/image/usr/lib/schedkit/testsched
cp "$RUNNER_BIN" /tmp/image/usr/bin/
cp "$OBJ" /tmp/image/usr/lib/schedkit/testsched/
$CHECK --ops fifo_test --rootfs /tmp/image --partial --kill --stale-pid "$stale" -- \
  "$RUNNER_BIN" "$OBJ" || fail "run 3"
expect_kmsg 'sched_ext: BPF scheduler "fifo_test" enabled (partial)'
[ -z "$(crun --root /run/schedkit/crun list -q)" ] || fail "crun still lists containers"
ok "no containers left"
