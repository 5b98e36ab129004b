#!/usr/bin/env bash
# The CRDs in crds/ against a real kube-apiserver, checked with kubectl as a user would.
#   crds_test.sh CASE      CASE: valid-samples | invalid-samples | printer-columns | explain | defaults
# Needs SCHEDKIT_KUBE_TESTENV: a directory that hack/testenv/up.sh brought up (the kube_testenv
# ctest fixture), whose env file gives KUBECONFIG. up.sh applies crds/*.yaml itself.
set -euo pipefail

root=$(cd "$(dirname "$0")/../../.." && pwd)
samples=$root/crds/samples
fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "--- $*"; }
[ $# -eq 1 ] || fail "usage: $0 valid-samples|invalid-samples|printer-columns|explain|defaults"
[ -n "${SCHEDKIT_KUBE_TESTENV:-}" ] || fail "SCHEDKIT_KUBE_TESTENV is not set (run through ctest, or point it at a hack/testenv/up.sh --dir)"
[ -f "$SCHEDKIT_KUBE_TESTENV/env" ] || fail "no test environment at $SCHEDKIT_KUBE_TESTENV (no env file)"
# shellcheck disable=SC1091
. "$SCHEDKIT_KUBE_TESTENV/env"
command -v jq >/dev/null || fail "jq is needed (hack/deps.sh installs it)"
k() { kubectl --request-timeout=30s "$@"; }
k get --raw /readyz >/dev/null || fail "the API server at $APISERVER_URL is not ready"
for crd in schedulerpolicies.schedkit.io schedulernodestates.schedkit.io; do
  k wait --for condition=Established --timeout=30s "crd/$crd" >/dev/null ||
    fail "CRD $crd is not established"
done

# Squeezes whitespace (kubectl explain wraps descriptions at 80 columns).
squeeze() { tr -s ' \n\t' '   ' | sed 's/^ //; s/ $//'; }

# A valid sample is accepted by the API server (schema, CEL rules, defaults), without being kept.
valid_samples() {
  local f n=0
  for f in "$samples"/*.yaml; do
    out=$(k apply --dry-run=server -f "$f" 2>&1) || fail "$(basename "$f") was rejected: $out"
    note "accepted: $(basename "$f")"
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || fail "no samples in $samples"
  echo "ok: $n valid samples accepted"
}

# An invalid sample is refused with the message its header promises. Plain `kubectl apply`: it
# asks for strict field validation, so an unknown field is an error rather than dropped.
invalid_samples() {
  local f n=0 want out name
  for f in "$samples"/invalid/*.yaml; do
    want=$(sed -n 's/^# expect-server-error: //p' "$f")
    [ -n "$want" ] || fail "$(basename "$f") has no '# expect-server-error:' line"
    [ "$(printf '%s\n' "$want" | wc -l)" -eq 1 ] || fail "$(basename "$f") has several expect-server-error lines"
    name=$(sed -n 's/^  name: //p' "$f" | head -1)
    [ -n "$name" ] || fail "$(basename "$f") has no metadata.name"
    k delete schedulerpolicy "$name" --ignore-not-found >/dev/null
    if out=$(k apply -f "$f" 2>&1); then
      k delete schedulerpolicy "$name" --ignore-not-found >/dev/null
      fail "$(basename "$f") was accepted: $out"
    fi
    grep -qF -- "$want" <<<"$out" ||
      fail "$(basename "$f") was rejected, but without '$want': $out"
    ! k get schedulerpolicy "$name" >/dev/null 2>&1 || fail "$(basename "$f") was rejected but exists"
    note "rejected: $(basename "$f"): $want"
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || fail "no invalid samples in $samples/invalid"
  echo "ok: $n invalid samples rejected with their messages"
}

# header_of "kubectl output": the column names of the first line.
header_of() { head -1 <<<"$1" | squeeze; }
# row_of "kubectl output" NAME: the named row, columns separated by one space.
row_of() { awk -v n="$2" 'NR > 1 && $1 == n' <<<"$1" | squeeze; }

printer_columns() {
  local sp=crds-test-columns sns=crds-test-node out
  trap 'k delete schedulerpolicy '$sp' --ignore-not-found >/dev/null 2>&1 || true;
        k delete schedulernodestate '$sns' --ignore-not-found >/dev/null 2>&1 || true' EXIT
  k delete schedulerpolicy "$sp" --ignore-not-found >/dev/null
  k delete schedulernodestate "$sns" --ignore-not-found >/dev/null

  k apply -f - >/dev/null <<EOF
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: $sp}
spec:
  scheduler: {image: "registry.example.com/scx/scx_lavd:1.0.6"}
  priority: 100
EOF
  # Status as the operator writes it: server-side apply on the status subresource.
  k apply --server-side --field-manager=crds-test --subresource=status -f - >/dev/null <<EOF
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: $sp}
status:
  observedGeneration: 1
  nodes: {matched: 40, attached: 38, pending: 1, fallenBack: 1}
  conditions:
    - {type: Ready, status: "False", reason: NodesFellBack, message: "1 node fell back",
       lastTransitionTime: "2025-01-01T10:00:00Z", observedGeneration: 1}
EOF
  out=$(k get sp "$sp")
  printf '%s\n' "$out"
  [ "$(header_of "$out")" = "NAME SCHEDULER PRIORITY MATCHED ATTACHED FALLEN-BACK READY AGE" ] ||
    fail "kubectl get sp printed the columns: $(header_of "$out")"
  [[ "$(row_of "$out" "$sp")" == "$sp registry.example.com/scx/scx_lavd:1.0.6 100 40 38 1 False "* ]] ||
    fail "kubectl get sp printed the row: $(row_of "$out" "$sp")"
  out=$(k get sp "$sp" -o wide)
  [ "$(header_of "$out")" = "NAME SCHEDULER HOSTPATH PRIORITY MATCHED ATTACHED FALLEN-BACK READY AGE" ] ||
    fail "kubectl get sp -o wide printed the columns: $(header_of "$out")"
  # The short name and the category work too.
  k get sp "$sp" -o name | grep -qx "schedulerpolicy.schedkit.io/$sp" || fail "short name sp"
  k get schedkit -o name | grep -qx "schedulerpolicy.schedkit.io/$sp" || fail "category schedkit"

  k apply -f - >/dev/null <<EOF
apiVersion: schedkit.io/v1alpha1
kind: SchedulerNodeState
metadata: {name: $sns}
spec: {nodeName: $sns}
EOF
  k apply --server-side --field-manager=crds-test --subresource=status -f - >/dev/null <<EOF
apiVersion: schedkit.io/v1alpha1
kind: SchedulerNodeState
metadata: {name: $sns}
status:
  policy: latency-lavd
  phase: Running
  kernel: {release: 6.18.15, schedExt: true, btf: true}
  active: {opsName: lavd_1.0.6, image: "registry.example.com/scx/scx_lavd:1.0.6", pid: 1234,
           enableSeq: 7, since: "2025-01-01T10:00:00Z"}
  restarts: 1
EOF
  out=$(k get sns "$sns")
  printf '%s\n' "$out"
  [ "$(header_of "$out")" = "NAME POLICY PHASE SCHEDULER RESTARTS AGE" ] ||
    fail "kubectl get sns printed the columns: $(header_of "$out")"
  [[ "$(row_of "$out" "$sns")" == "$sns latency-lavd Running lavd_1.0.6 1 "* ]] ||
    fail "kubectl get sns printed the row: $(row_of "$out" "$sns")"
  out=$(k get sns "$sns" -o wide)
  [ "$(header_of "$out")" = "NAME POLICY PHASE SCHEDULER RESTARTS KERNEL AGE" ] ||
    fail "kubectl get sns -o wide printed the columns: $(header_of "$out")"
  [[ "$(row_of "$out" "$sns")" == "$sns latency-lavd Running lavd_1.0.6 1 6.18.15 "* ]] ||
    fail "kubectl get sns -o wide printed the row: $(row_of "$out" "$sns")"
  k get schedkit -o name | grep -qx "schedulernodestate.schedkit.io/$sns" || fail "category schedkit (sns)"
  echo "ok: printer columns of sp and sns"
}

# kubectl explain prints each field's description from the CRD schema.
explain() {
  local crd props path out desc field fields
  crd=$(k get crd schedulerpolicies.schedkit.io -o json)
  props='.spec.versions[] | select(.name == "v1alpha1") | .schema.openAPIV3Schema'
  for path in spec.rollout spec.scheduler.image spec.rollout.canary spec.failurePolicy.backoff; do
    local jqpath=$props
    IFS=. read -ra parts <<<"$path"
    for p in "${parts[@]}"; do jqpath+=".properties.$p"; done
    desc=$(jq -r "$jqpath.description // empty" <<<"$crd")
    [ -n "$desc" ] || fail "the CRD has no description at $path"
    for resource in schedulerpolicy sp; do
      out=$(k explain "$resource.$path") || fail "kubectl explain $resource.$path failed"
      grep -qF -- "$(squeeze <<<"$desc")" <<<"$(squeeze <<<"$out")" ||
        fail "kubectl explain $resource.$path does not print the description '$desc': $out"
    done
    # An object's explain lists its fields, each with its own description.
    fields=$(jq -r "$jqpath.properties // {} | keys[]" <<<"$crd")
    for field in $fields; do
      grep -qE "^  $field	<" <<<"$out" || fail "kubectl explain sp.$path does not list $field: $out"
      desc=$(jq -r "$jqpath.properties.$field.description // empty" <<<"$crd")
      [ -n "$desc" ] || fail "the CRD has no description at $path.$field"
      grep -qF -- "$(squeeze <<<"$desc")" <<<"$(squeeze <<<"$out")" ||
        fail "kubectl explain sp.$path does not describe $field"
    done
    note "explain $path: ok${fields:+ (fields: $(tr '\n' ' ' <<<"$fields"))}"
  done
  out=$(k explain schedulerpolicy.spec.rollout)
  printf '%s\n' "$out"
  out=$(k explain schedulerpolicy.spec.scheduler.image)
  printf '%s\n' "$out"
  echo "ok: kubectl explain prints the descriptions"
}

# A minimal policy reads back with every default filled in (docs/api.md shows the same).
defaults() {
  local sp=crds-test-defaults got want
  trap 'k delete schedulerpolicy '$sp' --ignore-not-found >/dev/null 2>&1 || true' EXIT
  k delete schedulerpolicy "$sp" --ignore-not-found >/dev/null
  k apply -f - >/dev/null <<EOF
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: $sp}
spec:
  scheduler: {image: "registry.example.com/scx/scx_lavd:1.0.6"}
EOF
  got=$(k get sp "$sp" -o json | jq -S .spec)
  want=$(jq -S . <<'EOF'
{
  "scheduler": {"image": "registry.example.com/scx/scx_lavd:1.0.6", "imagePullPolicy": "IfNotPresent"},
  "priority": 0,
  "mode": "Full",
  "paused": false,
  "failurePolicy": {"maxRestarts": 3, "window": "10m", "backoff": {"initial": "5s", "max": "5m"}},
  "health": {"startupTimeout": "30s"},
  "rollout": {"strategy": "Immediate", "maxUnavailable": "10%", "haltOnFallbacks": 1, "autoRollback": true}
}
EOF
)
  printf '%s\n' "$got"
  [ "$got" = "$want" ] || fail "the minimal policy read back as (diff want → got):
$(diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") || true)"

  # Canary without a canary block gets the canary defaults.
  k apply -f - >/dev/null <<EOF
apiVersion: schedkit.io/v1alpha1
kind: SchedulerPolicy
metadata: {name: $sp}
spec:
  scheduler: {image: "registry.example.com/scx/scx_lavd:1.0.6"}
  rollout: {strategy: Canary, canary: {}}
EOF
  got=$(k get sp "$sp" -o json | jq -c -S .spec.rollout)
  [ "$got" = '{"autoRollback":true,"canary":{"bakeTime":"10m","nodes":1},"haltOnFallbacks":1,"maxUnavailable":"10%","strategy":"Canary"}' ] ||
    fail "a Canary rollout read back as $got"

  # A SchedulerNodeState needs only its node name.
  k apply --dry-run=server -f - >/dev/null <<EOF ||
apiVersion: schedkit.io/v1alpha1
kind: SchedulerNodeState
metadata: {name: crds-test-node-minimal}
spec: {nodeName: crds-test-node-minimal}
EOF
    fail "a minimal SchedulerNodeState was rejected"
  echo "ok: defaults filled in"
}

case $1 in
  valid-samples) valid_samples ;;
  invalid-samples) invalid_samples ;;
  printer-columns) printer_columns ;;
  explain) explain ;;
  defaults) defaults ;;
  -h | --help) sed -n '2,5s/^# \{0,1\}//p' "$0" ;;
  *) fail "unknown case '$1'" ;;
esac
