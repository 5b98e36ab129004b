# The real-scheduler demo, run inside the sched_ext VM (busybox sh): the agent pulls an scx
# scheduler image from the host's registry and runs it; its own statistics show on /metrics;
# SysRq-S (the operator's kill switch) puts the node back on the default scheduler.
# Environment: IMAGE (registry/repo:tag), REGISTRY (host:port), SCHED (scx_lavd, ...).
exec 3>/dev/console
say() { echo "$*" >&3; }
POLICIES=/etc/schedkit/policies
STATE=/var/lib/schedkit/node-state.json
mkdir -p "$POLICIES" /var/lib/schedkit
mount | grep -q ' /sys/fs/bpf ' || mount -t bpf bpf /sys/fs/bpf
phase() { jq -r .status.phase "$STATE" 2>/dev/null; }
wait_phase() {
  n=0
  while [ "$(phase)" != "$1" ]; do
    n=$((n + 1)); [ $n -lt $(($2 * 10)) ] || { say "!! phase $1 not reached in $2 s"; tail -20 /tmp/agent.log >&3; exit 1; }
    sleep 0.1
  done
}
sysfs() {
  say "  [kernel] /sys/kernel/sched_ext: state=$(cat /sys/kernel/sched_ext/state)" \
      "ops=$(cat /sys/kernel/sched_ext/root/ops 2>/dev/null || echo -)" \
      "enable_seq=$(cat /sys/kernel/sched_ext/enable_seq)"
}
watch_state() {
  last=
  while :; do
    line=$(jq -r '[.status.phase, (.status.active.opsName // "-"),
                   ((.status.conditions[]? | select(.type=="Ready") | .reason) // "")] | join(" ")' \
           "$STATE" 2>/dev/null)
    if [ -n "$line" ] && [ "$line" != "$last" ]; then
      set -- $line
      say "  [node state] phase=$1 scheduler=$2 ($3)"
      last=$line
    fi
    sleep 0.2
  done
}

say ""
say "=== schedkit demo: $SCHED on kernel $(uname -r) (config at /boot/config-$(uname -r))"
say ""
say "--> 1. A SchedulerPolicy names the image $IMAGE"
cat >"$POLICIES/.demo.tmp" <<YAML
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: demo}
spec:
  scheduler: {image: "$IMAGE"}
  health: {startupTimeout: 300s}
YAML
mv "$POLICIES/.demo.tmp" "$POLICIES/demo.yaml"
t0=$(cut -d' ' -f1 /proc/uptime)
schedkit-agent --policy-file "$POLICIES" --node-name demo-node --state-dir /var/lib/schedkit \
  --insecure-registry "$REGISTRY" --metrics-address 127.0.0.1:9477 --log-format json >/tmp/agent.log 2>&1 &
agent=$!
watch_state &
watcher=$!
say "    (under TCG the BPF verifier takes most of the next half minute)"
wait_phase Running 300
say "    Running after $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN{printf "%.1f", b-a}') s"
sysfs
say ""
say "--> 2. Some CPU-bound load for 15 s; $SCHED schedules it"
for c in $(seq "$(nproc)"); do sh -c 'while :; do :; done' & done
sleep 15
for p in $(jobs -p); do [ "$p" = "$agent" ] || [ "$p" = "$watcher" ] || kill "$p" 2>/dev/null; done
sysfs
say ""
say "--> 3. The scheduler's own statistics (scx_stats), on the agent's /metrics:"
n=0
until wget -q -O /tmp/m http://127.0.0.1:9477/metrics && grep -q '^schedkit_scx_stats_up{.*} 1' /tmp/m; do
  n=$((n + 1)); [ $n -lt 30 ] || break; sleep 1
done
say "    labels: $(grep '^schedkit_scx_nr_sched{' /tmp/m | sed 's/.*{\(.*\)}.*/\1/')"
grep '^schedkit_scx_' /tmp/m | grep -v '^schedkit_scx_stats_' | head -12 | sed 's/{[^}]*}//; s/^/    /' >&3
say "    ... $(grep -c '^schedkit_scx_' /tmp/m) samples in all"
say ""
say "--> 4. SysRq-S, the operator's kill switch: the kernel drops $SCHED; the agent reports it and"
say "       does not restart it"
echo S >/proc/sysrq-trigger
wait_phase FallenBack 60
sleep 0.5
sysfs
kill $watcher 2>/dev/null
jq -r '.status | "  lastExit: \(.lastExit.kindName): \(.lastExit.reason)",
  "  events (newest first):", (.recentEvents[] | "    \(.time) \(.type) \(.reason): \(.message)")' "$STATE" >&3
kill -TERM $agent; wait $agent
say ""
say "=== demo finished"
jq -r '.status.phase' "$STATE"
