#!/usr/bin/env bash
# monitoring/ (Prometheus rules, Grafana dashboard) and the chart's monitoring templates.
#   monitoring_test.sh rules             promtool check rules + promtool test rules; dashboard lint
#   monitoring_test.sh sync              the chart's copies are monitoring/'s (hack/sync-monitoring.sh --check)
#   monitoring_test.sh helm              every monitoring value on: helm lint --strict, valid objects, the
#                                        rendered PrometheusRule and dashboard equal the sources, Services
#                                        and ServiceMonitors select what they should
#   monitoring_test.sh operator OPERATOR a real Prometheus scrapes the real schedkit-operator (against the
#                                        kube_testenv API server): promtool check metrics, every operator
#                                        panel and rule returns data; stopped, SchedkitOperatorDown's
#                                        expression does
# The agent's side, with a real scheduler in a VM: tests/vm/prometheus (vm_prometheus_6.18).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
# shellcheck source=prom_lib.sh
. "$root/tests/integration/prometheus/prom_lib.sh"
fail() { prom_fail "$@"; }
note() { prom_note "$@"; }
[ $# -ge 1 ] || fail "usage: $0 rules | sync | helm | operator OPERATOR_BINARY"
command -v jq >/dev/null || fail "jq is needed (hack/deps.sh installs it)"
work=$(mktemp -d "${TMPDIR:-/tmp}/schedkit-monitoring-it.XXXXXX")
op_pid=''
finish() {
  local rc=$?
  prom_stop
  if [ -n "$op_pid" ]; then kill -KILL "$op_pid" 2>/dev/null || true; wait "$op_pid" 2>/dev/null || true; fi
  [ "$rc" = 0 ] || [ ! -s "$work/operator.log" ] || { echo "--- operator log:"; tail -40 "$work/operator.log"; }
  [ "$rc" = 0 ] || [ ! -s "$work/prometheus.log" ] || { echo "--- prometheus log:"; tail -20 "$work/prometheus.log"; }
  [ "$(type -t cleanup_kube)" != function ] || cleanup_kube
  rm -rf "$work"
  exit "$rc"
}
trap finish EXIT

case_rules() {
  command -v promtool >/dev/null || fail "promtool is needed (hack/deps.sh installs Debian's prometheus)"
  promtool check rules "$MON_RULES" || fail "promtool check rules"
  (cd "$(dirname "$MON_RULES")" && promtool test rules schedkit-rules_test.yaml) || fail "promtool test rules"
  # Every alert has a test case that fires it.
  local a
  for a in $(grep -oE '^ *- alert: [A-Za-z]+' "$MON_RULES" | awk '{print $3}'); do
    grep -qE "alertname: $a\$" "$(dirname "$MON_RULES")/schedkit-rules_test.yaml" ||
      fail "alert $a has no case in schedkit-rules_test.yaml"
    grep -q "^### $a\$" "$root/docs/observability.md" || fail "alert $a is not described in docs/observability.md"
  done
  # The dashboard: Grafana 10/11's schema, the data source a variable, unique panel ids, queries.
  jq -e '.schemaVersion >= 36' "$MON_DASHBOARD" >/dev/null || fail "dashboard schemaVersion"
  jq -e '[.templating.list[] | select(.type == "datasource" and .name == "datasource")] | length == 1' \
    "$MON_DASHBOARD" >/dev/null || fail "the dashboard has no datasource variable"
  jq -e '[.panels[] | select(.type != "row") | .datasource.uid, .targets[].datasource.uid]
         | all(. == "${datasource}")' "$MON_DASHBOARD" >/dev/null ||
    fail "a panel or target does not use \${datasource}"
  jq -e '[.panels[].id] | length == (unique | length)' "$MON_DASHBOARD" >/dev/null || fail "duplicate panel ids"
  jq -e '[.panels[] | select(.type != "row") | .targets | length > 0] | all' "$MON_DASHBOARD" >/dev/null ||
    fail "a panel without queries"
  note "dashboard: $(jq '[.panels[] | select(.type != "row")] | length' "$MON_DASHBOARD") panels, \
$(jq '[.panels[] | select(.type != "row") | .targets[]] | length' "$MON_DASHBOARD") queries"
  echo "ok: rules, rule tests and dashboard"
}

case_sync() {
  "$root/hack/sync-monitoring.sh" --check || fail "the chart's monitoring files drifted"
  echo "ok: helm/schedkit/files match monitoring/"
}

# yaml2json < YAML: a YAML stream as a JSON array.
yaml2json() {
  python3 -c 'import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d is not None]))'
}

case_helm() {
  local helm chart=$root/helm/schedkit out on=(--set monitoring.serviceMonitor.enabled=true
    --set monitoring.prometheusRule.enabled=true --set monitoring.dashboards.enabled=true)
  helm=$("$root/hack/helm.sh") || fail "no helm (hack/helm.sh could not build it)"
  export HELM_CACHE_HOME=$work/cache HELM_CONFIG_HOME=$work/config HELM_DATA_HOME=$work/data
  out=$("$helm" lint --strict "$chart" "${on[@]}" --set 'monitoring.serviceMonitor.labels.release=prom' \
    --set 'monitoring.dashboards.label=grafana_dashboard' 2>&1) || fail "helm lint --strict: $out"
  "$helm" template schedkit "$chart" -n schedkit-system --kube-version 1.34.4 >"$work/off.yaml"
  grep -qE 'kind: (ServiceMonitor|PrometheusRule)|schedkit-dashboard|schedkit-agent-metrics' "$work/off.yaml" &&
    fail "monitoring objects render with the default values"
  "$helm" template schedkit "$chart" -n schedkit-system --kube-version 1.34.4 "${on[@]}" \
    --set monitoring.serviceMonitor.labels.release=prom --set monitoring.prometheusRule.labels.release=prom \
    --set monitoring.dashboards.label=grafana_dashboard_x --set monitoring.dashboards.labelValue=yes \
    --set monitoring.dashboards.namespace=grafana >"$work/on.yaml" || fail "helm template with monitoring on"
  yaml2json <"$work/on.yaml" >"$work/on.json" || fail "the rendered chart is not valid YAML"
  obj() { jq --arg k "$1" --arg n "$2" '[.[] | select(.kind == $k and .metadata.name == $n)] | first // empty' "$work/on.json"; }
  # The rules: exactly the source file.
  yaml2json <"$MON_RULES" | jq -S '.[0]' >"$work/rules-src.json"
  obj PrometheusRule schedkit | jq -S .spec >"$work/rules-chart.json"
  diff -u "$work/rules-src.json" "$work/rules-chart.json" || fail "the rendered PrometheusRule differs from $MON_RULES"
  obj PrometheusRule schedkit | jq -e '.metadata.labels.release == "prom"' >/dev/null || fail "PrometheusRule labels"
  # The dashboard: exactly the source JSON, labelled for the sidecar, where it was asked to go.
  obj ConfigMap schedkit-dashboard >"$work/cm.json"
  jq -r '.data["schedkit.json"]' "$work/cm.json" | jq -S . >"$work/dash-chart.json" || fail "the ConfigMap's JSON does not parse"
  jq -S . "$MON_DASHBOARD" | diff -u - "$work/dash-chart.json" >/dev/null || fail "the rendered dashboard differs from $MON_DASHBOARD"
  jq -e '.metadata.labels.grafana_dashboard_x == "yes" and .metadata.namespace == "grafana"' "$work/cm.json" >/dev/null ||
    fail "dashboard ConfigMap label or namespace: $(jq -c .metadata "$work/cm.json")"
  # Services select the pods, ServiceMonitors select the Services, on the named metrics port.
  local svc mon pods
  for pair in "schedkit-agent-metrics schedkit-agent DaemonSet schedkit-agent 9477" \
              "schedkit-operator-metrics schedkit-operator Deployment schedkit-operator 9478"; do
    set -- $pair
    svc=$(obj Service "$1") mon=$(obj ServiceMonitor "$2") pods=$(obj "$3" "$4")
    [ -n "$svc" ] && [ -n "$mon" ] && [ -n "$pods" ] || fail "missing $1, $2 or $3/$4"
    jq -e --argjson p "$pods" '.spec.selector | to_entries | all(.value == $p.spec.template.metadata.labels[.key])' <<<"$svc" >/dev/null ||
      fail "Service $1 does not select $3/$4's pods"
    jq -e --argjson s "$svc" '.spec.selector.matchLabels | to_entries | all(.value == $s.metadata.labels[.key])' <<<"$mon" >/dev/null ||
      fail "ServiceMonitor $2 does not select Service $1"
    jq -e --argjson p "$pods" '.spec.ports[0] as $sp | $sp.port == '"$5"' and $sp.targetPort == "metrics"
      and ([$p.spec.template.spec.containers[0].ports[] | select(.name == "metrics")] | length == 1)' <<<"$svc" >/dev/null ||
      fail "Service $1 port"
    jq -e '.spec.endpoints[0].port == "metrics" and .metadata.labels.release == "prom"
      and .spec.namespaceSelector.matchNames == ["schedkit-system"]' <<<"$mon" >/dev/null || fail "ServiceMonitor $2 endpoints/labels"
  done
  obj ServiceMonitor schedkit-agent | jq -e '[.spec.endpoints[0].relabelings[] | select(.targetLabel == "instance")
    | .sourceLabels == ["__meta_kubernetes_pod_node_name"]] | any' >/dev/null || fail "agent instance is not the node name"
  # Without the operator, no operator Service or ServiceMonitor.
  "$helm" template schedkit "$chart" -n schedkit-system --kube-version 1.34.4 "${on[@]}" --set operator.enabled=false |
    grep -qE "name: schedkit-operator(-metrics)?$" && fail "operator metrics objects with operator.enabled=false"
  # A bad label key is refused by the schema.
  if "$helm" template schedkit "$chart" --kube-version 1.34.4 --set 'monitoring.dashboards.label=a b' >/dev/null 2>&1; then
    fail "a dashboard label key with a space was rendered"
  fi
  note "rendered: $(jq -r '[.[] | select(.kind == "ServiceMonitor" or .kind == "PrometheusRule" or (.kind == "Service") or .metadata.name == "schedkit-dashboard") | "\(.kind)/\(.metadata.name)"] | join(" ")' "$work/on.json")"
  echo "ok: chart monitoring objects (lint, rules and dashboard equal the sources, selectors)"
}

case_operator() {
  local bin=${1:-} port
  # Globals, not locals: the EXIT trap's cleanup_kube runs after this function has returned.
  ns=monitoring-it node=monitoring-it-node pol=monitoring-it
  [ -x "$bin" ] || fail "no schedkit-operator binary at '$bin'"
  for t in prometheus promtool curl kubectl python3; do command -v "$t" >/dev/null || fail "$t is needed"; done
  [ -n "${SCHEDKIT_KUBE_TESTENV:-}" ] && [ -f "$SCHEDKIT_KUBE_TESTENV/env" ] || fail "SCHEDKIT_KUBE_TESTENV is not set (run through ctest)"
  # shellcheck disable=SC1091
  . "$SCHEDKIT_KUBE_TESTENV/env"
  k() { kubectl --kubeconfig "$KUBECONFIG" --request-timeout=30s "$@"; }
  cleanup_kube() {
    k delete schedulerpolicy "$pol" --ignore-not-found >/dev/null 2>&1 || true
    k delete schedulernodestate "$node" --ignore-not-found >/dev/null 2>&1 || true
    k delete node "$node" --ignore-not-found >/dev/null 2>&1 || true
    k -n "$ns" delete leases.coordination.k8s.io schedkit-operator --ignore-not-found >/dev/null 2>&1 || true
  }
  cleanup_kube
  k get ns "$ns" >/dev/null 2>&1 || k create ns "$ns" >/dev/null  # stays: no namespace controller runs here
  port=$(prom_free_port)
  "$bin" --kubeconfig "$KUBECONFIG" --namespace "$ns" --identity monitoring-it-op --metrics-address "127.0.0.1:$port" \
    --lease-duration 4s --renew-deadline 3s --retry-period 500ms --log-format json >"$work/operator.log" 2>&1 &
  op_pid=$!
  prom_start "$work" "  - job_name: schedkit-operator
    static_configs: [{targets: ['127.0.0.1:$port']}]"
  # A node, its state (as its agent would write it) and a policy: the roll-up has something to count.
  k create -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata: {name: $node, labels: {schedkit.io/pool: monitoring-it}}
EOF
  local uid rev now deadline
  uid=$(k get node "$node" -o jsonpath='{.metadata.uid}')
  k create -f - >/dev/null <<EOF
apiVersion: schedkit.io/v1alpha1
kind: SchedulerNodeState
metadata:
  name: $node
  ownerReferences: [{apiVersion: v1, kind: Node, name: $node, uid: "$uid"}]
spec: {nodeName: $node}
EOF
  k apply -f - >/dev/null <<EOF
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: $pol}
spec:
  scheduler: {hostPath: /usr/lib/schedkit/fifo.bpf.o, type: bpf-object}
  nodeSelector: {matchLabels: {schedkit.io/pool: monitoring-it}}
  rollout: {strategy: Immediate}
EOF
  rev='' deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    kill -0 "$op_pid" 2>/dev/null || fail "the operator exited"
    rev=$(k get sp "$pol" -o jsonpath='{.status.rollout.revision}' 2>/dev/null || true)
    [ -z "$rev" ] || break
    sleep 0.3
  done
  [ -n "$rev" ] || fail "the operator wrote no rollout revision in 30 s"
  now=$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)
  k apply --server-side --force-conflicts --field-manager=schedkit-agent --subresource=status -f - >/dev/null <<EOF
apiVersion: schedkit.io/v1alpha1
kind: SchedulerNodeState
metadata: {name: $node}
status:
  policy: $pol
  revision: "$rev"
  phase: Running
  active: {opsName: fifo_test, since: "$now"}
EOF
  prom_wait 30 'up{job="schedkit-operator"} == 1' || fail "Prometheus never scraped the operator"
  # The roll-up: the status says the node is attached; the metrics must say so too.
  deadline=$((SECONDS + 30))
  until [ "$(k get sp "$pol" -o jsonpath='{.status.nodes.attached}' 2>/dev/null)" = 1 ]; do
    ((SECONDS < deadline)) || fail "the operator never counted the node attached in the policy's status"
    sleep 0.3
  done
  prom_wait 30 "schedkit_operator_rollout_phase{policy=\"$pol\"} == 1" ||
    fail "no rollout phase for $pol in the operator's metrics"
  prom_wait 30 'schedkit_operator_leader == 1' || fail "the operator never led"
  sleep 5  # rates need two samples
  curl -fsS "http://127.0.0.1:$port/metrics" >"$work/operator-metrics.txt"
  promtool check metrics <"$work/operator-metrics.txt" || fail "promtool check metrics on the operator's /metrics"
  note "promtool check metrics: the operator's /metrics passes"
  # Every operator panel and rule returns data (the agent's: vm_prometheus_6.18).
  local src expr n bad=0
  while IFS=$'\t' read -r src expr; do
    case $expr in *schedkit_operator*|*schedkit-operator*) ;; *) continue ;; esac
    case $src in "alerting SchedkitOperatorDown"|"alerting SchedkitOperatorNoLeader") continue ;; esac
    n=$(prom_count "$expr")
    if [ "$n" -gt 0 ]; then echo "ok: $src ($n series)"; else echo "FAIL: $src: no data: $expr"; bad=1; fi
  done < <(mon_exprs)
  if [ "$bad" != 0 ]; then
    echo "--- the operator's /metrics:"; grep -v '^#' "$work/operator-metrics.txt"
    fail "operator panels or rules without data"
  fi
  # SchedkitOperatorNoLeader is empty while one leads; its vector is not.
  [ "$(prom_count 'max(schedkit_operator_leader)')" -gt 0 ] || fail "max(schedkit_operator_leader) is empty"
  echo "ok: SchedkitOperatorNoLeader's vector max(schedkit_operator_leader) has data (empty while a replica leads)"
  # The operator stops: Prometheus says so and SchedkitOperatorDown's expression returns it.
  kill -TERM "$op_pid"; wait "$op_pid" 2>/dev/null || true; op_pid=''
  prom_wait 30 'up{job="schedkit-operator"} == 0' || fail "up did not go to 0 after the operator stopped"
  expr=$(curl -fsS "$PROM_URL/api/v1/rules?type=alert" | jq -r '.data.groups[].rules[] | select(.name == "SchedkitOperatorDown") | .query')
  [ "$(prom_count "$expr")" -gt 0 ] || fail "SchedkitOperatorDown's '$expr' returned nothing with the operator down"
  echo "ok: SchedkitOperatorDown's expression returns the stopped operator: $expr"
  curl -fsS "$PROM_URL/-/healthy" >/dev/null || fail "Prometheus is not healthy"
  echo "ok: the operator's metrics against a real Prometheus"
}

case $1 in
  rules) case_rules ;;
  sync) case_sync ;;
  helm) case_helm ;;
  operator) shift; case_operator "$@" ;;
  *) fail "unknown case '$1'" ;;
esac
