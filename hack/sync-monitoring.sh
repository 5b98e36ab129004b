#!/usr/bin/env bash
# Copy the monitoring files from monitoring/ (the single source of truth) into the Helm chart
# (helm/schedkit/files/), which renders them as a PrometheusRule and a Grafana dashboard ConfigMap.
#
#   hack/sync-monitoring.sh           make the copies
#   hack/sync-monitoring.sh --check   change nothing; exit 1 with a diff when a copy has drifted (CI)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${root}/helm/schedkit/files"
# source (relative to the repository) → name in the chart's files/
sources=(monitoring/prometheus/schedkit-rules.yaml monitoring/grafana/schedkit-dashboard.json)

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

$check || mkdir -p "${dest}"
drift=0
for rel in "${sources[@]}"; do
  f="${root}/${rel}" name="$(basename "${rel}")"
  [[ -f "${f}" ]] || { echo "sync-monitoring: no ${rel}" >&2; exit 2; }
  if $check; then
    if ! diff -u --label "${rel}" --label "helm/schedkit/files/${name}" "${f}" "${dest}/${name}" 2>/dev/null; then
      [[ -e "${dest}/${name}" ]] || echo "sync-monitoring: missing helm/schedkit/files/${name}"
      drift=1
    fi
  else
    cmp -s "${f}" "${dest}/${name}" || cp "${f}" "${dest}/${name}"
  fi
done
# A copy whose source was removed or renamed is drift too.
shopt -s nullglob
for f in "${dest}"/*; do
  name="$(basename "${f}")" known=false
  for rel in "${sources[@]}"; do [[ "$(basename "${rel}")" == "${name}" ]] && known=true; done
  $known && continue
  if $check; then
    echo "sync-monitoring: helm/schedkit/files/${name} has no source in monitoring/"
    drift=1
  else
    rm -f "${f}"
  fi
done

if $check && ((drift)); then
  echo "sync-monitoring: the chart's copies differ from monitoring/; run hack/sync-monitoring.sh and commit the result" >&2
  exit 1
fi
