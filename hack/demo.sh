#!/usr/bin/env bash
# Runs schedkit end to end on a real sched_ext kernel: installs what it needs, builds the agent
# and the test schedulers, boots a Debian sched_ext kernel in qemu, runs the standalone agent on
# a policy with a healthy scheduler, then switches the policy to one the kernel's watchdog
# ejects, and shows the agent detecting and reporting the fallback.
#   ./hack/demo.sh [--kernel 6.16|6.18|6.19]   standalone: the agent reads a policy file
#   ./hack/demo.sh --cluster                    cluster mode: a local kube-apiserver + etcd and an
#                                               OCI registry on this machine, the VM as a node,
#                                               kubectl applying policies that name images
#   ./hack/demo.sh --scx [scx_lavd|scx_bpfland|scx_rusty]
#                                               a real scx scheduler (default scx_lavd), built
#                                               from crates.io (first time ~5 min), packaged as
#                                               an image, pulled and run by the agent
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

kernel=6.18 cluster= scx=
while [ $# -gt 0 ]; do
  case $1 in
    --kernel) kernel=$2; shift 2 ;;
    --cluster) cluster=1; shift ;;
    --scx) scx=scx_lavd; shift
      if [ $# -gt 0 ] && [[ $1 == scx_* ]]; then scx=$1; shift; fi ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

SCHEDKIT_DEPS=all "$SCHEDKIT_ROOT/hack/deps.sh"
build=${SCHEDKIT_BUILD:-$SCHEDKIT_ROOT/build/demo}
mkdir -p "$build"
log "building schedkit-agent and the test schedulers in $build (first time: a few minutes)"
cmake -S "$SCHEDKIT_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSCHEDKIT_BUILD_BPF=ON -DSCHEDKIT_BUILD_TESTS=OFF >"$build/schedkit-configure.log" 2>&1 ||
  { cat "$build/schedkit-configure.log"; die "cmake configure failed"; }
cmake --build "$build" -j "$(nproc)" --target schedkit-agent schedkitctl testsched_objects \
  >"$build/schedkit-build.log" 2>&1 || { tail -40 "$build/schedkit-build.log"; die "build failed"; }

if [ -n "$scx" ]; then
  reg_dir=$build/registry-scx
  trap '"$SCHEDKIT_ROOT/hack/testenv/registry-down.sh" --dir "$reg_dir" --purge >/dev/null 2>&1 || true' EXIT
  log "building $scx from crates.io with cargo (first time ~5 min for all three; then cached)"
  "$SCHEDKIT_ROOT/hack/scx.sh" "$scx" >/dev/null
  "$SCHEDKIT_ROOT/hack/testenv/registry-up.sh" --dir "$reg_dir" --plain >/dev/null
  # shellcheck disable=SC1091
  source "$reg_dir/env"
  ref=$("$SCHEDKIT_ROOT/hack/scx-images.sh" --schedkitctl "$build/cli/schedkitctl" \
    --out "$build/images" --push "$REGISTRY_HOST/scx" "$scx" | awk '{print $3}')
  log "pushed $ref"
  "$build/cli/schedkitctl" image inspect "$ref" >&2
  tag=$REGISTRY_GUEST_HOST/scx/$scx:$("$SCHEDKIT_ROOT/hack/scx.sh" --print-version)
  log "booting Debian's $kernel sched_ext kernel in qemu (TCG)"
  out=$("$SCHEDKIT_ROOT/hack/vm/run.sh" --kernel "$kernel" --timeout 600 -v --net --mem 1536 \
    --env "IMAGE=$tag" --env "REGISTRY=$REGISTRY_GUEST_HOST" --env "SCHED=$scx" \
    --bin "$build/agent/schedkit-agent" --bin "$(command -v jq)" --bin "$(command -v crun)" \
    -- "$SCHEDKIT_ROOT/hack/demo/scx.sh")
  [ "$(echo "$out" | tail -1)" = FallenBack ] || die "the demo did not reach FallenBack"
  log "done"
  exit 0
fi

if [ -n "$cluster" ]; then
  # A control plane and a registry on this machine; the VM reaches both at 10.0.2.2.
  env_dir=$build/testenv reg_dir=$build/registry
  trap '"$SCHEDKIT_ROOT/hack/testenv/down.sh" --dir "$env_dir" >/dev/null 2>&1 || true
        "$SCHEDKIT_ROOT/hack/testenv/registry-down.sh" --dir "$reg_dir" >/dev/null 2>&1 || true' EXIT
  log "starting kube-apiserver + etcd (the first run builds kube-apiserver: ~12 min) and a registry"
  "$SCHEDKIT_ROOT/hack/testenv/up.sh" --dir "$env_dir" >/dev/null
  "$SCHEDKIT_ROOT/hack/testenv/registry-up.sh" --dir "$reg_dir" --plain >/dev/null
  # shellcheck disable=SC1091
  source "$env_dir/env"; source "$reg_dir/env"
  export KUBECONFIG
  for s in fifo stall; do
    rm -rf "$build/images/$s"; mkdir -p "$build/images"
    "$build/cli/schedkitctl" image build --type bpf-object \
      --file "$build/bpf/testsched/testsched_$s.bpf.o" --version 0.1 --kernel-min 6.12 \
      --output-layout "$build/images/$s:1" >/dev/null
    "$build/cli/schedkitctl" image push "$build/images/$s:1" "$REGISTRY_HOST/testsched/$s:1" >/dev/null
  done
  log "pushed $REGISTRY_HOST/testsched/{fifo,stall}:1"
  kubectl delete sp --all >/dev/null 2>&1 || true
  kubectl delete node demo-node --ignore-not-found >/dev/null
  kubectl create -f - >/dev/null <<YAML
apiVersion: v1
kind: Node
metadata: {name: demo-node, labels: {schedkit.io/pool: demo}}
YAML
  kc=$("$SCHEDKIT_ROOT/hack/testenv/kubeconfig.sh" --dir "$env_dir" --user schedkit-demo \
       --group system:masters --guest)
  kubectl_bin=$(ls /usr/lib/google-cloud-sdk/bin/kubectl.1.33 2>/dev/null || command -v kubectl)
  log "booting Debian's $kernel sched_ext kernel in qemu as node demo-node"
  out=$("$SCHEDKIT_ROOT/hack/vm/run.sh" --kernel "$kernel" --timeout 400 -v --net \
    --env NODE_NAME=demo-node --env "REGISTRY=10.0.2.2:$REGISTRY_PORT" \
    --file "$kc:/etc/schedkit/kubeconfig" \
    --bin "$build/agent/schedkit-agent" --bin "$(command -v jq)" --bin "$kubectl_bin:/usr/bin/kubectl" \
    -- "$SCHEDKIT_ROOT/hack/demo/cluster.sh")
  [ "$(echo "$out" | tail -1)" = FallenBack ] || die "the demo did not reach FallenBack"
  log "done"
  exit 0
fi

objs=()
for s in fifo stall; do
  objs+=(--file "$build/bpf/testsched/testsched_$s.bpf.o:/opt/schedkit/testsched/$s.bpf.o")
done
log "booting Debian's $kernel sched_ext kernel in qemu (TCG, ~10 s)"
out=$("$SCHEDKIT_ROOT/hack/vm/run.sh" --kernel "$kernel" --timeout 180 -v \
  --bin "$build/agent/schedkit-agent" --bin "$(command -v jq)" "${objs[@]}" \
  -- "$SCHEDKIT_ROOT/hack/demo/standalone.sh")
[ "$(echo "$out" | tail -1)" = FallenBack ] || die "the demo did not reach FallenBack"
log "done"
