# error_test calls scx_bpf_error() after N enqueues: ERROR_BPF with its message.
. /schedkit/tests/lib.sh
n=${1:-200}

start_runner error --set error_after="$n"
wait_attached error_test
# Make sure there are enough enqueues whatever else the guest does.
i=0
while [ $i -lt $((n * 2)) ] && kill -0 "$RUNNER_PID" 2>/dev/null; do /bin/true; i=$((i + 1)); done
wait_runner 20
expect_eq "$RUNNER_RC" 1 "runner exit status"
expect_log "EXIT: scx_bpf_error (test error after $n enqueues)"
expect_log "exit kind 1025 (ERROR_BPF)"
expect_eq "$(scx_state)" disabled "state after ejection"
expect_kmsg 'sched_ext: BPF scheduler "error_test" disabled (scx_bpf_error)'
expect_kmsg "sched_ext: error_test: test error after $n enqueues"
