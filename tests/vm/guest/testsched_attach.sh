# fifo_test attaches, shows up in sysfs, and detaches cleanly on SIGTERM.
# Args: [--partial]  attach in partial mode (switch_all 0, kmsg "(partial)")
. /schedkit/tests/lib.sh
mode=${1:-}

expect_eq "$(scx_state)" disabled "state before attach"
seq0=$(enable_seq)
start_runner fifo $mode
wait_attached fifo_test
expect_eq "$(scx_state)" enabled "state"
expect_eq "$(scx_ops)" fifo_test "root/ops"
expect_eq "$(enable_seq)" $((seq0 + 1)) "enable_seq"
if [ "$mode" = --partial ]; then
  expect_eq "$(cat $SCX/switch_all)" 0 "switch_all"
  expect_kmsg 'sched_ext: BPF scheduler "fifo_test" enabled (partial)'
else
  expect_eq "$(cat $SCX/switch_all)" 1 "switch_all"
  expect_kmsg 'sched_ext: BPF scheduler "fifo_test" enabled'
fi

# Only one scheduler at a time: a second attach fails with EBUSY and leaves the first alone.
second=$("$RUNNER" "$TESTSCHED/stall.bpf.o" 2>&1) && fail "a second scheduler attached: $second"
case $second in
  *"another sched_ext scheduler is already running"*) ok "second attach refused (busy)" ;;
  *) fail "second attach failed differently: $second" ;;
esac
expect_eq "$(scx_ops)" fifo_test "root/ops after the refused attach"

# Some work under the scheduler, then a clean stop.
for _ in $(seq 50); do /bin/true; done
kill -TERM "$RUNNER_PID"
wait_runner 10
expect_eq "$RUNNER_RC" 0 "runner exit status after SIGTERM"
expect_log "detached fifo_test"
log_has "EXIT:" && fail "runner reported an exit after a clean detach"
expect_eq "$(scx_state)" disabled "state after detach"
[ -e "$SCX/root" ] && fail "$SCX/root still exists after detach"
ok "root/ gone after detach"
expect_kmsg 'sched_ext: BPF scheduler "fifo_test" disabled (unregistered from user space)'
