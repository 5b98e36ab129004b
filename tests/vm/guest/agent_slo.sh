# spec.health.runqueueLatency on the real kernel: the agent loads its run-queue latency probe
# (tp_btf sched_wakeup/sched_switch), and
#  1. slow_test (50 ms slices, no direct dispatch) under two busy loops breaks a 5 ms p99 SLO:
#     each attempt ends in an SLO_BREACH exit, failurePolicy restarts it once, then FallenBack;
#  2. the healthy fifo_test under the same window and a light load does not trip within 40 s.
#     Its SLO is 20 ms, not 5: under qemu TCG (one host thread runs both vCPUs in turn) the
#     p99 floor is the emulator's. Measured on 6.18 with this light load: the default scheduler
#     2.9-3.9 ms, fifo_test 4.0-7.5 ms (it tripped a 5 ms SLO once); slow_test 75-115 ms.
. /schedkit/tests/lib.sh
. /schedkit/tests/agent_lib.sh

guard="  health: {runqueueLatency: {p99: 5ms, window: 10s}}"
fp="  failurePolicy: {maxRestarts: 1, window: 10m, backoff: {initial: 1s, max: 2s}}"
metric() { wget -qO- http://127.0.0.1:9477/metrics | grep -E "^$1" ; }

# ---- 1. slow_test breaches the SLO ----
busy() { while :; do :; done; }
busy & b1=$!
busy & b2=$!
write_policy slow "$TESTSCHED/slow.bpf.o" "$guard
$fp"
t0=$(uptime_s)
start_agent --log-level debug
wait_phase Running 30
agent_log_has "run-queue latency probe attached" || agent_fail "the probe was not loaded"
ok "run-queue latency probe attached"
wait_phase FallenBack 60
echo "fell back after $(since "$t0") s"
expect_eq "$(st .status.lastExit.kindName)" SLO_BREACH "lastExit.kindName"
reason=$(st .status.lastExit.reason)
echo "$reason" | grep -qE '^run-queue latency p99 [0-9.e+]+ ms over 10s exceeded the SLO of 5 ms$' ||
  agent_fail "lastExit.reason: $reason"
ok "lastExit.reason: $reason"
ok "lastExit.message: $(st .status.lastExit.message)"
expect_eq "$(st .status.restarts)" 1 "restarts"
expect_eq "$(count_enables slow_test)" 2 "attach attempts (1 + maxRestarts)"
expect_eq "$(st '.status.recentEvents[0].reason')" FallenBack "newest event"
expect_eq "$(scx_state)" disabled "node on the default scheduler"
[ ! -e /sys/fs/bpf/schedkit/schedkit-slow ] || agent_fail "pin of the detached scheduler left behind"
m=$(metric 'schedkit_scheduler_exits_total\{kind="SLO_BREACH"\}') || agent_fail "no SLO_BREACH exit metric"
expect_eq "$m" 'schedkit_scheduler_exits_total{kind="SLO_BREACH"} 2' "exits metric"
n=$(metric 'schedkit_runqueue_latency_seconds_count' | awk '{print $2}')
[ -n "$n" ] && [ "${n%.*}" -gt 100 ] 2>/dev/null || agent_fail "histogram count: '$n'"
ok "schedkit_runqueue_latency_seconds_count $n"
metric 'schedkit_runqueue_latency_(p99_seconds|slo_breached)' | sed 's/^/  /'
metric 'schedkit_runqueue_latency_p99_seconds\{policy="slow"\}' >/dev/null || agent_fail "no p99 series"
grep -E 'run-queue latency SLO breached' "$AGENT_LOG" | sed 's/^/  /'
kill "$b1" "$b2"

# ---- 2. fifo_test under the same guard and a light load ----
light() { while :; do sleep 0.05; done; }
light & l1=$!
remove_policy slow
write_policy fifo "$TESTSCHED/fifo.bpf.o" "  health: {runqueueLatency: {p99: 20ms, window: 10s}}
$fp"
wait_phase Running 30
t1=$(uptime_s)
sleep 40
grep -E 'run-queue latency SLO breached|"run-queue latency"|run-queue latency p99' "$AGENT_LOG" | grep fifo | tail -5 | sed 's/^/  /'
grep -E 'msg="run-queue latency"|run-queue latency node' "$AGENT_LOG" | tail -8 | sed 's/^/  /'
phase_is Running || agent_fail "fifo_test under the guard: phase $(st .status.phase) after $(since "$t1") s: $(st .status.lastExit.reason)"
ok "phase Running after $(since "$t1") s"
expect_eq "$(st .status.policy)" fifo "policy"
expect_eq "$(st .status.restarts)" 0 "restarts"
expect_eq "$(count_enables fifo_test)" 1 "attaches of fifo_test"
m=$(metric 'schedkit_runqueue_latency_slo_breached\{policy="fifo"\}') || agent_fail "no breached series for fifo"
expect_eq "$m" 'schedkit_runqueue_latency_slo_breached{policy="fifo"} 0' "breached metric"
metric 'schedkit_runqueue_latency_slo_breached\{policy="slow"\}' >/dev/null &&
  agent_fail "the old policy's series is still exported"
ok "fifo_test stayed within the SLO: $(metric 'schedkit_runqueue_latency_p99_seconds')"
kill "$l1"

# Without a guard the probe is unloaded.
detaches() { grep -c "run-queue latency probe detached" "$AGENT_LOG"; }
d0=$(detaches)
write_policy fifo "$TESTSCHED/fifo.bpf.o"
more_detaches() { [ "$(detaches)" -gt "$d0" ]; }
wait_until 10 more_detaches || agent_fail "probe not detached"
ok "probe detached when no policy asks for it"
stop_agent
