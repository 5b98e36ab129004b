#!/usr/bin/env bash
# Copy the CRDs from crds/ (the single source of truth) to the places that ship them:
# helm/schedkit/crds/ and deploy/crds/.
#
#   hack/sync-crds.sh           make the copies (and remove copies whose source is gone)
#   hack/sync-crds.sh --check   change nothing; exit 1 with a diff when a copy has drifted (CI)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="${root}/crds"
targets=("${root}/helm/schedkit/crds" "${root}/deploy/crds")

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

shopt -s nullglob
sources=("${src}"/*.yaml)
if ((${#sources[@]} == 0)); then
  echo "sync-crds: no CRDs in ${src}" >&2
  exit 2
fi

drift=0
for dir in "${targets[@]}"; do
  rel="${dir#"${root}"/}"
  if ! $check; then
    mkdir -p "${dir}"
  fi
  for f in "${sources[@]}"; do
    name="$(basename "${f}")"
    if $check; then
      if ! diff -u --label "crds/${name}" --label "${rel}/${name}" "${f}" "${dir}/${name}" 2>/dev/null; then
        [[ -e "${dir}/${name}" ]] || echo "sync-crds: missing ${rel}/${name}"
        drift=1
      fi
    else
      cmp -s "${f}" "${dir}/${name}" || cp "${f}" "${dir}/${name}"
    fi
  done
  # A copy whose source was removed or renamed is drift too.
  for f in "${dir}"/*.yaml; do
    name="$(basename "${f}")"
    [[ -e "${src}/${name}" ]] && continue
    if $check; then
      echo "sync-crds: ${rel}/${name} has no source in crds/"
      drift=1
    else
      rm -f "${f}"
    fi
  done
done

if $check && ((drift)); then
  echo "sync-crds: CRD copies differ from crds/; run hack/sync-crds.sh and commit the result" >&2
  exit 1
fi
