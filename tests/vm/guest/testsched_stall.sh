# stall_test (timeout_ms 2000) is ejected by the watchdog: the runner reports the stall and
# exits 1, the kernel logs "runnable task stall" with a detail line.
. /schedkit/tests/lib.sh

seq0=$(enable_seq)
t0=$(uptime_s)
start_runner stall --timeout-ms 2000
wait_attached stall_test
expect_eq "$(enable_seq)" $((seq0 + 1)) "enable_seq"
wait_runner 30
echo "ejected after $(since "$t0") s"
expect_eq "$RUNNER_RC" 1 "runner exit status"
expect_log "EXIT: runnable task stall ("
expect_log "exit kind 1026 (ERROR_STALL)"
expect_eq "$(scx_state)" disabled "state after ejection"
expect_kmsg 'sched_ext: BPF scheduler "stall_test" disabled (runnable task stall)'
# The detail line has two known shapes: "<comm>[<pid>] failed to run for <s>s" and
# "watchdog failed to check in for <s>s".
dmesg | grep -qE 'sched_ext: stall_test: (.*\[[0-9]+\] failed to run|watchdog failed to check in) for [0-9.]+s' ||
  fail "no stall detail line in kmsg"
ok "kmsg: stall detail line"
