#!/usr/bin/env bash
# Pins the SchedulerPolicy condition contract with the real kstatus library (hack/kstatus.sh), the
# judge GitOps tools use: hand-written objects in, kstatus's verdicts and exit codes checked.
# Needs no cluster; the first run builds the tool (downloads Go modules, hence ctest's long TIMEOUT).
set -euo pipefail

root=$(cd "$(dirname "$0")/../../.." && pwd)
kstatus=$root/hack/kstatus.sh
passed=0 failed=0
pass() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*" >&2; failed=$((failed + 1)); }

"$kstatus" --print-path >/dev/null || { echo "FAIL: hack/kstatus.sh could not build the tool" >&2; exit 1; }

# cond GENERATION TYPE STATUS REASON MESSAGE: a complete metav1.Condition.
cond() {
  printf '{"type": "%s", "status": "%s", "observedGeneration": %s,
    "lastTransitionTime": "2025-01-02T03:04:05Z", "reason": "%s", "message": "%s"}' "$2" "$3" "$1" "$4" "$5"
}
# policy NAME GENERATION STATUS_JSON: a SchedulerPolicy as the API server returns it.
policy() {
  cat <<JSON
{
  "apiVersion": "schedkit.io/v1alpha1",
  "kind": "SchedulerPolicy",
  "metadata": {"name": "$1", "generation": $2, "uid": "6f1c1f1e-0000-4000-8000-00000000000$2",
    "resourceVersion": "42", "creationTimestamp": "2025-01-02T03:00:00Z"},
  "spec": {"scheduler": {"image": "registry.example.com/scx/scx_lavd:1.0.6"},
    "nodeSelector": {"matchLabels": {"schedkit.io/pool": "latency"}}, "priority": 100}$3
}
JSON
}
# status OBSERVED_GENERATION CONDITION...: the ",status" part of a policy.
status() {
  local obs=$1 c sep=""; shift
  printf ', "status": {"observedGeneration": %s, "conditions": [' "$obs"
  for c in "$@"; do printf '%s%s' "$sep" "$c"; sep=", "; done
  printf ']}'
}

# judge WANT NAME JSON: kstatus says WANT for the single object, and --expect WANT exits 0.
judge() {
  local want=$1 name=$2 json=$3 out got
  if ! out=$("$kstatus" --expect "$want" <<<"$json" 2>&1); then
    fail "$name: expected $want: $out"; return
  fi
  got=$(awk -v n="$name" '$1 == n { print $2 }' <<<"$out")
  [ "$got" = "$want" ] || { fail "$name: expected $want, got '$out'"; return; }
  pass "$name is $want ($out)"
}

# Generation not yet observed: the operator has not looked at the latest spec.
judge InProgress stale-generation "$(policy stale-generation 3 "$(status 2 \
  "$(cond 2 Ready True Attached 'all nodes attached')")")"

judge InProgress reconciling "$(policy reconciling 2 "$(status 2 \
  "$(cond 2 Reconciling True RolloutProgressing '1 of 3 nodes attached')" \
  "$(cond 2 Ready False RolloutProgressing '1 of 3 nodes attached')")")"

judge Failed stalled "$(policy stalled 2 "$(status 2 \
  "$(cond 2 Stalled True RolloutHalted 'scheduler ejected on 2 nodes; rollout halted')" \
  "$(cond 2 Reconciling False RolloutHalted 'rollout halted')" \
  "$(cond 2 Ready False RolloutHalted 'rollout halted')")")"

judge Current ready "$(policy ready 4 "$(status 4 \
  "$(cond 4 Ready True Attached 'all 3 nodes attached')" \
  "$(cond 4 Reconciling False Attached 'all 3 nodes attached')" \
  "$(cond 4 Stalled False Attached 'all 3 nodes attached')" \
  "$(cond 4 Progressing False Attached 'all 3 nodes attached')" \
  "$(cond 4 Degraded False Attached 'all 3 nodes attached')")")"

# Library behaviour the operator must live with, pinned so an upgrade that changes it shows here.
# No status yet (before the first reconcile): kstatus skips the generation check and says Current.
judge Current no-status-yet "$(policy no-status-yet 1 "")"
# Ready=False alone is only InProgress: Failed needs Stalled=True.
judge InProgress ready-false-only "$(policy ready-false-only 2 "$(status 2 \
  "$(cond 2 Ready False RolloutHalted 'rollout halted')")")"
# The first True one of Reconciling and Stalled in list order wins.
judge InProgress reconciling-before-stalled "$(policy reconciling-before-stalled 2 "$(status 2 \
  "$(cond 2 Reconciling True RolloutProgressing 'rolling out')" \
  "$(cond 2 Stalled True RolloutHalted 'rollout halted')")")"

# A List (kubectl get -o json) with --expect: one InProgress item fails the whole judgement.
list=$(cat <<JSON
{"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [
$(policy ready 4 "$(status 4 "$(cond 4 Ready True Attached 'all 3 nodes attached')")"),
$(policy reconciling 2 "$(status 2 "$(cond 2 Reconciling True RolloutProgressing '1 of 3 nodes attached')")")
]}
JSON
)
rc=0; out=$("$kstatus" --expect Current <<<"$list" 2>&1) || rc=$?
if [ "$rc" -eq 1 ] && grep -q '^ready Current' <<<"$out" && grep -q '^reconciling InProgress' <<<"$out" &&
  grep -q 'reconciling is InProgress' <<<"$out"; then
  pass "List with one InProgress item fails --expect Current (exit 1)"
else
  fail "List with one InProgress item: expected exit 1 naming it, got exit $rc: $out"
fi

rc=0; out=$("$kstatus" <<<'{"kind": "SchedulerPolicy", "metadata": {' 2>&1) || rc=$?
if [ "$rc" -eq 2 ] && grep -q '^kstatus: stdin is not' <<<"$out"; then
  pass "garbage input exits 2 ($out)"
else
  fail "garbage input: expected exit 2 with an error, got exit $rc: $out"
fi

rc=0; out=$("$kstatus" --expect Healthy <<<"$(policy ready 1 "")" 2>&1) || rc=$?
if [ "$rc" -eq 2 ]; then pass "--expect with an unknown status exits 2"; else
  fail "--expect Healthy: expected exit 2, got exit $rc: $out"; fi

echo "kstatus: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
