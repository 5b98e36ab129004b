# A binary scheduler (scx_* style) from a hostPath policy runs under crun as a detached
# container: it survives an agent crash and is re-adopted; when the kernel ejects it the process
# exits and the agent restarts it with backoff; --detach-on-exit stops it cleanly.
. /schedkit/tests/lib.sh
. /schedkit/tests/agent_lib.sh

binary_policy() {  # NAME OBJECT EXTRA
  mkdir -p "$POLICY_DIR"
  cat >"$POLICY_DIR/$1.yaml" <<YAML
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: $1}
spec:
  scheduler:
    hostPath: /usr/bin/schedkit-testsched-runner
    type: binary
    opsName: $2
    args: [/usr/lib/schedkit/testsched/$3.bpf.o]
$4
YAML
}

seq0=$(enable_seq)
binary_policy runner fifo_test fifo
start_agent
wait_phase Running 30
pid=$(st .status.active.pid)
expect_eq "$(scx_ops)" fifo_test "root/ops"
expect_eq "$(enable_seq)" $((seq0 + 1)) "enable_seq"
kill -0 "$pid" || agent_fail "scheduler pid $pid not alive"
expect_eq "$(awk '/^PPid:/ {print $2}' /proc/$pid/status)" 1 "scheduler parent (detached from the agent)"
expect_eq "$(crun --root /run/schedkit/crun state schedkit-runner | jq -r .status)" running "crun state"

kill -KILL "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true
sleep 1
kill -0 "$pid" || agent_fail "the scheduler died with the agent"
ok "scheduler outlived the agent"
start_agent
wait_until 20 agent_log_has "reason=Adopted" || agent_fail "no re-adoption"
wait_phase Running 20
expect_eq "$(st .status.active.pid)" "$pid" "same pid after re-adoption"
expect_eq "$(enable_seq)" $((seq0 + 1)) "enable_seq unchanged"
stop_agent

: >"$AGENT_LOG"
start_agent --detach-on-exit
wait_until 20 agent_log_has "reason=Adopted" || agent_fail "third agent did not re-adopt"
stop_agent
[ "$(scx_state)" = disabled ] || agent_fail "state after --detach-on-exit is $(scx_state)"
ok "state disabled after --detach-on-exit"
kill -0 "$pid" 2>/dev/null && agent_fail "scheduler process still alive"
grep -q "detached fifo_test" /var/lib/schedkit/run/schedkit-runner.log* || agent_fail "runner log has no clean detach"
ok "scheduler detached cleanly"

# Ejected binary: the runner exits 1 on the stall; one restart, then FallenBack.
rm -f "$POLICY_DIR"/*.yaml
binary_policy stall stall_test stall "  failurePolicy: {maxRestarts: 1, backoff: {initial: 1s, max: 1s}}"
start_agent
wait_phase FallenBack 60
expect_eq "$(st .status.lastExit.kindName)" ERROR_STALL "lastExit.kindName"
expect_eq "$(st .status.restarts)" 1 "restarts"
[ -z "$(crun --root /run/schedkit/crun list -q 2>/dev/null)" ] || agent_fail "containers left: $(crun --root /run/schedkit/crun list)"
ok "no containers left"
stop_agent
