# Guest half of bench/scx_attach.sh (busybox sh). Prints KEY VALUE lines.
CYCLES=${CYCLES:-5} IDLE=${IDLE:-60}
STATE=/var/lib/schedkit/node-state.json P=/etc/schedkit/policies
now() { cut -d' ' -f1 /proc/uptime; }
# sed, not jq: under TCG a jq start costs tens of ms of CPU, and a 50 ms jq poll would steal a
# good part of a vCPU from the scheduler being verified (node-state.json has one "phase" key).
phase() { sed -n 's/.*"phase": *"\([A-Za-z]*\)".*/\1/p' "$STATE" 2>/dev/null | head -n1; }
wait_for() {  # SECONDS COMMAND...
  n=$(($1 * 20)); shift
  while ! "$@"; do n=$((n - 1)); [ $n -gt 0 ] || return 1; sleep 0.05; done
}
is_phase() { [ "$(phase)" = "$1" ]; }
enabled() { [ "$(cat /sys/kernel/sched_ext/state)" = enabled ]; }
disabled() { [ "$(cat /sys/kernel/sched_ext/state)" = disabled ]; }
die() { echo "FAIL: $*"; tail -30 /tmp/agent.log; exit 1; }
policy() {
  cat >"$P/.lavd.tmp" <<YAML
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: lavd}
spec:
  scheduler: {image: "$IMAGE"}
  health: {startupTimeout: 300s}
YAML
  mv "$P/.lavd.tmp" "$P/lavd.yaml"
}
mount | grep -q ' /sys/fs/bpf ' || mount -t bpf bpf /sys/fs/bpf
mkdir -p "$P" /var/lib/schedkit
schedkit-agent --policy-file "$P" --node-name vm --state-dir /var/lib/schedkit \
  --insecure-registry "$REGISTRY" --metrics-address 127.0.0.1:9477 --log-level warn >/tmp/agent.log 2>&1 &
agent=$!
wait_for 60 is_phase Idle || die "agent not Idle"
i=0
while [ $i -le "$CYCLES" ]; do
  t0=$(now)
  policy
  wait_for 300 is_phase Running || die "not Running (is $(phase))"
  d=$(awk -v a="$t0" -v b="$(now)" 'BEGIN{print b-a}')
  if [ $i = 0 ]; then echo "FIRST $d"; else echo "AGENT $d"; fi
  [ $i = "$CYCLES" ] && break
  rm -f "$P/lavd.yaml"
  wait_for 60 is_phase Idle || die "not Idle after removal"
  wait_for 30 disabled || die "still enabled after removal"
  i=$((i + 1))
done

# Idle: scx_lavd runs, the agent has nothing to do but a scrape every 15 s.
pid=$agent
wait_for 30 sh -c "wget -q -O /tmp/m http://127.0.0.1:9477/metrics && grep -q '^schedkit_scx_stats_up{.*} 1' /tmp/m" ||
  echo "NOTE: no scx_stats samples on /metrics"
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
tck=100
c0=$(cpu) t0=$(now)
s=0
while [ $s -lt "$IDLE" ]; do
  wget -q -O /tmp/m http://127.0.0.1:9477/metrics
  sleep 15; s=$((s + 15))
done
c1=$(cpu) t1=$(now)
el=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", b-a}')
echo "IDLE_S $el"
echo "IDLE_CPU_MS $(( (c1 - c0) * 1000 / tck ))"
echo "IDLE_CPU_PCT $(awk -v c=$((c1 - c0)) -v t="$el" -v k=$tck 'BEGIN{printf "%.2f", 100 * c / k / t}')"
echo "RSS_KB $(awk '/^VmRSS/ {print $2}' /proc/$pid/status)"
echo "HWM_KB $(awk '/^VmHWM/ {print $2}' /proc/$pid/status)"
echo "SCRAPE_BYTES $(wc -c </tmp/m)"
echo "SCX_SAMPLES $(grep -c '^schedkit_scx_[a-z0-9_]*{' /tmp/m)"
rm -f "$P/lavd.yaml"
wait_for 60 is_phase Idle
kill -TERM $agent; wait $agent

# By hand: the same binary, straight from a shell.
i=0
while [ $i -lt "$CYCLES" ]; do
  t0=$(now)
  /usr/bin/scx_lavd --performance >/tmp/lavd.log 2>&1 &
  l=$!
  wait_for 300 enabled || { cat /tmp/lavd.log; die "scx_lavd by hand did not enable"; }
  echo "HAND $(awk -v a="$t0" -v b="$(now)" 'BEGIN{print b-a}')"
  kill -INT $l; wait $l
  wait_for 30 disabled || die "scx_lavd by hand did not detach"
  i=$((i + 1))
done
