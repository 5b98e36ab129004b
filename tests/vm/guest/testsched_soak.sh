# fifo_test survives SECONDS (default 180) under two busy loops, then detaches cleanly.
. /schedkit/tests/lib.sh
secs=${1:-180}

busy() { while :; do :; done; }
busy & b1=$!
busy & b2=$!
t0=$(uptime_s)
start_runner fifo
wait_attached fifo_test
elapsed=0
while [ "$elapsed" -lt "$secs" ]; do
  sleep 10
  elapsed=$(since "$t0" | cut -d. -f1)
  kill -0 "$RUNNER_PID" 2>/dev/null || fail "runner exited after ${elapsed}s"
  [ "$(scx_state)" = enabled ] || fail "state $(scx_state) after ${elapsed}s"
  echo "still attached after ${elapsed}s"
done
ok "fifo_test attached for ${elapsed}s under two busy loops"
kill "$b1" "$b2"
kill -TERM "$RUNNER_PID"
wait_runner 10
expect_eq "$RUNNER_RC" 0 "runner exit status after SIGTERM"
expect_log "detached fifo_test"
expect_kmsg 'sched_ext: BPF scheduler "fifo_test" disabled (unregistered from user space)'
