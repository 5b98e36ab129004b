# An agent killed with SIGKILL and restarted must not detach the healthy scheduler: the pinned
# link keeps it enabled (enable_seq unchanged) and the new agent re-adopts it.
. /schedkit/tests/lib.sh
. /schedkit/tests/agent_lib.sh

write_policy fifo "$TESTSCHED/fifo.bpf.o"
start_agent
wait_phase Running 20
seq1=$(enable_seq)
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
ok "agent killed"
sleep 1
expect_eq "$(scx_state)" enabled "state with no agent"
expect_eq "$(enable_seq)" "$seq1" "enable_seq with no agent"
start_agent
wait_until 20 agent_log_has "reason=Adopted" || agent_fail "new agent did not re-adopt"
ok "re-adopted"
wait_phase Running 20
expect_eq "$(enable_seq)" "$seq1" "enable_seq after re-adoption (never detached)"
expect_eq "$(scx_ops)" fifo_test "root/ops"
# A clean SIGTERM also leaves it attached; --detach-on-exit detaches.
stop_agent
expect_eq "$(scx_state)" enabled "state after SIGTERM"
start_agent --detach-on-exit
wait_until 20 sh -c "grep -c reason=Adopted $AGENT_LOG | grep -qx 2" || agent_fail "third agent did not re-adopt"
wait_until 20 agent_log_has "agent running" || agent_fail "third agent did not start"
stop_agent
expect_eq "$(scx_state)" disabled "state after SIGTERM with --detach-on-exit"
expect_eq "$(enable_seq)" "$seq1" "enable_seq"
