# ops.init() fails: the attach "succeeds" and the kernel ejects at once. The agent must see the
# ejection, back off between attempts (no tight loop) and fall back.
. /schedkit/tests/lib.sh
. /schedkit/tests/agent_lib.sh

write_policy initfail "$TESTSCHED/initfail.bpf.o" "  failurePolicy: {maxRestarts: 2, backoff: {initial: 1s, max: 1s}}"
t0=$(uptime_s)
start_agent
wait_phase FallenBack 30
elapsed=$(since "$t0")
echo "fell back after $elapsed s"
expect_eq "$(st .status.lastExit.kindName)" ERROR "lastExit.kindName"
st .status.lastExit.message | grep -q "ops.init() failed" ||
  agent_fail "lastExit.message: $(st .status.lastExit.message)"
ok "lastExit.message: $(st .status.lastExit.message)"
expect_eq "$(count_enables initfail_test)" 0 "never reported enabled"
attempts=$(grep -c 'starting scheduler' "$AGENT_LOG")
expect_eq "$attempts" 3 "attach attempts"
# Two backoff waits of ~1 s (20% jitter) separate the three attempts.
awk -v e="$elapsed" 'BEGIN { exit !(e >= 1.5) }' || agent_fail "attempts not spaced by backoff ($elapsed s)"
ok "attempts spaced by backoff"
stop_agent
