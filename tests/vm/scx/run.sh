#!/usr/bin/env bash
# Host half of the real-scx VM tests: packages scx_lavd, scx_bpfland and scx_rusty (built and
# cached by hack/scx.sh) as scheduler images with hack/scx-images.sh, plus one lavd image whose
# kernel minimum no node meets, pushes them to a plain-HTTP docker-registry on the host, and boots
# the VM (hack/vm/run.sh --net) where the agent pulls them from 10.0.2.2.
#   tests/vm/scx/run.sh SCHEDKITCTL [run.sh options] -- GUEST_SCRIPT
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
skctl=$1; shift
work=${SCHEDKIT_VM_SCX_WORK:-$(mktemp -d)}
rm -rf "$work/registry" "$work/layouts"
mkdir -p "$work/layouts"
cleanup() { "$root/hack/testenv/registry-down.sh" --dir "$work/registry" --purge >/dev/null 2>&1 || true; }
trap cleanup EXIT
for i in 1 2 3; do
  "$root/hack/testenv/registry-up.sh" --dir "$work/registry" --plain && break
  [ "$i" -lt 3 ] || { echo "registry-up.sh failed" >&2; exit 125; }
  sleep 1
done
# shellcheck disable=SC1091
. "$work/registry/env"

"$root/hack/scx-images.sh" --schedkitctl "$skctl" --out "$work/layouts" \
  --push "$REGISTRY_HOST/scx" >"$work/images" || exit 125
cat "$work/images"
version=$("$root/hack/scx.sh" --print-version)
# Each image as the agent will read it, from the registry.
declare -A ops=([scx_lavd]=lavd [scx_bpfland]=bpfland [scx_rusty]=rusty)
for n in scx_lavd scx_bpfland scx_rusty; do
  got=$("$skctl" -o json image inspect "$REGISTRY_HOST/scx/$n:$version" |
    jq -r '.artifact | "\(.type) \(.path) \(.opsName) \(.version) \(.kernelMin)"')
  want="binary /usr/bin/$n ${ops[$n]} $version 6.12"
  [ "$got" = "$want" ] || { echo "FAIL: image inspect $n: got '$got', want '$want'" >&2; exit 1; }
  echo "ok: image inspect $n: $got"
done
lavd=$("$root/hack/scx.sh" scx_lavd | cut -d' ' -f2)
"$skctl" -o json image build --type binary --with-libs --file "$lavd" --name lavd \
  --version "$version" --kernel-min 99.0 --platform linux/amd64 \
  --output-layout "$work/layouts/future:1" >/dev/null || exit 125
"$skctl" -o json image push "$work/layouts/future:1" "$REGISTRY_HOST/scx/future:1" >/dev/null || exit 125

rc=0
"$root/hack/vm/run.sh" --net --env "REGISTRY=$REGISTRY_GUEST_HOST" --env "SCX_VERSION=$version" \
  "$@" || rc=$?
exit "$rc"
