# The cluster demo, inside the sched_ext VM (busybox sh): the agent in cluster mode against the
# host's kube-apiserver, pulling scheduler images from the host's registry. Narration goes to the
# serial console, which hack/demo.sh streams; the job's output is a one-line result.
exec 3>/dev/console
say() { echo "$*" >&3; }
export KUBECONFIG=/etc/schedkit/kubeconfig
N=$NODE_NAME
REG=$REGISTRY

policy() {  # IMAGE EXTRA
  kubectl apply -f - >/dev/null <<YAML
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: demo}
spec:
  scheduler: {image: $REG/testsched/$1:1}
  nodeSelector: {matchLabels: {schedkit.io/pool: demo}}
$2
YAML
}
show() { kubectl get sp,sns -o wide 2>&1 | sed 's/^/  /' >&3; }
watch_sns() {  # print every phase change until PHASE or SECONDS pass
  last= n=0
  while [ $n -lt $(($2 * 4)) ]; do
    p=$(kubectl get sns "$N" -o jsonpath='{.status.phase}|{.status.active.opsName}|{.status.restarts}' 2>/dev/null)
    if [ -n "$p" ] && [ "$p" != "$last" ]; then
      IFS='|' read -r ph ops rs <<EOT
$p
EOT
      say "  [kubectl get sns $N] phase=$ph scheduler=${ops:--} restarts=${rs:-0}"
      last=$p
    fi
    case $p in "$1"*) return 0 ;; esac
    n=$((n + 1)); sleep 0.25
  done
  say "!! $N did not reach $1"; exit 1
}

say ""
say "=== schedkit cluster demo: kernel $(uname -r); API server $(kubectl get --raw /version | jq -r .gitVersion) on the host; registry $REG"
mkdir -p /var/lib/schedkit
schedkit-agent --kubeconfig "$KUBECONFIG" --node-name "$N" --state-dir /var/lib/schedkit \
  --insecure-registry "$REG" --log-level warn >/tmp/agent.log 2>&1 &
say ""
say "--> 1. kubectl apply a SchedulerPolicy: image $REG/testsched/fifo:1 (a healthy BPF scheduler)"
policy fifo "  failurePolicy: {maxRestarts: 2, backoff: {initial: 1s, max: 2s}}"
watch_sns Running 120
show
say ""
say "--> 2. kubectl apply the same policy with image stall:1 (never dispatches): the kernel's"
say "       watchdog ejects it, the agent restarts it with backoff, then falls back"
policy stall "  failurePolicy: {maxRestarts: 2, backoff: {initial: 1s, max: 2s}}"
watch_sns FallenBack 120
show
say ""
say "  kubectl get sns $N -o jsonpath={.status.lastExit}:"
kubectl get sns "$N" -o jsonpath='{.status.lastExit}' | jq . | sed 's/^/    /' >&3
say ""
say "  kubectl get events (Warning):"
kubectl get events -n default --field-selector type=Warning 2>&1 | sed 's/^/    /' | head -8 >&3
say ""
say "=== demo finished"
kubectl get sns "$N" -o jsonpath='{.status.phase}'; echo
