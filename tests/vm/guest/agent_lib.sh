# Helpers for guest scripts that drive schedkit-agent (busybox sh). Source after lib.sh:
#   . /schedkit/tests/lib.sh; . /schedkit/tests/agent_lib.sh
AGENT_LOG=/tmp/agent.log
STATE_DIR=/var/lib/schedkit
STATE=$STATE_DIR/node-state.json
POLICY_DIR=/etc/schedkit/policies

agent_fail() {
  echo "--- agent log (last 60 lines):"; tail -60 "$AGENT_LOG" 2>/dev/null
  echo "--- node state:"; cat "$STATE" 2>/dev/null
  fail "$@"
}

# write_policy NAME PATH [EXTRA_SPEC_YAML] — a hostPath policy selecting every node
write_policy() {
  mkdir -p "$POLICY_DIR"
  cat >"$POLICY_DIR/$1.yaml.tmp" <<YAML
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: $1}
spec:
  scheduler: {hostPath: $2}
${3:-}
YAML
  mv "$POLICY_DIR/$1.yaml.tmp" "$POLICY_DIR/$1.yaml"
}
remove_policy() { rm -f "$POLICY_DIR/$1.yaml"; }

# start_agent [ARGS...] — schedkit-agent in the background, output appended to $AGENT_LOG
start_agent() {
  mkdir -p "$POLICY_DIR" "$STATE_DIR"
  schedkit-agent --policy-file "$POLICY_DIR" --node-name vm --state-dir "$STATE_DIR" \
    --node-labels schedkit.io/pool=test "$@" >>"$AGENT_LOG" 2>&1 &
  AGENT_PID=$!
}
stop_agent() {  # SIGTERM and wait
  kill -TERM "$AGENT_PID" 2>/dev/null || true
  wait_until 20 sh -c "! kill -0 $AGENT_PID 2>/dev/null" || agent_fail "agent did not stop on SIGTERM"
  wait "$AGENT_PID" 2>/dev/null || true
}

st() { jq -r "$1" "$STATE" 2>/dev/null; }
phase_is() { [ "$(st .status.phase)" = "$1" ]; }
wait_phase() {  # PHASE SECONDS
  wait_until "$2" phase_is "$1" || agent_fail "phase did not become $1 within $2 s (is $(st .status.phase))"
  ok "phase $1"
}
agent_log_has() { grep -qF -- "$1" "$AGENT_LOG"; }
count_enables() { dmesg | grep -c "sched_ext: BPF scheduler \"$1\" enabled"; }
