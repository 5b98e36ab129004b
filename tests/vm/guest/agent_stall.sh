# A scheduler the watchdog ejects is restarted with backoff, then the circuit breaker leaves the
# node on the default scheduler (FallenBack) with the kernel's exit kind, reason and detail.
. /schedkit/tests/lib.sh
. /schedkit/tests/agent_lib.sh

seq0=$(enable_seq)
write_policy stall "$TESTSCHED/stall.bpf.o" "  failurePolicy: {maxRestarts: 2, window: 10m, backoff: {initial: 1s, max: 2s}}"
t0=$(uptime_s)
start_agent
wait_phase FallenBack 45
echo "fell back after $(since "$t0") s"
expect_eq "$(st .status.lastExit.kindName)" ERROR_STALL "lastExit.kindName"
expect_eq "$(st .status.lastExit.kind)" 1026 "lastExit.kind"
expect_eq "$(st .status.lastExit.reason)" "runnable task stall" "lastExit.reason"
st .status.lastExit.message | grep -qE '(\[[0-9]+\] failed to run|watchdog failed to check in) for [0-9.]+s' ||
  agent_fail "lastExit.message is not the kernel's detail line: $(st .status.lastExit.message)"
ok "lastExit.message: $(st .status.lastExit.message)"
expect_eq "$(st .status.restarts)" 2 "restarts"
expect_eq "$(count_enables stall_test)" 3 "attach attempts (1 + maxRestarts)"
expect_eq "$(st '.status.conditions[] | select(.type=="Degraded") | .status')" True "Degraded condition"
expect_eq "$(st '.status.recentEvents[0].reason')" FallenBack "newest event"
expect_eq "$(scx_state)" disabled "node on the default scheduler"
# The circuit stays open: no further attempts.
sleep 4
expect_eq "$(count_enables stall_test)" 3 "no attach after falling back"
[ ! -e /sys/fs/bpf/schedkit/schedkit-stall ] || agent_fail "pin of the ejected scheduler left behind"
ok "no pin left behind"
grep 'fallback detection published' "$AGENT_LOG" | sed 's/^/  /'
# The same story in Prometheus metrics, scraped over HTTP.
metrics=$(wget -qO- http://127.0.0.1:9477/metrics) || agent_fail "no /metrics"
echo "$metrics" | grep -qx 'schedkit_scheduler_exits_total{kind="ERROR_STALL"} 3' ||
  agent_fail "metrics: $(echo "$metrics" | grep schedkit_scheduler_exits)"
echo "$metrics" | grep -qx 'schedkit_node_phase{phase="FallenBack"} 1' || agent_fail "metrics: phase"
echo "$metrics" | grep -qx 'schedkit_sched_ext_enabled 0' || agent_fail "metrics: sched_ext_enabled"
echo "$metrics" | grep -q '^schedkit_fallback_detection_seconds_count 3$' || agent_fail "metrics: latency count"
ok "metrics: 3 ERROR_STALL exits, phase FallenBack, detection latency histogram"
stop_agent
