# The standalone agent attaches a BPF object from a hostPath policy, confirms it with the kernel,
# detaches it when the policy goes away, and reports each step in node-state.json.
. /schedkit/tests/lib.sh
. /schedkit/tests/agent_lib.sh

seq0=$(enable_seq)
write_policy fifo "$TESTSCHED/fifo.bpf.o" "  mode: ${MODE:-Full}"
start_agent
wait_phase Running 20
expect_eq "$(scx_state)" enabled "sched_ext state"
expect_eq "$(scx_ops)" fifo_test "root/ops"
expect_eq "$(enable_seq)" $((seq0 + 1)) "enable_seq"
expect_eq "$(st .status.active.opsName)" fifo_test "state active.opsName"
expect_eq "$(st .status.active.enableSeq)" $((seq0 + 1)) "state active.enableSeq"
expect_eq "$(st '.status.conditions[] | select(.type=="Ready") | .status')" True "Ready condition"
expect_eq "$(st .status.kernel.schedExt)" true "kernel.schedExt"
[ -e /sys/fs/bpf/schedkit/schedkit-fifo ] || agent_fail "link not pinned"
ok "link pinned at /sys/fs/bpf/schedkit/schedkit-fifo"
if [ "${MODE:-Full}" = Partial ]; then
  expect_eq "$(cat $SCX/switch_all)" 0 "switch_all (partial)"
  expect_kmsg 'sched_ext: BPF scheduler "fifo_test" enabled (partial)'
else
  expect_eq "$(cat $SCX/switch_all)" 1 "switch_all"
fi

remove_policy fifo
wait_phase Idle 20
expect_eq "$(scx_state)" disabled "state after the policy was removed"
[ ! -e /sys/fs/bpf/schedkit/schedkit-fifo ] || agent_fail "pin left behind"
ok "pin removed"
expect_eq "$(st '.status.active // "none"')" none "no active scheduler"
expect_kmsg 'sched_ext: BPF scheduler "fifo_test" disabled (unregistered from user space)'
stop_agent
ok "agent stopped"
