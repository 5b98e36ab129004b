# SysRq-S is an operator's kill switch: the agent records it and never restarts on its own.
. /schedkit/tests/lib.sh
. /schedkit/tests/agent_lib.sh

write_policy fifo "$TESTSCHED/fifo.bpf.o"
start_agent
wait_phase Running 20
seq1=$(enable_seq)
echo S >/proc/sysrq-trigger
wait_phase FallenBack 10
expect_eq "$(st .status.lastExit.kindName)" SYSRQ "lastExit.kindName"
expect_eq "$(st .status.lastExit.reason)" "disabled by sysrq-S" "lastExit.reason"
expect_eq "$(st .status.recentEvents[0].reason)" KillSwitch "event"
sleep 5
expect_eq "$(enable_seq)" "$seq1" "no restart after SysRq-S"
expect_eq "$(scx_state)" disabled "state"
# A policy change is a deliberate re-enable.
write_policy fifo "$TESTSCHED/fifo.bpf.o" "  mode: Full
  failurePolicy: {maxRestarts: 4}"
wait_phase Running 20
ok "a changed policy attaches again"
stop_agent
