#!/usr/bin/env bash
# Host half of the image VM test: starts a plain-HTTP docker-registry on the host
# (hack/testenv/registry-up.sh), builds scheduler images of the test schedulers with schedkitctl
# and pushes them there, writes an OCI layout for the initramfs, then boots the VM
# (hack/vm/run.sh --net) where the guest reaches the registry at 10.0.2.2:PORT.
#   tests/vm/image/run.sh SCHEDKITCTL FIFO_OBJECT STALL_OBJECT [run.sh options] -- GUEST_SCRIPT
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
skctl=$1 fifo=$2 stall=$3
shift 3
work=${SCHEDKIT_VM_IMAGE_WORK:-$(mktemp -d)}
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

build_push() {  # NAME OBJECT → prints the digest
  "$skctl" -o json image build --type bpf-object --file "$2" --path "/$1.bpf.o" --name "$1" \
    --version 1 --kernel-min 6.12 --platform linux/amd64 \
    --output-layout "$work/layouts/$1:1" >/dev/null
  "$skctl" -o json image push "$work/layouts/$1:1" "$REGISTRY_HOST/testsched/$1:1" | jq -r .digest
}
fifo_digest=$(build_push fifo "$fifo")
stall_digest=$(build_push stall "$stall")
echo "pushed $REGISTRY_HOST/testsched/fifo@$fifo_digest and stall@$stall_digest"

rc=0
"$root/hack/vm/run.sh" --net \
  --env "REGISTRY=$REGISTRY_GUEST_HOST" --env "FIFO_DIGEST=$fifo_digest" \
  --env "STALL_DIGEST=$stall_digest" --env "LAYOUT_DIGEST=$fifo_digest" \
  --file "$work/layouts/fifo:/opt/schedkit/images/fifo" "$@" || rc=$?
exit "$rc"
