# Guest half of vm_prometheus_6.18 (tests/vm/prometheus/run.sh is the host half): the standalone
# agent, serving /metrics on 0.0.0.0:9477 (forwarded to the host), walks through the states the
# dashboard and the alerts describe while the host's Prometheus scrapes it. After each state the
# guest waits until the host has checked it (GET http://10.0.2.2:$CTL_PORT/<step> answers once the
# host made that file):
#   1. stall_test ejected 4 times → FallenBack                              (host: fallen-back)
#   2. fifo_test Running, a stats server on /run/scx/root/stats            (host: running)
#   3. the stats server stops answering: the agent's reads time out        (host: stats-failing)
#   4. the agent stops: Prometheus cannot reach it                         (host: down)
. /schedkit/tests/lib.sh
. /schedkit/tests/agent_lib.sh

[ -n "${CTL_PORT:-}" ] || fail "CTL_PORT is not set"
host_says() { wget -qO /dev/null "http://10.0.2.2:$CTL_PORT/$1" 2>/dev/null; }
wait_host() {  # STEP SECONDS
  wait_until "$2" host_says "$1" || agent_fail "the host did not finish checking '$1' within $2 s"
  ok "host checked: $1"
}
STATS=/run/scx/root/stats
mkdir -p /run/scx/root

# 1. Ejections until the circuit breaker opens.
write_policy stall "$TESTSCHED/stall.bpf.o" "  failurePolicy: {maxRestarts: 3, window: 10m, backoff: {initial: 1s, max: 2s}}"
start_agent --metrics-address 0.0.0.0:9477 --scx-stats-timeout 300ms
wait_phase FallenBack 90
expect_eq "$(st .status.restarts)" 3 "restarts"
wait_host fallen-back 180

# 2. A healthy scheduler with statistics.
scx_stats_server "$STATS" >/tmp/stats.log 2>&1 &
srv=$!
remove_policy stall
# A run-queue latency guard far above what TCG shows, so the probe reports and never trips.
write_policy fifo "$TESTSCHED/fifo.bpf.o" "  health: {runqueueLatency: {p99: 2s, window: 10s}}"
wait_phase Running 30
wait_host running 240

# 3. The statistics server hangs (a new socket file: the agent reconnects to it).
kill "$srv"; wait "$srv" 2>/dev/null
scx_stats_server "$STATS" --hang >>/tmp/stats.log 2>&1 &
wait_host stats-failing 180
agent_log_has "cannot read the scheduler's scx stats" || agent_fail "the agent logged no failed stats read"
ok "agent logged the failed stats read"

# 4. No agent.
stop_agent
ok "agent stopped"
wait_host down 120
