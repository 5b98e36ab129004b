# A slot held by a scheduler schedkit did not start is reported, not fought over; once it goes,
# the agent attaches.
. /schedkit/tests/lib.sh
. /schedkit/tests/agent_lib.sh

start_runner fifo
wait_attached fifo_test
seq1=$(enable_seq)
write_policy err "$TESTSCHED/error.bpf.o" "  failurePolicy: {maxRestarts: 0}"
write_policy fifo2 "$TESTSCHED/fifo.bpf.o" "  priority: 10"
start_agent
wait_phase Failed 20
expect_eq "$(st '.status.conditions[] | select(.type=="Ready") | .reason')" SlotBusy "Ready reason"
agent_log_has "reason=SlotBusy" || agent_fail "no SlotBusy event"
sleep 2
expect_eq "$(enable_seq)" "$seq1" "the foreign scheduler was left alone"
kill -TERM "$RUNNER_PID"
wait_runner 10
wait_phase Running 20
expect_eq "$(st .status.policy)" fifo2 "the higher-priority policy won"
expect_eq "$(enable_seq)" $((seq1 + 1)) "enable_seq"
stop_agent
