#!/usr/bin/env bash
# The Helm chart (helm/schedkit) with the real helm CLI (hack/helm.sh builds it once).
#   helm_test.sh lint      helm lint --strict, the values schema, the kubeVersion floor
#   helm_test.sh apply     rendered with its defaults, the chart is deploy/ (modulo Helm's labels);
#                          rendered with every value set, the API server accepts it (dry run); the
#                          operator's values land in its Deployment and RBAC, and it can be left out
# `apply` needs SCHEDKIT_KUBE_TESTENV (the kube_testenv ctest fixture); `lint` needs no server.
set -euo pipefail

root=$(cd "$(dirname "$0")/../../.." && pwd)
here=$(cd "$(dirname "$0")" && pwd)
chart=$root/helm/schedkit
kube_version=1.34.4  # the test environment's (hack/testenv/lib.sh TESTENV_KUBE_VERSION)
fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "--- $*"; }
[ $# -eq 1 ] || fail "usage: $0 lint | apply"
command -v jq >/dev/null || fail "jq is needed (hack/deps.sh installs it)"
helm=$("$root/hack/helm.sh") || fail "no helm (hack/helm.sh could not build it)"
work=$(mktemp -d "${TMPDIR:-/tmp}/schedkit-helm-it.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Helm keeps its own caches and config under HOME; keep them out of the user's.
export HELM_CACHE_HOME=$work/cache HELM_CONFIG_HOME=$work/config HELM_DATA_HOME=$work/data

render() { "$helm" template schedkit "$chart" --kube-version "$kube_version" "$@"; }

# expect_refused WHAT SUBSTRING ARGS...: helm template ARGS fails, saying SUBSTRING.
expect_refused() {
  local what=$1 want=$2 out; shift 2
  if out=$("$helm" template schedkit "$chart" "$@" 2>&1); then fail "$what was rendered"; fi
  grep -qF -- "$want" <<<"$out" || fail "$what failed, but not with '$want': $out"
  note "refused: $what"
}

case_lint() {
  local out
  out=$("$helm" lint --strict "$chart" 2>&1) || fail "helm lint --strict failed: $out"
  printf '%s\n' "$out"
  out=$("$helm" lint --strict "$chart" -f "$here/testdata/helm-values-full.yaml" 2>&1) ||
    fail "helm lint --strict with every value set failed: $out"
  note "lint: defaults and every value set"
  # The chart ships the CRDs: the same files as crds/.
  for f in "$root"/crds/*.yaml; do
    cmp -s "$f" "$chart/crds/$(basename "$f")" || fail "helm/schedkit/crds/$(basename "$f") differs from crds/ (run hack/sync-crds.sh)"
  done
  # values.schema.json refuses what the agent would refuse at start.
  expect_refused "logLevel verbose" "logLevel" --kube-version "$kube_version" --set logLevel=verbose
  expect_refused "logFormat xml" "logFormat" --kube-version "$kube_version" --set logFormat=xml
  expect_refused "a short digest" "digest" --kube-version "$kube_version" --set image.digest=sha256:abc
  expect_refused "pullPolicy Sometimes" "pullPolicy" --kube-version "$kube_version" --set image.pullPolicy=Sometimes
  expect_refused "a registry CA without a certificate" "caBundle" --kube-version "$kube_version" \
    --set 'registries.cas[0].host=r:5000' --set 'registries.cas[0].caBundle=nope'
  expect_refused "an unknown value" "additional properties" --kube-version "$kube_version" --set imageTag=1
  # ... and what the operator would refuse, or what would make two replicas act at once.
  expect_refused "operator.replicas two" "replicas" --kube-version "$kube_version" --set operator.replicas=two
  expect_refused "two operators without leader election" "replicas" --kube-version "$kube_version" \
    --set operator.leaderElection.enabled=false
  expect_refused "operator.leaderElection.leaseDuration fifteen" "leaseDuration" --kube-version "$kube_version" \
    --set-string operator.leaderElection.leaseDuration=fifteen
  expect_refused "operator.logLevel verbose" "logLevel" --kube-version "$kube_version" --set operator.logLevel=verbose
  expect_refused "operator.image.digest short" "digest" --kube-version "$kube_version" --set operator.image.digest=sha256:abc
  expect_refused "an unknown operator value" "additional properties" --kube-version "$kube_version" --set operator.replica=1
  render --set operator.leaderElection.enabled=false --set operator.replicas=1 >/dev/null ||
    fail "one operator without leader election does not render"
  # ValidatingAdmissionPolicy v1 and node names in tokens need Kubernetes 1.30.
  expect_refused "Kubernetes 1.29" "kubeVersion" --kube-version 1.29.0
  render >/dev/null || fail "the chart does not render with its defaults"
  out=$("$helm" lint --strict "$chart" --set operator.enabled=false 2>&1) ||
    fail "helm lint --strict with operator.enabled=false failed: $out"
  note "lint: operator.enabled=false"
  echo "ok: helm lint, values schema and kubeVersion"
}

# objects < YAML: the objects of a YAML stream as a JSON array (Lists flattened).
objects() {
  kubectl create --dry-run=client -o json -f - | jq -s '[.[] | if .kind == "List" then .items[] else . end]'
}

# The objects of a YAML stream as a sorted JSON array, without the labels Helm adds.
normalize() {
  kubectl create --dry-run=client -o json -f - | jq -S -s '
    def unhelm: del(.["app.kubernetes.io/instance", "app.kubernetes.io/managed-by",
                      "app.kubernetes.io/version", "helm.sh/chart"]);
    [.[] | if .kind == "List" then .items[] else . end]
    | map(if .metadata.labels then .metadata.labels |= unhelm else . end
          | if .spec.template.metadata.labels then .spec.template.metadata.labels |= unhelm else . end)
    | sort_by(.kind, .metadata.namespace // "", .metadata.name)'
}

case_apply() {
  [ -n "${SCHEDKIT_KUBE_TESTENV:-}" ] || fail "SCHEDKIT_KUBE_TESTENV is not set (run through ctest)"
  # shellcheck disable=SC1091
  . "$SCHEDKIT_KUBE_TESTENV/env"
  kubectl get --raw /readyz >/dev/null || fail "the API server at $APISERVER_URL is not ready"
  local out ds

  # Defaults: the same objects as deploy/.
  render -n schedkit-system --include-crds --set namespace.create=true >"$work/default.yaml"
  kubectl kustomize "$root/deploy" | normalize >"$work/deploy.json"
  normalize <"$work/default.yaml" >"$work/chart.json"
  diff -u "$work/deploy.json" "$work/chart.json" >"$work/diff" ||
    fail "the chart's defaults differ from deploy/ (besides Helm's labels):
$(cat "$work/diff")"
  note "defaults render deploy/: $(jq length "$work/chart.json") objects"
  out=$(kubectl apply --server-side --dry-run=server --force-conflicts --field-manager=helm-it \
    -f "$work/default.yaml" 2>&1) || fail "the API server refused the chart: $out"
  printf '%s\n' "$out"

  # Every value set: accepted, and each value where it belongs.
  render -n schedkit-system -f "$here/testdata/helm-values-full.yaml" >"$work/full.yaml"
  out=$(kubectl apply --server-side --dry-run=server --force-conflicts --field-manager=helm-it \
    -f "$work/full.yaml" 2>&1) || fail "the API server refused the chart with every value set: $out"
  note "every value set: accepted"
  ds=$(kubectl create --dry-run=client -o json -f "$work/full.yaml" |
    jq -s '[.[] | if .kind == "List" then .items[] else . end] | map(select(.kind == "DaemonSet"))[0]')
  jq -e '.spec.template.spec as $s | $s.containers[0] as $c
    | $c.image == "registry.internal:5000/platform/schedkit-agent@sha256:3b5ef2f6a3b1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c"
    and $c.imagePullPolicy == "Always"
    and ($c.args | index("--log-level=debug") != null and index("--log-format=text") != null
         and index("--insecure-registry=registry.lab:5000") != null
         and index("--registry-ca=registry.internal:5000=/etc/schedkit/registry-ca/ca-0.crt") != null
         and index("--exit-reason-grace-ms=500") != null
         and (index("--metrics-address") as $i | $i != null and .[$i + 1] == "")
         and (index("--health-address") as $i | $i != null and .[$i + 1] == "")
         and index("--detach-on-exit") != null)
    and ($c.ports == null) and $c.livenessProbe == null and $c.readinessProbe == null
    and ($c.resources.limits.cpu == null and $c.resources.limits.memory == "1Gi")
    and ($c.env | any(.name == "SCHEDKIT_EXAMPLE"))
    and ($c.volumeMounts | any(.name == "registry-cas" and .mountPath == "/etc/schedkit/registry-ca"))
    and $s.serviceAccountName == "schedkit-node-agent"
    and $s.priorityClassName == "system-cluster-critical"
    and $s.nodeSelector == {"kubernetes.io/os": "linux", "schedkit.io/enabled": "true"}
    and ($s.imagePullSecrets == [{"name": "agent-pull"}])
    and $s.terminationGracePeriodSeconds == 60
    and (.spec.template.metadata.annotations | has("schedkit.io/registry-cas-checksum"))
    and .spec.template.metadata.labels["example.com/team"] == "platform"
    and .spec.selector.matchLabels == {"app.kubernetes.io/name": "schedkit-agent"}' <<<"$ds" >/dev/null ||
    fail "the DaemonSet does not carry the values: $(jq -c '.spec.template.spec.containers[0]' <<<"$ds")"
  note "every value set: in the DaemonSet"
  objects <"$work/full.yaml" >"$work/full.json"
  jq -e 'map(select(.kind == "Deployment"))[0] as $d | $d.spec.template.spec as $s | $s.containers[0] as $c
    | $d.spec.replicas == 3
    and $c.image == "registry.internal:5000/platform/schedkit-operator@sha256:9c4e1f0a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6"
    and $c.imagePullPolicy == "Always"
    and ($c.args | index("--leader-elect=true") != null and index("--lease-duration=30s") != null
         and index("--renew-deadline=20s") != null and index("--retry-period=5s") != null
         and index("--manage-node-labels=false") != null
         and index("--log-level=debug") != null and index("--log-format=text") != null
         and (index("--metrics-address") as $i | $i != null and .[$i + 1] == "")
         and index("--insecure-registry=registry.lab:5000") != null
         and index("--registry-ca=registry.internal:5000=/etc/schedkit/registry-ca/ca-0.crt") != null
         and .[-1] == "--insecure-registry=registry.extra:5000")
    and $c.ports == null and $c.livenessProbe == null and $c.readinessProbe == null
    and ($c.resources == {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}})
    and ($c.volumeMounts | any(.name == "registry-cas" and .mountPath == "/etc/schedkit/registry-ca"))
    and ($s.volumes | any(.configMap.name == "schedkit-agent-registry-cas"))
    and $s.nodeSelector == {"kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": ""}
    and ($s.tolerations | length == 1 and .[0].key == "node-role.kubernetes.io/control-plane")
    and ($s.affinity | has("podAntiAffinity") | not) and ($s.affinity.nodeAffinity != null)
    and ($s.imagePullSecrets == [{"name": "agent-pull"}])
    and ($d.spec.template.metadata.annotations | has("schedkit.io/registry-cas-checksum"))
    and $d.spec.selector.matchLabels == {"app.kubernetes.io/name": "schedkit-operator"}' "$work/full.json" >/dev/null ||
    fail "the operator Deployment does not carry the values: $(jq -c 'map(select(.kind == "Deployment"))[0].spec.template.spec' "$work/full.json")"
  # manageNodeLabels=false: the operator may read Nodes but not patch them.
  jq -e 'map(select(.kind == "ClusterRole" and .metadata.name == "schedkit-operator"))[0].rules
    | any(.resources == ["nodes"] and .verbs == ["get", "list", "watch"])' "$work/full.json" >/dev/null ||
    fail "with operator.manageNodeLabels=false the operator may still patch Nodes"
  note "every value set: in the operator's Deployment and RBAC"

  # Another metrics port moves the port and the probes with it. (Not sent to the server: a dry-run
  # apply merges the ports with deploy/'s, applied by another test, into two named "metrics".)
  render -n schedkit-system --set operator.metrics.port=9500 | objects |
    jq -e 'map(select(.kind == "Deployment"))[0].spec.template.spec.containers[0]
      | (.args | index("--metrics-address=0.0.0.0:9500") != null)
        and .ports == [{"name": "metrics", "containerPort": 9500, "protocol": "TCP"}]
        and .livenessProbe.tcpSocket.port == "metrics" and .readinessProbe.tcpSocket.port == "metrics"' >/dev/null ||
    fail "operator.metrics.port=9500 does not move --metrics-address, the port and the probes"
  note "operator.metrics.port: the flag, the port and the probes"

  # One operator without leader election: no --lease-* flags and no Lease rules.
  render -n schedkit-system --set operator.leaderElection.enabled=false --set operator.replicas=1 >"$work/single.yaml"
  out=$(kubectl apply --server-side --dry-run=server --force-conflicts --field-manager=helm-it \
    -f "$work/single.yaml" 2>&1) || fail "the API server refused one operator without leader election: $out"
  objects <"$work/single.yaml" | jq -e '
    (map(select(.kind == "Deployment"))[0] | .spec.replicas == 1 and (.spec.template.spec.containers[0].args
     | index("--leader-elect=false") != null and (map(select(startswith("--lease-"))) == [])))
    and (map(select(.kind == "Role" and .metadata.name == "schedkit-operator"))[0].rules
         | all(.apiGroups != ["coordination.k8s.io"]))' >/dev/null ||
    fail "without leader election the operator still gets --lease-* flags or Lease rules"
  note "leaderElection.enabled=false: accepted, no Lease flags or rules"

  # operator.enabled=false: the agent's objects, and none of the operator's.
  render -n schedkit-system --include-crds --set namespace.create=true --set operator.enabled=false >"$work/no-operator.yaml"
  normalize <"$work/no-operator.yaml" >"$work/no-operator.json"
  jq -e 'all(.[]; (.metadata.name | startswith("schedkit-operator") | not)
                  and .metadata.labels["app.kubernetes.io/component"] != "operator")' "$work/no-operator.json" >/dev/null ||
    fail "operator.enabled=false still renders operator objects: $(jq -c '[.[] | select(.metadata.name | startswith("schedkit-operator")) | "\(.kind)/\(.metadata.name)"]' "$work/no-operator.json")"
  jq -e --slurpfile all "$work/chart.json" '. == ($all[0] | map(select(.metadata.labels["app.kubernetes.io/component"] != "operator")))' \
    "$work/no-operator.json" >/dev/null || fail "operator.enabled=false changes objects besides the operator's"
  out=$(kubectl apply --server-side --dry-run=server --force-conflicts --field-manager=helm-it \
    -f "$work/no-operator.yaml" 2>&1) || fail "the API server refused the chart without the operator: $out"
  note "operator.enabled=false: $(jq length "$work/no-operator.json") objects, none of them the operator's"

  # The admission policy names the service account and namespace of the release.
  render -n platform-schedkit --set serviceAccount.name=node-agent >"$work/ns.yaml"
  kubectl create --dry-run=client -o json -f "$work/ns.yaml" | jq -e -s '
    [.[] | if .kind == "List" then .items[] else . end]
    | (map(select(.kind == "ValidatingAdmissionPolicy"))[0].spec.matchConditions[0].expression
       | contains("\"system:serviceaccount:platform-schedkit:node-agent\""))
    and (map(select(.kind == "ClusterRoleBinding" and .metadata.name == "schedkit-agent"))[0].subjects
         == [{"kind": "ServiceAccount", "name": "node-agent", "namespace": "platform-schedkit"}])
    and (map(select(.kind == "ClusterRoleBinding" and .metadata.name == "schedkit-operator"))[0].subjects
         == [{"kind": "ServiceAccount", "name": "schedkit-operator", "namespace": "platform-schedkit"}])
    and (map(select(.kind == "Role" and .metadata.name == "schedkit-operator"))[0].metadata.namespace
         == "platform-schedkit")' >/dev/null ||
    fail "the policy or the bindings do not follow the release namespace and service account"
  note "another namespace and service account: followed by the policy and the bindings"
  # Without the policy (admissionPolicy.enabled=false) nothing else changes.
  [ "$(render -n schedkit-system --set admissionPolicy.enabled=false | grep -c '^kind: ValidatingAdmissionPolicy')" = 0 ] ||
    fail "admissionPolicy.enabled=false still renders the policy"
  echo "ok: the chart renders deploy/ and the API server accepts it"
}

case $1 in
  lint) case_lint ;;
  apply) case_apply ;;
  -h | --help) sed -n '2,6s/^# \{0,1\}//p' "$0" ;;
  *) fail "unknown case '$1'" ;;
esac
