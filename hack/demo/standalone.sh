# The standalone demo, run inside the sched_ext VM (busybox sh). Narration goes to the serial
# console, which hack/demo.sh streams live; the job's own output is a short summary at the end.
exec 3>/dev/console
say() { echo "$*" >&3; }
TESTSCHED=/opt/schedkit/testsched
POLICIES=/etc/schedkit/policies
STATE=/var/lib/schedkit/node-state.json
mkdir -p "$POLICIES" /var/lib/schedkit

policy() {  # NAME OBJECT EXTRA — written atomically, as a GitOps sync or kubectl cp would
  cat >"$POLICIES/.$1.tmp" <<YAML
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: $1}
spec:
  scheduler: {hostPath: $TESTSCHED/$2.bpf.o}
$3
YAML
  mv "$POLICIES/.$1.tmp" "$POLICIES/$1.yaml"
}

# Print every node-state transition as the agent writes it.
watch_state() {
  last=
  while :; do
    line=$(jq -r '[.status.phase, .status.policy, (.status.active.opsName // "-"),
                   (.status.restarts|tostring),
                   ((.status.conditions[]? | select(.type=="Ready") | .reason) // "")] | join(" ")' \
           "$STATE" 2>/dev/null)
    if [ -n "$line" ] && [ "$line" != "$last" ]; then
      set -- $line
      say "  [node state] phase=$1 policy=$2 scheduler=$3 restarts=$4 ($5)"
      last=$line
    fi
    sleep 0.2
  done
}
wait_phase() {
  n=0
  while [ "$(jq -r .status.phase "$STATE" 2>/dev/null)" != "$1" ]; do
    n=$((n + 1)); [ $n -lt $(($2 * 10)) ] || { say "!! phase $1 not reached in $2 s"; exit 1; }
    sleep 0.1
  done
}
sysfs() {
  say "  [kernel] /sys/kernel/sched_ext: state=$(cat /sys/kernel/sched_ext/state)" \
      "ops=$(cat /sys/kernel/sched_ext/root/ops 2>/dev/null || echo -)" \
      "enable_seq=$(cat /sys/kernel/sched_ext/enable_seq)"
}

say ""
say "=== schedkit demo: kernel $(uname -r), sched_ext $(cat /sys/kernel/sched_ext/state)"
say ""
say "--> 1. A SchedulerPolicy selects a healthy scheduler (fifo_test, a BPF object)"
policy demo fifo "  failurePolicy: {maxRestarts: 2, window: 10m, backoff: {initial: 1s, max: 2s}}"
schedkit-agent --policy-file "$POLICIES" --node-name demo-node --state-dir /var/lib/schedkit \
  --log-format json >/tmp/agent.log 2>&1 &
agent=$!
watch_state &
watcher=$!
wait_phase Running 30
sysfs
sleep 3
say ""
say "--> 2. The policy is changed to a scheduler that stalls (stall_test: never dispatches)."
say "       The kernel's watchdog ejects it; the agent restarts it with backoff, then gives up"
say "       and leaves the node on the default scheduler."
policy demo stall "  failurePolicy: {maxRestarts: 2, window: 10m, backoff: {initial: 1s, max: 2s}}"
wait_phase FallenBack 60
sleep 0.5
sysfs
kill $watcher 2>/dev/null
say ""
say "--> 3. What the agent reported (node-state.json):"
jq -r '.status | "  phase:      \(.phase)",
  "  lastExit:   \(.lastExit.kindName) (kind \(.lastExit.kind)): \(.lastExit.reason)",
  "  message:    \(.lastExit.message)",
  "  restarts:   \(.restarts)",
  "  conditions: \([.conditions[] | "\(.type)=\(.status)"] | join(" "))",
  "  events (newest first):",
  (.recentEvents[] | "    \(.time) \(.type) \(.reason): \(.message)")' "$STATE" >&3
say ""
say "  Fallback detection, from the kernel's kmsg timestamp to the node state update:"
grep '"fallback detection published"' /tmp/agent.log | jq -r '"    \(.detect_latency_us / 1000) ms"' >&3
kill -TERM $agent; wait $agent
say ""
say "=== demo finished: the agent detected the ejections and fell back"
jq -r '.status.phase' "$STATE"
