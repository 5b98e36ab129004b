# Guest half of bench/apply_latency.sh: CYCLES times, how long from "kubectl apply" (cluster mode)
# or a policy file landing (standalone) to node-state.json saying Running.
CYCLES=${CYCLES:-5}
export KUBECONFIG=/etc/schedkit/kubeconfig
OBJ=/opt/schedkit/testsched/fifo.bpf.o
now() { cut -d' ' -f1 /proc/uptime; }
phase() { jq -r .status.phase "$1/node-state.json" 2>/dev/null; }
wait_phase() {  # DIR PHASE — gives up after 60 s
  n=0
  while [ "$(phase "$1")" != "$2" ]; do
    n=$((n + 1))
    if [ $n -gt 1200 ]; then
      echo "FAIL: $1 never reached $2 (is $(phase "$1"))"; tail -20 /tmp/cluster.log /tmp/file.log; exit 1
    fi
    sleep 0.05
  done
}
policy_yaml() {
  cat <<YAML
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: bench}
spec:
  scheduler: {hostPath: $OBJ}
  nodeSelector: {matchLabels: {schedkit.io/pool: vm}}
YAML
}

mkdir -p /var/lib/sk-cluster /var/lib/sk-file /etc/schedkit/p
schedkit-agent --kubeconfig $KUBECONFIG --node-name "$NODE_NAME" --state-dir /var/lib/sk-cluster \
  --log-level warn >/tmp/cluster.log 2>&1 &
a=$!
wait_phase /var/lib/sk-cluster Idle
i=0
while [ $i -lt "$CYCLES" ]; do
  t0=$(now)
  policy_yaml | kubectl apply -f - >/dev/null
  wait_phase /var/lib/sk-cluster Running
  echo "CLUSTER $(awk -v a=$t0 -v b=$(now) 'BEGIN{print b-a}')"
  kubectl delete sp bench >/dev/null
  wait_phase /var/lib/sk-cluster Idle
  i=$((i + 1))
done
kill -TERM $a; wait $a

schedkit-agent --policy-file /etc/schedkit/p --node-name "$NODE_NAME" --state-dir /var/lib/sk-file \
  --node-labels schedkit.io/pool=vm \
  --log-level warn >/tmp/file.log 2>&1 &
a=$!
wait_phase /var/lib/sk-file Idle
i=0
while [ $i -lt "$CYCLES" ]; do
  policy_yaml >/tmp/bench.yaml
  t0=$(now)
  mv /tmp/bench.yaml /etc/schedkit/p/bench.yaml
  wait_phase /var/lib/sk-file Running
  echo "STANDALONE $(awk -v a=$t0 -v b=$(now) 'BEGIN{print b-a}')"
  rm /etc/schedkit/p/bench.yaml
  wait_phase /var/lib/sk-file Idle
  i=$((i + 1))
done
kill -TERM $a; wait $a
