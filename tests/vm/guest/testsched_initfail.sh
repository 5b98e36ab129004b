# initfail_test: ops.init() fails. The attach call succeeds but the kernel disables the scheduler
# at once; it is never enabled, so enable_seq stays put.
. /schedkit/tests/lib.sh

seq0=$(enable_seq)
start_runner initfail
wait_runner 20
expect_eq "$RUNNER_RC" 1 "runner exit status"
log_has "attached" && fail "runner claimed to be attached"
expect_log "EXIT: runtime error (ops.init() failed (-5))"
expect_log "exit kind 1024 (ERROR)"
expect_eq "$(scx_state)" disabled "state"
expect_eq "$(enable_seq)" "$seq0" "enable_seq (unchanged)"
expect_kmsg 'sched_ext: BPF scheduler "initfail_test" disabled (runtime error)'
expect_kmsg 'sched_ext: initfail_test: ops.init() failed (-5)'
