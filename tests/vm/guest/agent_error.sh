# scx_bpf_error() from the scheduler: ERROR_BPF with the scheduler's own message.
. /schedkit/tests/lib.sh
. /schedkit/tests/agent_lib.sh

write_policy err "$TESTSCHED/error.bpf.o" "  failurePolicy: {maxRestarts: 0}"
# error_test fails after 1000 enqueues; an idle guest enqueues too rarely, so wake tasks often.
for i in 1 2 3 4; do (while :; do usleep 2000; done) & done
start_agent
wait_phase FallenBack 30
expect_eq "$(st .status.lastExit.kindName)" ERROR_BPF "lastExit.kindName"
expect_eq "$(st .status.lastExit.reason)" scx_bpf_error "lastExit.reason"
st .status.lastExit.message | grep -q "error_test\|enqueues\|error" ||
  agent_fail "no scheduler message: $(st .status.lastExit.message)"
ok "lastExit.message: $(st .status.lastExit.message)"
stop_agent
