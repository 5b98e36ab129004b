# Guest half of bench/fallback_latency.sh (busybox sh in the sched_ext VM).
# Phase 1: CYCLES watchdog ejections of stall_test; the agent logs, for each, the time from the
#          kernel's kmsg timestamp to the node-state update ("detect_latency_us").
# Phase 2: fifo_test attached and idle for IDLE_S seconds: the agent's CPU time and memory.
CYCLES=${CYCLES:-22}
IDLE_S=${IDLE_S:-60}
P=/etc/schedkit/policies
mkdir -p $P /var/lib/schedkit
pol() {
  cat >$P/.b.tmp <<YAML
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: bench}
spec:
  scheduler: {hostPath: /opt/schedkit/testsched/$1.bpf.o}
  failurePolicy: {maxRestarts: 100, window: 1h, backoff: {initial: 1s, max: 1s}}
YAML
  mv $P/.b.tmp $P/bench.yaml
}
pol stall
schedkit-agent --policy-file $P --node-name bench --state-dir /var/lib/schedkit --log-format json \
  >/tmp/agent.log 2>&1 &
agent=$!
n=0
while [ "$n" -lt "$CYCLES" ]; do
  sleep 1
  n=$(grep -c '"fallback detection published"' /tmp/agent.log)
done
grep '"fallback detection published"' /tmp/agent.log | jq -r '"LATENCY_US \(.detect_latency_us)"'

pol fifo
while [ "$(jq -r .status.phase /var/lib/schedkit/node-state.json)" != Running ]; do sleep 0.2; done
sleep 2
ticks() { awk '{print $14 + $15}' /proc/$agent/stat; }
t0=$(ticks); u0=$(cut -d' ' -f1 /proc/uptime)
sleep "$IDLE_S"
t1=$(ticks); u1=$(cut -d' ' -f1 /proc/uptime)
echo "IDLE_CPU_TICKS $((t1 - t0))"
echo "IDLE_WALL_S $(awk -v a=$u0 -v b=$u1 'BEGIN{print b-a}')"
echo "CLK_TCK $(getconf CLK_TCK 2>/dev/null || echo 100)"
grep -E '^(VmRSS|VmHWM)' /proc/$agent/status | awk '{print toupper($1) " " $2}' | tr -d ':'
echo "STATE_WRITES_IDLE $(grep -c '"node state"' /tmp/agent.log)"
kill -TERM $agent; wait $agent
