#!/usr/bin/env bash
# Benchmark (not a test): pulling a scheduler image from a local docker-registry (plain HTTP,
# hack/testenv/registry-up.sh) with schedkitctl, which pulls, verifies and unpacks exactly as the
# agent does, against `skopeo copy docker://… oci:DIR` (fetch only, no unpack).
#   1. A ~100 MB image of 4 layers (the scheduler, ~50 MB random, ~50 MB compressible text, a
#      small config file): median of RUNS cold pulls (empty client cache) and RUNS warm pulls
#      (everything cached; schedkitctl --policy Always re-resolves the tag, skopeo copies into
#      the layout it already wrote) for each tool, and the ratio.
#   2. Peak RSS of schedkitctl (GNU time %M) pulling one 100 MB and one 400 MB random layer: the
#      layer is streamed to disk and through the unpacker, so memory should not grow with it.
#   bench/image_pull.sh [--runs 5] [--dir DIR] [--keep]
# Needs schedkitctl (SCHEDKIT_BUILD, default build-cli, else build/ci), skopeo, jq, GNU time.
set -euo pipefail
source "$(dirname "$0")/../hack/lib/common.sh"
runs=5 dir='' keep=''
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
skctl=
for b in ${SCHEDKIT_BUILD:+"$SCHEDKIT_BUILD"} "$SCHEDKIT_ROOT/build-cli" "$SCHEDKIT_ROOT/build/ci"; do
  [ -x "$b/cli/schedkitctl" ] && { skctl=$b/cli/schedkitctl; break; }
done
[ -n "$skctl" ] || die "no schedkitctl: build it (ninja -C build-cli schedkitctl) or set SCHEDKIT_BUILD"
for t in skopeo jq sha256sum gzip tar; do command -v $t >/dev/null || die "$t is needed"; done
[ -x /usr/bin/time ] || die "GNU time (/usr/bin/time) is needed for peak RSS"
dir=${dir:-$(mktemp -d "${TMPDIR:-/tmp}/schedkit-bench-pull.XXXXXX")}
mkdir -p "$dir"
cleanup() {
  "$SCHEDKIT_ROOT/hack/testenv/registry-down.sh" --dir "$dir/registry" --purge >/dev/null 2>&1 || true
  [ -n "$keep" ] || rm -rf "$dir"
}
trap cleanup EXIT
"$SCHEDKIT_ROOT/hack/testenv/registry-up.sh" --dir "$dir/registry" --plain
# shellcheck disable=SC1091
. "$dir/registry/env"
host=$REGISTRY_HOST

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }
# One tar+gzip layer from a directory: blob into LAYOUT/blobs, "digest size diffid" on stdout.
make_layer() {  # LAYOUT SRC_DIR
  local tar=$dir/layer.tar diff digest
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$2" -cf "$tar" .
  diff=$(sha256sum "$tar" | cut -d' ' -f1)
  gzip -1 -n -c "$tar" >"$tar.gz"
  digest=$(sha256sum "$tar.gz" | cut -d' ' -f1)
  mv "$tar.gz" "$1/blobs/sha256/$digest"
  rm -f "$tar"
  echo "$digest $(stat -c %s "$1/blobs/sha256/$digest") $diff"
}
put_json() {  # LAYOUT JSON → "digest size"
  local d
  d=$(printf '%s' "$2" | sha256sum | cut -d' ' -f1)
  printf '%s' "$2" >"$1/blobs/sha256/$d"
  echo "$d ${#2}"
}
# An OCI layout tagged 1 whose layers are the given directories; the scheduler convention's labels
# point at /usr/bin/scx_bench, which the first directory must hold.
make_image() {  # LAYOUT SRC_DIR...
  local l=$1 layers="[]" diffs="[]" d s i cfg man layer_src
  shift
  rm -rf "$l"
  mkdir -p "$l/blobs/sha256"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$l/oci-layout"
  for layer_src in "$@"; do
    read -r d s i < <(make_layer "$l" "$layer_src")
    layers=$(jq -c --arg d "sha256:$d" --argjson s "$s" \
      '. + [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $d, size: $s}]' <<<"$layers")
    diffs=$(jq -c --arg i "sha256:$i" '. + [$i]' <<<"$diffs")
  done
  cfg=$(jq -cn --argjson diffs "$diffs" '{architecture: "amd64", os: "linux",
    config: {Labels: {"io.schedkit.scheduler.type": "binary",
                      "io.schedkit.scheduler.path": "/usr/bin/scx_bench",
                      "io.schedkit.scheduler.name": "bench"}},
    rootfs: {type: "layers", diff_ids: $diffs}}')
  read -r d s < <(put_json "$l" "$cfg")
  man=$(jq -cn --arg d "sha256:$d" --argjson s "$s" --argjson layers "$layers" '{schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $d, size: $s},
    layers: $layers}')
  read -r d s < <(put_json "$l" "$man")
  jq -cn --arg d "sha256:$d" --argjson s "$s" '{schemaVersion: 2, manifests: [{
    mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
    annotations: {"org.opencontainers.image.ref.name": "1"}}]}' >"$l/index.json"
}
push() {  # LAYOUT REPO
  skopeo copy --quiet --preserve-digests --dest-tls-verify=false "oci:$1:1" "docker://$host/$2:1"
}
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

log "generating images in $dir"
src=$dir/src
rm -rf "$src"
mkdir -p "$src/sched/usr/bin" "$src/random/opt/data" "$src/text/usr/share/bench" "$src/etc/etc" \
  "$src/big100/opt" "$src/big400/opt"
printf '#!/bin/sh\nexec sleep 1000\n' >"$src/sched/usr/bin/scx_bench"
chmod 755 "$src/sched/usr/bin/scx_bench"
for i in 1 2 3 4 5; do head -c $((10 << 20)) /dev/urandom >"$src/random/opt/data/blob$i"; done
{ seq 1 100000000 || true; } | head -c $((50 << 20)) >"$src/text/usr/share/bench/numbers.txt"
echo "mode=bench" >"$src/etc/etc/scx_bench.conf"
make_image "$dir/img-mixed" "$src/sched" "$src/random" "$src/text" "$src/etc"
head -c $((100 << 20)) /dev/urandom >"$src/big100/opt/data"
head -c $((400 << 20)) /dev/urandom >"$src/big400/opt/data"
make_image "$dir/img-100" "$src/sched" "$src/big100"
make_image "$dir/img-400" "$src/sched" "$src/big400"
rm -rf "$src"
push "$dir/img-mixed" bench/mixed
push "$dir/img-100" bench/big100
push "$dir/img-400" bench/big400
mixed_bytes=$(jq '[.layers[].size] | add' "$dir/img-mixed/blobs/sha256/$(jq -r '.manifests[0].digest[7:]' "$dir/img-mixed/index.json")")
unpacked_mb=100

# Cold: an empty cache (schedkitctl) or a new layout (skopeo) every run.
declare -a sk_cold sko_cold sk_warm sk_warm_always sko_warm
for i in $(seq "$runs"); do
  rm -rf "$dir/cache" "$dir/skopeo"
  t0=$(now); "$skctl" image pull "$host/bench/mixed:1" --cache "$dir/cache" >/dev/null 2>&1; t1=$(now)
  sk_cold+=("$(secs "$t0" "$t1")")
  t0=$(now); skopeo copy --quiet --src-tls-verify=false "docker://$host/bench/mixed:1" \
    "oci:$dir/skopeo:1"; t1=$(now)
  sko_cold+=("$(secs "$t0" "$t1")")
done
# Warm: what the previous runs left.
for i in $(seq "$runs"); do
  t0=$(now); "$skctl" image pull "$host/bench/mixed:1" --cache "$dir/cache" >/dev/null 2>&1; t1=$(now)
  sk_warm+=("$(secs "$t0" "$t1")")
  t0=$(now); "$skctl" image pull "$host/bench/mixed:1" --cache "$dir/cache" --policy Always \
    >/dev/null 2>&1; t1=$(now)
  sk_warm_always+=("$(secs "$t0" "$t1")")
  t0=$(now); skopeo copy --quiet --src-tls-verify=false "docker://$host/bench/mixed:1" \
    "oci:$dir/skopeo:1"; t1=$(now)
  sko_warm+=("$(secs "$t0" "$t1")")
done
m() { printf '%s\n' "$@" | median; }
skc=$(m "${sk_cold[@]}") skoc=$(m "${sko_cold[@]}") skw=$(m "${sk_warm[@]}")
skwa=$(m "${sk_warm_always[@]}") skow=$(m "${sko_warm[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# Peak RSS: one random layer of 100 MB, then of 400 MB, each into a fresh cache.
rss() {  # REPO → "KiB seconds"
  rm -rf "$dir/rss-cache"
  /usr/bin/time -f '%M %e' -o "$dir/time.txt" "$skctl" image pull "$host/$1:1" \
    --cache "$dir/rss-cache" >/dev/null 2>&1
  cat "$dir/time.txt"
}
read -r rss100 t100 < <(rss bench/big100)
read -r rss400 t400 < <(rss bench/big400)
rm -rf "$dir/rss-sko"
/usr/bin/time -f '%M %e' -o "$dir/time.txt" skopeo copy --quiet --src-tls-verify=false \
  "docker://$host/bench/big400:1" "oci:$dir/rss-sko:1"
read -r rss400sko t400sko <"$dir/time.txt"
rm -rf "$dir/rss-cache" "$dir/rss-sko"

mb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
cat <<REPORT
schedkit image pull benchmark — $(date -u +%F), $(nproc) cores, local docker-registry (plain HTTP, $host)
  image bench/mixed:1: 4 layers, $(mb "$mixed_bytes") MB compressed, ~${unpacked_mb} MB of files
    (50 MB random in 5 files, 50 MB of digits text, the scheduler, a config file); gzip -1
$(printf '  %-40s %-19s %-21s %s' "median of $runs runs, seconds" "schedkitctl pull" "skopeo copy → oci:" ratio)
    cold (empty cache / new layout)        $(printf '%-19s %-21s %s' "$skc" "$skoc" "$(ratio "$skc" "$skoc")")
    warm, IfNotPresent (cache only)        $(printf '%-19s %-21s %s' "$skw" "$skow" "$(ratio "$skw" "$skow")")
    warm, --policy Always (tag resolved)   $(printf '%-19s %-21s %s' "$skwa" "$skow" "$(ratio "$skwa" "$skow")")
  schedkitctl verifies every blob's digest and each layer's diff_id and unpacks into a read-only
  root; skopeo copy only stores the blobs (no unpack). Warm skopeo = copy into the same layout.
  all runs (s): schedkitctl cold ${sk_cold[*]}; skopeo cold ${sko_cold[*]}
                schedkitctl warm ${sk_warm[*]}; warm Always ${sk_warm_always[*]}; skopeo warm ${sko_warm[*]}
  peak RSS of schedkitctl image pull (GNU time %M), fresh cache:
    one 100 MB random layer                $(mb $((rss100 * 1024))) MiB   (${t100} s)
    one 400 MB random layer                $(mb $((rss400 * 1024))) MiB   (${t400} s)
    skopeo copy of the 400 MB image, for reference: $(mb $((rss400sko * 1024))) MiB (${t400sko} s)
REPORT
