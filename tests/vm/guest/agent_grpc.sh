# The agent's gRPC API on the real kernel: schedkitctl node attach/status/events/detach against a
# standalone agent started with --grpc-socket; a non-root caller and an absent socket get the
# clear errors.
. /schedkit/tests/lib.sh
. /schedkit/tests/agent_lib.sh

SOCK=/run/schedkit/agent.sock
EVENTS=/tmp/events.jsonl
ctl() { schedkitctl "$@" --socket "$SOCK"; }

# No agent yet: the socket is absent.
out=$(schedkitctl node status --socket "$SOCK" 2>&1) && fail "status without an agent succeeded"
expect_eq "$out" "error: no schedkit agent socket at $SOCK (is the agent running with --grpc-socket?)" \
  "absent socket error"

start_agent --grpc-socket "$SOCK" --log-level debug
wait_until 20 test -S "$SOCK" || agent_fail "no socket at $SOCK"
wait_phase Idle 20
expect_eq "$(stat -c %a "$SOCK")" 600 "socket mode"
expect_eq "$(stat -c %u "$SOCK")" 0 "socket owner"

# A watcher in the background, from before the attach.
schedkitctl -o json node events --follow --socket "$SOCK" >"$EVENTS" 2>/tmp/events.err &
WATCH_PID=$!
wait_until 20 agent_log_has "event watcher connected" || agent_fail "the watcher did not connect"
ok "watcher connected"

seq0=$(enable_seq)
t0=$(uptime_s)
ctl node attach --host-path "$TESTSCHED/fifo.bpf.o" --name fifo --wait 60s >/tmp/attach.out 2>&1 ||
  { cat /tmp/attach.out; agent_fail "node attach failed"; }
cat /tmp/attach.out
ok "node attach returned Running after $(since "$t0") s"
expect_eq "$(scx_ops)" fifo_test "root/ops"
expect_eq "$(enable_seq)" $((seq0 + 1)) "enable_seq"
[ -f "$POLICY_DIR/fifo.yaml" ] || agent_fail "no policy file $POLICY_DIR/fifo.yaml"
ok "policy file written"

ctl -o json node status >/tmp/status.json || agent_fail "node status failed"
expect_eq "$(jq -r .status.phase /tmp/status.json)" Running "status phase"
expect_eq "$(jq -r .status.active.opsName /tmp/status.json)" fifo_test "status active.opsName"
expect_eq "$(jq -r .status.policy /tmp/status.json)" fifo "status policy"
expect_eq "$(jq -r .mode /tmp/status.json)" standalone "status mode"
expect_eq "$(jq -r .status.active.enableSeq /tmp/status.json)" $((seq0 + 1)) "status enableSeq"
ctl node status

# A non-root caller.
out=$(su nobody -s /bin/sh -c "schedkitctl node status --socket $SOCK" 2>&1) &&
  fail "a non-root caller got the status"
expect_eq "$out" "error: permission denied on $SOCK: the agent socket is root-only; run as root" \
  "non-root caller"

ctl node detach --name fifo --wait 60s >/tmp/detach.out 2>&1 ||
  { cat /tmp/detach.out; agent_fail "node detach failed"; }
cat /tmp/detach.out
expect_eq "$(scx_state)" disabled "state after detach"
expect_eq "$(st .status.phase)" Idle "node-state phase after detach"
[ ! -e "$POLICY_DIR/fifo.yaml" ] || agent_fail "policy file left behind"
ok "policy file removed"

events_have() { jq -e -s "$1" "$EVENTS" >/dev/null 2>&1; }
wait_until 10 events_have 'any(.[]; .reason == "Attached" and .recent == false)' ||
  { cat "$EVENTS"; agent_fail "the watcher saw no Attached event"; }
ok "watcher saw Attached"
wait_until 10 events_have 'any(.[]; .reason == "Detached")' ||
  { cat "$EVENTS"; agent_fail "the watcher saw no Detached event"; }
ok "watcher saw Detached"
wait_until 10 events_have 'any(.[]; .kind == "PhaseChange" and .phase == "Idle" and .previousPhase != "Idle")' ||
  { cat "$EVENTS"; agent_fail "the watcher saw no phase change to Idle"; }
ok "watcher saw the phase change to Idle"
wait_until 10 events_have 'any(.[]; .kind == "PhaseChange" and .phase == "Running")' ||
  { cat "$EVENTS"; agent_fail "the watcher saw no phase change to Running"; }
ok "watcher saw the phase change to Running"
echo "--- events seen by the watcher:"; cat "$EVENTS"

stop_agent
ok "agent stopped"
wait_until 10 sh -c "! kill -0 $WATCH_PID 2>/dev/null" || fail "the watcher did not end with the agent"
ok "the watcher ended with the agent: $(tail -1 "$EVENTS" | jq -r .error.message)"
[ ! -e "$SOCK" ] || fail "socket left behind after the agent stopped"
ok "socket removed on exit"
out=$(schedkitctl node status --socket "$SOCK" 2>&1) && fail "status after the agent stopped"
expect_eq "$out" "error: no schedkit agent socket at $SOCK (is the agent running with --grpc-socket?)" \
  "absent socket error after stop"
