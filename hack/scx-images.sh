#!/usr/bin/env bash
# Packages the scx schedulers hack/scx.sh builds as schedkit scheduler images (schedkitctl image
# build --type binary --with-libs), into OCI layouts, and optionally pushes them.
#
#   hack/scx-images.sh --schedkitctl PATH --out DIR [--push REGISTRY/PREFIX [registry flags]] [NAME...]
#
#   --schedkitctl PATH   the schedkitctl to build with (e.g. build/ci/cli/schedkitctl)
#   --out DIR            layouts go to DIR/<name> with tag <version> (DIR/scx_lavd:1.1.4)
#   --push R/P           push each to R/P/<name>:<version> (e.g. 127.0.0.1:5000/scx); other flags
#                        after it (--insecure-registry R, --registry-ca F, ...) go to `image push`
#   NAME...              scx_lavd scx_bpfland scx_rusty (default: all three)
#
# Prints one line per image on stdout: "NAME LAYOUT:TAG [REF@DIGEST]". The labels: ops-name prefix
# (what the kernel reports in /sys/kernel/sched_ext/root/ops is "<prefix>_<version>_<target>"),
# version, kernel minimum (6.12: the scx 1.1 series' floor) and default args.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-2}"; }
skctl='' out='' push='' push_flags=() names=()
while [ $# -gt 0 ]; do
  case $1 in
    --schedkitctl) skctl=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --push) push=$2; shift 2
      while [ $# -gt 0 ] && [[ $1 == --* ]]; do push_flags+=("$1" "$2"); shift 2; done ;;
    -h|--help) usage 0 ;;
    -*) log "unknown option $1"; usage ;;
    *) names+=("$1"); shift ;;
  esac
done
[ -n "$skctl" ] && [ -x "$skctl" ] || die "--schedkitctl PATH is required (got '$skctl')"
[ -n "$out" ] || die "--out DIR is required"
[ ${#names[@]} -gt 0 ] || names=(scx_lavd scx_bpfland scx_rusty)

# name → ops-name prefix and default args (a JSON-free list, one --arg each).
declare -A OPS=([scx_lavd]=lavd [scx_bpfland]=bpfland [scx_rusty]=rusty)
declare -A ARGS=([scx_lavd]="--performance" [scx_bpfland]="" [scx_rusty]="")
KERNEL_MIN=${SCHEDKIT_SCX_KERNEL_MIN:-6.12}

version=$("$SCHEDKIT_ROOT/hack/scx.sh" --print-version)
declare -A BIN=()
while read -r n path; do BIN[$n]=$path; done < <("$SCHEDKIT_ROOT/hack/scx.sh" "${names[@]}")

mkdir -p "$out"
for n in "${names[@]}"; do
  [ -n "${OPS[$n]:-}" ] || die "no image recipe for $n (known: ${!OPS[*]})"
  args=()
  for a in ${ARGS[$n]}; do args+=("--arg=$a"); done
  layout=$out/$n:$version
  "$skctl" -o json image build --type binary --with-libs --file "${BIN[$n]}" --path "/usr/bin/$n" \
    --name "${OPS[$n]}" --version "$version" --kernel-min "$KERNEL_MIN" "${args[@]}" \
    --label "org.opencontainers.image.source=https://crates.io/crates/$n" \
    --label "org.opencontainers.image.version=$version" \
    --platform linux/amd64 --output-layout "$layout" >"$out/$n.build.json" ||
    { cat "$out/$n.build.json" >&2; die "image build of $n failed"; }
  line="$n $layout"
  if [ -n "$push" ]; then
    ref=$push/$n:$version
    digest=$("$skctl" -o json image push "$layout" "$ref" "${push_flags[@]}" | jq -r .digest) ||
      die "push of $n to $ref failed"
    line+=" ${ref%:*}@$digest"
  fi
  echo "$line"
done
