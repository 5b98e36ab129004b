# The real scx schedulers through the agent, from images in a real registry (tests/vm/scx/run.sh):
#   scx_lavd → Running with its real ops name, survives 60 s of CPU-bound load, its scx_stats in
#   /metrics; agent kill -9 + restart re-adopts it (enable_seq unchanged); kill -9 of the scheduler
#   → exit reported, restarted with backoff; policy edit → scx_bpfland (no overlap, no SlotBusy),
#   60 s of load; → scx_rusty, 60 s of load; SysRq-S → FallenBack, not restarted; an image whose
#   kernel minimum is above this kernel → Incompatible.
# Environment: REGISTRY (10.0.2.2:PORT), SCX_VERSION. SOAK (seconds, default 60).
. /schedkit/tests/lib.sh
. /schedkit/tests/agent_lib.sh
: "${REGISTRY:?}" "${SCX_VERSION:?}"
SOAK=${SOAK:-60}
METRICS=127.0.0.1:9477

mount | grep -q ' /sys/fs/bpf ' || mount -t bpf bpf /sys/fs/bpf
[ -f "/boot/config-$(uname -r)" ] || fail "no /boot/config-$(uname -r) in the guest (libbpf needs it)"
ok "kernel $(uname -r), config at /boot/config-$(uname -r)"

# scx_policy SCHEDULER [EXTRA_SPEC_YAML] — the image of SCHEDULER (scx_lavd, ...) by tag
scx_policy() {
  mkdir -p "$POLICY_DIR"
  cat >"$POLICY_DIR/scx.yaml.tmp" <<YAML
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: scx}
spec:
  scheduler: {image: "$REGISTRY/scx/$1:$SCX_VERSION"}
  health: {startupTimeout: 180s}
  failurePolicy: {maxRestarts: 3, window: 10m, backoff: {initial: 2s, max: 4s}}
${2:-}
YAML
  mv "$POLICY_DIR/scx.yaml.tmp" "$POLICY_DIR/scx.yaml"
}
LOAD_PIDS=
load_start() {  # one busy loop per CPU
  for _c in $(seq "$(nproc)"); do sh -c 'while :; do :; done' & LOAD_PIDS="$LOAD_PIDS $!"; done
}
load_stop() { for _p in $LOAD_PIDS; do kill "$_p" 2>/dev/null; done; LOAD_PIDS=; }
# soak NAME SECONDS — under load the scheduler stays the one enabled, with no restart
soak() {
  _seq=$(enable_seq) _pid=$(st .status.active.pid)
  load_start
  _t=0
  while [ "$_t" -lt "$2" ]; do
    sleep 5; _t=$((_t + 5))
    [ "$(scx_state)" = enabled ] || { load_stop; agent_fail "$1 gone after ${_t}s under load"; }
  done
  load_stop
  expect_eq "$(enable_seq)" "$_seq" "$1: enable_seq after ${2}s of CPU-bound load"
  expect_eq "$(st .status.phase)" Running "$1: phase after the load"
  expect_eq "$(st .status.active.pid)" "$_pid" "$1: same process after the load"
}
ops_prefix_is() { case "$(scx_ops)" in "$1"_*) return 0 ;; *) return 1 ;; esac; }
metrics() { wget -q -O - "http://$METRICS/metrics"; }

wget -q -O /dev/null "http://$REGISTRY/v2/" || fail "the registry at $REGISTRY is not reachable"

# 1. scx_lavd from the registry.
seq0=$(enable_seq)
scx_policy scx_lavd
t0=$(uptime_s)
start_agent --insecure-registry "$REGISTRY" --metrics-address "$METRICS"
wait_phase Running 240
echo "measure: policy → scx_lavd Running in $(since "$t0") s on $(uname -r)"
ops_prefix_is lavd || agent_fail "root/ops is '$(scx_ops)', not lavd_*"
ok "root/ops = $(scx_ops)"
expect_eq "$(st .status.active.opsName)" "$(scx_ops)" "status.active.opsName"
expect_eq "$(enable_seq)" $((seq0 + 1)) "enable_seq"
soak scx_lavd "$SOAK"

# 2. Its own statistics over scx_stats, labelled, on the agent's /metrics.
wait_until 30 sh -c "wget -q -O - http://$METRICS/metrics | grep -q '^schedkit_scx_stats_up{.*} 1'" ||
  agent_fail "no schedkit_scx_stats_up 1: $(metrics | grep scx_stats)"
metrics >/tmp/metrics.txt
n=$(grep -c '^schedkit_scx_[a-z0-9_]*{' /tmp/metrics.txt)
[ "$n" -ge 10 ] || agent_fail "only $n schedkit_scx_ samples"
ok "$n schedkit_scx_* samples from scx_lavd's own stats"
grep '^schedkit_scx_' /tmp/metrics.txt | grep -v '^schedkit_scx_stats_' | head -1 |
  grep -q "kernel_release=\"$(uname -r)\"" || agent_fail "samples lack kernel_release: $(grep '^schedkit_scx_' /tmp/metrics.txt | head -3)"
grep '^schedkit_scx_' /tmp/metrics.txt | grep -v '^schedkit_scx_stats_' | head -1 |
  grep -q 'image_digest="sha256:' || agent_fail "samples lack image_digest"
grep '^schedkit_scx_' /tmp/metrics.txt | grep -v '^schedkit_scx_stats_' | head -1 |
  grep -q 'policy="scx"' || agent_fail "samples lack policy"
ok "labelled by policy, image digest and kernel release: $(grep '^schedkit_scx_' /tmp/metrics.txt | grep -v _stats_ | head -1)"

# 3. Agent kill -9 and restart: the scheduler is re-adopted, not restarted.
pid=$(st .status.active.pid)
seq1=$(enable_seq)
kill -KILL "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true
sleep 1
kill -0 "$pid" || fail "scx_lavd died with the agent"
start_agent --insecure-registry "$REGISTRY" --metrics-address "$METRICS"
wait_until 60 agent_log_has "reason=Adopted" || agent_fail "no re-adoption"
wait_phase Running 60
expect_eq "$(st .status.active.pid)" "$pid" "same scx_lavd pid after re-adoption"
expect_eq "$(enable_seq)" "$seq1" "enable_seq unchanged across the agent restart"

# 4. kill -9 of the scheduler: its exit is reported (the kernel unregisters a scheduler whose
#    process dies: UNREG), and it is restarted after a backoff.
kill -KILL "$pid"
wait_until 240 sh -c "[ \"\$(jq -r .status.restarts $STATE)\" = 1 ] && [ \"\$(jq -r .status.phase $STATE)\" = Running ]" ||
  agent_fail "scx_lavd was not restarted (restarts=$(st .status.restarts), phase $(st .status.phase))"
[ "$(st .status.active.pid)" != "$pid" ] || agent_fail "the pid did not change"
expect_eq "$(enable_seq)" $((seq1 + 1)) "enable_seq after the restart"
expect_eq "$(st .status.lastExit.kindName)" UNREG "lastExit.kindName after kill -9"
expect_eq "$(st .status.lastExit.reason)" "unregistered from user space" "lastExit.reason after kill -9"
st '.status.recentEvents[] | select(.reason=="Restarting") | .message' | grep -q 'restarting in [0-9.]*s' ||
  agent_fail "no Restarting event with a backoff delay"
ok "restarted with backoff: $(st '[.status.recentEvents[] | select(.reason=="Restarting")][0].message')"

# 5. Policy edit → scx_bpfland: lavd is stopped before bpfland is enabled; no SlotBusy.
lavd_ops=$(scx_ops)
seq2=$(enable_seq)
scx_policy scx_bpfland
wait_until 240 ops_prefix_is bpfland || agent_fail "bpfland did not attach (ops '$(scx_ops)')"
wait_phase Running 60
expect_eq "$(enable_seq)" $((seq2 + 1)) "enable_seq: one new scheduler"
agent_log_has SlotBusy && agent_fail "SlotBusy during the switch"
[ "$(st '[.status.recentEvents[].reason] | index("SlotBusy")')" = null ] || agent_fail "a SlotBusy event"
ok "no SlotBusy"
dis=$(dmesg | grep -n "BPF scheduler \"$lavd_ops\" disabled" | tail -1 | cut -d: -f1)
en=$(dmesg | grep -n "BPF scheduler \"$(scx_ops)\" enabled" | tail -1 | cut -d: -f1)
[ -n "$dis" ] && [ -n "$en" ] && [ "$dis" -lt "$en" ] ||
  agent_fail "kmsg order: lavd disabled at line '$dis', bpfland enabled at line '$en'"
ok "no overlap: $lavd_ops disabled before $(scx_ops) enabled"
soak scx_bpfland "$SOAK"

# 6. → scx_rusty.
seq3=$(enable_seq)
scx_policy scx_rusty
wait_until 240 ops_prefix_is rusty || agent_fail "rusty did not attach (ops '$(scx_ops)')"
wait_phase Running 60
expect_eq "$(enable_seq)" $((seq3 + 1)) "enable_seq: rusty"
soak scx_rusty "$SOAK"

# 7. SysRq-S: the operator's kill switch is reported and not restarted.
seq4=$(enable_seq)
echo S >/proc/sysrq-trigger
wait_phase FallenBack 60
expect_eq "$(st .status.lastExit.kindName)" SYSRQ "lastExit.kindName after SysRq-S"
expect_eq "$(st .status.recentEvents[0].reason)" KillSwitch "event"
sleep 10
expect_eq "$(enable_seq)" "$seq4" "no restart after SysRq-S"
expect_eq "$(scx_state)" disabled "the default scheduler after SysRq-S"
[ -z "$(crun --root /run/schedkit/crun list -q 2>/dev/null)" ] ||
  agent_fail "containers left after SysRq-S: $(crun --root /run/schedkit/crun list)"
ok "the scx_rusty container is gone"

# 8. An image that needs a newer kernel: Incompatible, nothing attached.
mkdir -p "$POLICY_DIR"
cat >"$POLICY_DIR/scx.yaml" <<YAML
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: scx}
spec:
  scheduler: {image: "$REGISTRY/scx/future:1"}
YAML
wait_phase Incompatible 120
st '.status.conditions[] | select(.type=="Ready") | .message' | grep -q '99.0' ||
  agent_fail "the Incompatible message names no kernel minimum: $(st .status.conditions)"
ok "Incompatible: $(st '.status.conditions[] | select(.type=="Ready") | .message')"
expect_eq "$(enable_seq)" "$seq4" "nothing attached for the incompatible image"
stop_agent
ok "agent stopped"
