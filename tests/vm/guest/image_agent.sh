# The standalone agent with scheduler images from a real registry on the host (10.0.2.2) and from
# an OCI layout in the initramfs, all built by schedkitctl (tests/vm/image/run.sh):
#   fifo:1 from the registry   → Pulling → Attaching → Running, status.active.image pinned
#   an image that does not exist → Failed/PullFailed, retried, fifo keeps running untouched
#   stall:1 from the registry  → attached, ejected by the watchdog → FallenBack (ERROR_STALL)
#   oci:<layout> with the network down → Running from the layout
# Environment: REGISTRY (10.0.2.2:PORT), FIFO_DIGEST, STALL_DIGEST, LAYOUT_DIGEST.
. /schedkit/tests/lib.sh
. /schedkit/tests/agent_lib.sh
: "${REGISTRY:?}" "${FIFO_DIGEST:?}" "${STALL_DIGEST:?}" "${LAYOUT_DIGEST:?}"
LAYOUT=/opt/schedkit/images/fifo

# image_policy NAME IMAGE [EXTRA_SPEC_YAML]
image_policy() {
  mkdir -p "$POLICY_DIR"
  cat >"$POLICY_DIR/$1.yaml.tmp" <<YAML
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: $1}
spec:
  scheduler: {image: "$2"}
${3:-}
YAML
  mv "$POLICY_DIR/$1.yaml.tmp" "$POLICY_DIR/$1.yaml"
}
ready() { st ".status.conditions[] | select(.type==\"Ready\") | .$1"; }
# Every phase the state file shows, as the agent writes it (sampled every 10 ms with sed, which
# is much cheaper than jq under TCG; node-state.json has one "phase" key).
watch_phases() {
  : >/tmp/phases
  last=
  while :; do
    p=$(sed -n 's/.*"phase": *"\([A-Za-z]*\)".*/\1/p' "$STATE" 2>/dev/null | head -n1)
    if [ -n "$p" ] && [ "$p" != "$last" ]; then
      echo "$p" >>/tmp/phases
      last=$p
    fi
    sleep 0.01
  done
}
pull_failures() { grep -c 'image pull failed' "$AGENT_LOG"; }

wget -q -O /dev/null "http://$REGISTRY/v2/" || fail "the registry at $REGISTRY is not reachable"
ok "registry reachable at $REGISTRY"

# 1. fifo from the registry.
seq0=$(enable_seq)
image_policy sched "$REGISTRY/testsched/fifo:1"
watch_phases &
WATCH_PID=$!
t0=$(uptime_s)
start_agent --insecure-registry "$REGISTRY"
wait_phase Running 120
echo "policy → Running in $(since "$t0") s"
sleep 0.1
kill "$WATCH_PID"
phases=$(tr '\n' ' ' </tmp/phases)
echo "phases seen: $phases"
echo "$phases" | grep -q "Pulling .*Attaching .*Running" || agent_fail "phases were not Pulling → Attaching → Running: $phases"
ok "phases Pulling → Attaching → Running"
expect_eq "$(st .status.active.image)" "$REGISTRY/testsched/fifo@$FIFO_DIGEST" "status.active.image"
expect_eq "$(st .status.active.opsName)" fifo_test "status.active.opsName"
expect_eq "$(scx_ops)" fifo_test "root/ops"
expect_eq "$(enable_seq)" $((seq0 + 1)) "enable_seq"
[ -f "$STATE_DIR/images/rootfs/${FIFO_DIGEST#sha256:}/fifo.bpf.o" ] ||
  agent_fail "no unpacked root for $FIFO_DIGEST in the image cache"
ok "unpacked in the agent's image cache"

# 2. An image that does not exist: Failed/PullFailed, retried; fifo keeps running.
seq1=$(enable_seq)
image_policy sched "$REGISTRY/testsched/missing:1"
wait_phase Failed 60
expect_eq "$(ready reason)" PullFailed "Ready reason"
ready message | grep -q "testsched/missing" || agent_fail "the reason names no image: $(ready message)"
ok "reason: $(ready message)"
wait_until 60 sh -c "[ \$(grep -c 'image pull failed' $AGENT_LOG) -ge 2 ]" ||
  agent_fail "the pull was not retried ($(pull_failures) failures)"
ok "pull retried ($(pull_failures) failures so far)"
expect_eq "$(scx_state)" enabled "sched_ext state while the new image fails"
expect_eq "$(scx_ops)" fifo_test "root/ops while the new image fails"
expect_eq "$(enable_seq)" "$seq1" "enable_seq unchanged"
expect_eq "$(st .status.phase)" Failed "phase still Failed"

# 3. stall from the registry: attached, then ejected by the watchdog → FallenBack.
image_policy sched "$REGISTRY/testsched/stall:1" \
  "  failurePolicy: {maxRestarts: 0, window: 10m, backoff: {initial: 1s, max: 2s}}"
wait_phase FallenBack 120
expect_eq "$(st .status.lastExit.kindName)" ERROR_STALL "lastExit.kindName"
expect_eq "$(count_enables stall_test)" 1 "stall_test attached once"
expect_eq "$(scx_state)" disabled "default scheduler after the ejection"
grep -q "testsched/stall@$STALL_DIGEST" "$AGENT_LOG" || agent_fail "the stall image was not pulled by digest"
ok "stall image $STALL_DIGEST pulled"

# 4. Offline: the network goes down; an oci: layout in the initramfs still works.
ip link set eth0 down
! wget -q -T 2 -O /dev/null "http://$REGISTRY/v2/" 2>/dev/null || fail "the registry is still reachable"
ok "network down"
seq2=$(enable_seq)
image_policy sched "oci:$LAYOUT:1"
wait_phase Running 120
expect_eq "$(st .status.active.image)" "oci:$LAYOUT@$LAYOUT_DIGEST" "status.active.image (layout)"
expect_eq "$(scx_ops)" fifo_test "root/ops from the layout"
expect_eq "$(enable_seq)" $((seq2 + 1)) "enable_seq"
remove_policy sched
wait_phase Idle 20
expect_eq "$(scx_state)" disabled "detached when the policy went away"
stop_agent
ok "agent stopped"
