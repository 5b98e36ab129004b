# Helpers for guest-side VM test scripts (busybox sh). Source it: . /schedkit/tests/lib.sh
# Each check prints one "ok:" line; the first failure prints "FAIL:", the runner's log and the
# sched_ext kernel messages, and exits 1 — run.sh hands that status back to ctest.
SCX=/sys/kernel/sched_ext
TESTSCHED=/opt/schedkit/testsched
RUNNER=schedkit-testsched-runner
RUNNER_LOG=/tmp/runner.log

fail() {
  echo "FAIL: $*"
  if [ -s "$RUNNER_LOG" ]; then echo "--- runner output:"; cat "$RUNNER_LOG"; fi
  echo "--- sched_ext kernel messages:"; dmesg | grep -A1 'sched_ext' | head -40
  exit 1
}
ok() { echo "ok: $*"; }

scx_state() { cat "$SCX/state"; }
scx_ops() { cat "$SCX/root/ops" 2>/dev/null || true; }
enable_seq() { cat "$SCX/enable_seq"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(uptime_s)" 'BEGIN { printf "%.2f", b - a }'; }

expect_eq() {  # actual expected what
  [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"
  ok "$3 = $2"
}

# wait_until SECONDS COMMAND... — retries every 0.1 s
wait_until() {
  _t=$1; shift
  _n=$((_t * 10))
  while ! "$@"; do
    _n=$((_n - 1))
    [ "$_n" -gt 0 ] || return 1
    sleep 0.1
  done
}

log_has() { grep -qF -- "$1" "$RUNNER_LOG"; }
kmsg_has() { dmesg | grep -qF -- "$1"; }

expect_log() { log_has "$1" || fail "runner printed no '$1'"; ok "runner printed '$1'"; }
expect_kmsg() { wait_until 5 kmsg_has "$1" || fail "no kernel message '$1'"; ok "kmsg: $1"; }

# start_runner OBJECT [ARGS...] — the runner in the background, its output in $RUNNER_LOG
start_runner() {
  _obj=$1; shift
  : >"$RUNNER_LOG"
  "$RUNNER" "$TESTSCHED/$_obj.bpf.o" "$@" >"$RUNNER_LOG" 2>&1 &
  RUNNER_PID=$!
}

# wait_runner SECONDS — waits for the runner to exit; its status in RUNNER_RC
# shellcheck disable=SC2034  # RUNNER_RC is read by the test scripts
wait_runner() {
  wait_until "$1" sh -c "! kill -0 $RUNNER_PID 2>/dev/null" ||
    fail "runner still running after $1 s"
  RUNNER_RC=0
  wait "$RUNNER_PID" || RUNNER_RC=$?
}

# wait_attached OPS_NAME — waits for "attached <name>" from the runner
wait_attached() {
  wait_until 20 log_has "attached $1" || fail "runner did not print 'attached $1'"
  ok "runner attached $1"
}
