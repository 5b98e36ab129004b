# Guest half of bench/runqlat_overhead.sh (busybox sh in the sched_ext VM): the agent runs
# fifo_test; ROUNDS times, the ping-pong load without the run-queue latency guard (probe
# unloaded), then with it (probe attached), each time after the agent confirmed the change.
ITERS=${ITERS:-20000}
ROUNDS=${ROUNDS:-5}
P=/etc/schedkit/policies
LOG=/tmp/agent.log
mkdir -p $P /var/lib/schedkit
pol() {  # EXTRA_SPEC
  cat >$P/.b.tmp <<YAML
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: bench}
spec:
  scheduler: {hostPath: /opt/schedkit/testsched/fifo.bpf.o}
$1
YAML
  mv $P/.b.tmp $P/bench.yaml
}
wait_log_count() {  # TEXT N
  i=0
  while [ "$(grep -c "$1" $LOG)" -lt "$2" ]; do
    i=$((i + 1)); [ $i -lt 300 ] || { echo "ERROR timed out waiting for '$1'"; exit 1; }
    sleep 0.1
  done
}
pol ""
schedkit-agent --policy-file $P --node-name bench --state-dir /var/lib/schedkit --metrics-address 127.0.0.1:9477 \
  >$LOG 2>&1 &
agent=$!
while [ "$(jq -r .status.phase /var/lib/schedkit/node-state.json 2>/dev/null)" != Running ]; do sleep 0.2; done
sleep 1
pingpong 1000 >/dev/null  # warm up
r=1
while [ $r -le "$ROUNDS" ]; do
  echo "RTT_OFF_NS $(pingpong "$ITERS")"
  # An SLO nothing breaks; reads every 2 s (window/4), as a guarded node would.
  pol "  health: {runqueueLatency: {p99: 10s, window: 8s}}"
  wait_log_count "run-queue latency probe attached" $r
  sleep 0.5
  echo "RTT_ON_NS $(pingpong "$ITERS")"
  if [ $r -eq "$ROUNDS" ]; then  # proof that it counted: the exported histogram after a read
    sleep 2.5
    echo "PROBE_COUNT $(wget -qO- http://127.0.0.1:9477/metrics | awk '$1 == "schedkit_runqueue_latency_seconds_count" {print $2}')"
  fi
  pol ""
  wait_log_count "run-queue latency probe detached" $r
  sleep 0.5
  r=$((r + 1))
done
[ "$(jq -r .status.phase /var/lib/schedkit/node-state.json)" = Running ] || echo "WARN phase $(jq -r .status.phase /var/lib/schedkit/node-state.json)"
kill -TERM $agent; wait $agent
