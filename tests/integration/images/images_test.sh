#!/usr/bin/env bash
# hack/images.sh as a release would run it: the three images built from this build tree, pushed to
# the real docker-registry, read back with skopeo, and run from their unpacked roots.
#   images_test.sh build|reproducible|registry|rootfs|pause|kustomize|refusals|containerfiles
#     build           (fixture) hack/images.sh --registry into WORK/first; WORK/first.lines
#     reproducible    a second build into another dir: the same digests and sizes
#     registry        skopeo inspect: digest, entrypoint, user, env and the OCI labels/annotations
#     rootfs          skopeo copy back, unpack, and run schedkit-agent --help, schedkitctl --help,
#                     crun --version and schedkit-operator --help in a chroot of the image (root)
#     pause           /pause as PID 1 of its own PID namespace: reaps an orphan, SIGTERM exits 0;
#                     then as a container run by the agent image's own crun (root)
#     kustomize       deploy/ with the pushed digests set through its images: stanza
#     refusals        a build dir without the binaries, unknown flags and images: clear errors
#     containerfiles  deploy/images/*.Containerfile install a package for each library linked
# Environment (set by ctest, tests/integration/images/CMakeLists.txt):
#   SCHEDKIT_IMAGES_BUILD     the build tree (agent/, operator/, cli/ binaries)
#   SCHEDKIT_IMAGES_REGISTRY  a registry-up.sh DIR (plain HTTP)
#   SCHEDKIT_IMAGES_WORK      scratch directory shared by the cases (the build case empties it)
# Exit 77: skipped (not root for chroot/crun).
set -euo pipefail

root=$(cd "$(dirname "$0")/../../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
skip() { echo "SKIP: $*"; exit 77; }
[ $# -eq 1 ] || fail "usage: $0 build|reproducible|registry|rootfs|pause|kustomize|refusals|containerfiles"
for v in SCHEDKIT_IMAGES_BUILD SCHEDKIT_IMAGES_WORK; do
  [ -n "${!v:-}" ] || fail "$v is not set (run through ctest)"
done
command -v jq >/dev/null || fail "jq is needed"
build=$SCHEDKIT_IMAGES_BUILD work=$SCHEDKIT_IMAGES_WORK
images=(schedkit-agent schedkit-operator schedkit-pause)
tag=$(sed -n 's/^appVersion:[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p' "$root/helm/schedkit/Chart.yaml")
expect_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; ok "$3 = $2"; }

registry_env() {
  [ -f "${SCHEDKIT_IMAGES_REGISTRY:-}/env" ] || fail "no registry env in ${SCHEDKIT_IMAGES_REGISTRY:-(unset)}"
  # shellcheck disable=SC1091
  . "$SCHEDKIT_IMAGES_REGISTRY/env"
  command -v skopeo >/dev/null || fail "skopeo is needed (hack/deps.sh installs it)"
}
# line NAME: the fixture's output line for one image: NAME REF@DIGEST SIZE.
line() { grep "^$1 " "$work/first.lines" || fail "no line for $1 in $work/first.lines"; }
digest_of() { line "$1" | awk '{print $2}' | sed 's/.*@//'; }
ref_of() { line "$1" | awk '{print $2}' | sed 's/@.*//'; }

# unpack OCI_DIR TAG ROOT: applies the image's layers in order (GNU tar keeps modes as root).
unpack() {
  local layout=$1 tag=$2 dest=$3 manifest d
  rm -rf "$dest" && mkdir -p "$dest"
  manifest=$(jq -r --arg t "$tag" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' \
    "$layout/index.json")
  [ -n "$manifest" ] || fail "no $tag in $layout/index.json"
  for d in $(jq -r '.layers[].digest' "$layout/blobs/sha256/${manifest#sha256:}"); do
    tar -xzf "$layout/blobs/sha256/${d#sha256:}" -C "$dest" --numeric-owner -p ||
      fail "unpacking layer $d of $layout:$tag"
  done
}

# The root of an image as a registry client sees it: copied back with skopeo, then unpacked.
pulled_root() {
  local name=$1 dest=$work/roots/$1
  registry_env
  rm -rf "$work/pulled/$name"
  mkdir -p "$work/pulled"
  skopeo copy --quiet --src-tls-verify=false "docker://$(ref_of "$name")" \
    "oci:$work/pulled/$name:$tag" || fail "skopeo copy $(ref_of "$name")"
  unpack "$work/pulled/$name" "$tag" "$dest"
  echo "$dest"
}

case_build() {
  registry_env
  rm -rf "$work"
  mkdir -p "$work"
  local t0 t1
  git -C "$root" --no-optional-locks rev-parse HEAD >"$work/head" 2>/dev/null || echo unknown >"$work/head"
  t0=$(date +%s%N)
  "$root/hack/images.sh" --build "$build" --out "$work/first" --registry "$REGISTRY_HOST" \
    --insecure >"$work/first.lines" 2>"$work/first.log" || { cat "$work/first.log" >&2; fail "hack/images.sh failed"; }
  t1=$(date +%s%N)
  cat "$work/first.log"
  cat "$work/first.lines"
  expect_eq "$(wc -l <"$work/first.lines")" 3 "one line per image"
  local n
  for n in "${images[@]}"; do
    [[ $(line "$n") =~ ^$n\ $REGISTRY_HOST/schedkit/$n:$tag@sha256:[0-9a-f]{64}\ [0-9]+$ ]] ||
      fail "line for $n is not 'NAME REF@sha256:DIGEST SIZE': $(line "$n")"
  done
  ok "build and push of three images took $(((t1 - t0) / 1000000)) ms"
  # What the rebuild must use again, should someone commit in between.
  local cfg
  cfg=$(jq -r '.manifests[0].digest' "$work/first/schedkit-pause/index.json")
  cfg=$(jq -r .config.digest "$work/first/schedkit-pause/blobs/sha256/${cfg#sha256:}")
  jq -r '.config.Labels | "SCHEDKIT_IMAGE_REVISION=\(.["org.opencontainers.image.revision"])",
    "SCHEDKIT_IMAGE_SOURCE=\(.["org.opencontainers.image.source"])",
    "CREATED=\(.["org.opencontainers.image.created"] // "")"' \
    "$work/first/schedkit-pause/blobs/sha256/${cfg#sha256:}" >"$work/provenance"
  cat "$work/provenance"
}

case_reproducible() {
  local t0 t1 n created
  created=$(sed -n 's/^CREATED=//p' "$work/provenance")
  t0=$(date +%s%N)
  env "SCHEDKIT_IMAGE_REVISION=$(sed -n 's/^SCHEDKIT_IMAGE_REVISION=//p' "$work/provenance")" \
    "SCHEDKIT_IMAGE_SOURCE=$(sed -n 's/^SCHEDKIT_IMAGE_SOURCE=//p' "$work/provenance")" \
    ${created:+"SOURCE_DATE_EPOCH=$(date -u -d "$created" +%s)"} \
    "$root/hack/images.sh" --build "$build" --out "$work/second" >"$work/second.lines" 2>"$work/second.log" ||
    { cat "$work/second.log" >&2; fail "the second hack/images.sh failed"; }
  t1=$(date +%s%N)
  for n in "${images[@]}"; do
    local a b
    a=$(line "$n" | awk '{print $2, $3}' | sed 's/^[^@]*@//')
    b=$(grep "^$n " "$work/second.lines" | awk '{print $2, $3}' | sed 's/^[^@]*@//')
    expect_eq "$b" "$a" "$n digest and size, rebuilt"
    # Not just the manifest: every blob byte for byte.
    diff -r "$work/first/$n/blobs" "$work/second/$n/blobs" >/dev/null ||
      fail "$n: the blobs of the two builds differ"
  done
  ok "rebuild without push took $(((t1 - t0) / 1000000)) ms"
}

case_registry() {
  registry_env
  local n ref raw cfg out
  for n in "${images[@]}"; do
    ref=$(ref_of "$n")
    out=$(skopeo inspect --tls-verify=false "docker://$ref") || fail "skopeo inspect $ref"
    expect_eq "$(jq -r .Digest <<<"$out")" "$(digest_of "$n")" "$n: registry digest"
    expect_eq "$(jq -r '.Labels["org.opencontainers.image.title"]' <<<"$out")" "$n" "$n: title label"
    expect_eq "$(jq -r '.Labels["org.opencontainers.image.version"]' <<<"$out")" "$tag" "$n: version label"
    local rev
    rev=$(cat "$work/head")
    [[ $(jq -r '.Labels["org.opencontainers.image.revision"]' <<<"$out") =~ ^$rev(-dirty)?$ ]] ||
      fail "$n: revision label is not the commit $rev"
    ok "$n: revision label names $rev"
    [ -n "$(jq -r '.Labels["org.opencontainers.image.source"] // empty' <<<"$out")" ] || fail "$n: no source label"
    [ "$(jq '.Layers | length' <<<"$out")" = 1 ] || fail "$n: not one layer"
    cfg=$(skopeo inspect --tls-verify=false --config "docker://$ref") || fail "skopeo inspect --config $ref"
    raw=$(skopeo inspect --tls-verify=false --raw "docker://$ref") || fail "skopeo inspect --raw $ref"
    expect_eq "$(jq -r '.annotations["org.opencontainers.image.revision"]' <<<"$raw")" \
      "$(jq -r '.Labels["org.opencontainers.image.revision"]' <<<"$out")" "$n: revision annotation"
    # The printed size is what a node downloads: config + layers, as the manifest says.
    expect_eq "$(jq '.config.size + ([.layers[].size] | add)' <<<"$raw")" "$(line "$n" | awk '{print $3}')" \
      "$n: printed size"
    case $n in
      schedkit-agent)
        expect_eq "$(jq -c .config.Entrypoint <<<"$cfg")" '["/usr/bin/schedkit-agent"]' "$n: entrypoint"
        expect_eq "$(jq -r .config.User <<<"$cfg")" 0:0 "$n: user"
        jq -e '.config.Env | index("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt") != null' <<<"$cfg" >/dev/null ||
          fail "$n: no SSL_CERT_FILE"
        ;;
      schedkit-operator)
        expect_eq "$(jq -c .config.Entrypoint <<<"$cfg")" '["/usr/bin/schedkit-operator"]' "$n: entrypoint"
        expect_eq "$(jq -r .config.User <<<"$cfg")" 65532:65532 "$n: user (the chart's runAsUser)"
        ;;
      schedkit-pause)
        expect_eq "$(jq -c .config.Entrypoint <<<"$cfg")" '["/pause"]' "$n: entrypoint"
        ;;
    esac
  done
}

# in_root [--userspec=U:G] ROOT CMD...: CMD in a chroot of an unpacked image, in mount and PID
# namespaces of its own with a fresh /proc (crun re-executes itself through /proc/self/exe), an
# empty environment but the image's PATH: nothing of the host's filesystem or environment.
in_root() {
  local spec=() r
  if [[ $1 == --userspec=* ]]; then spec=("$1"); shift; fi
  r=$1
  shift
  mkdir -p "$r/proc"
  # shellcheck disable=SC2016 # expanded by the inner sh
  unshare --mount --propagation private --pid --fork sh -c \
    'mount -t proc proc "$0/proc" && exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin chroot "$@"' \
    "$r" "${spec[@]}" "$r" "$@"
}

case_rootfs() {
  [ "$(id -u)" = 0 ] || skip "chroot needs root"
  local agent operator out
  agent=$(pulled_root schedkit-agent)
  operator=$(pulled_root schedkit-operator)
  # The image holds no shell and nothing of the host's /usr but what the binaries need.
  if [ -e "$agent/bin/sh" ] || [ -e "$agent/usr/bin/sh" ]; then fail "the agent image has a shell"; fi
  expect_eq "$(stat -c %a "$agent/tmp")" 1777 "agent image /tmp mode"
  [ -s "$agent/etc/ssl/certs/ca-certificates.crt" ] || fail "no CA bundle in the agent image"
  [ -s "$agent/usr/lib/ssl/cert.pem" ] || fail "OpenSSL's default cert.pem does not lead to the CA bundle"
  out=$(in_root "$agent" /usr/bin/schedkit-agent --help 2>&1) || fail "schedkit-agent --help in the image: $out"
  [[ $out == *--crun* ]] || fail "schedkit-agent --help does not look like its help: $out"
  ok "schedkit-agent --help runs in the image"
  out=$(in_root "$agent" /usr/bin/schedkitctl --help 2>&1) || fail "schedkitctl --help in the image: $out"
  [[ $out == *"image"* ]] || fail "schedkitctl --help: $out"
  ok "schedkitctl --help runs in the image"
  # By name, as the agent runs it (--crun default "crun", searched in PATH).
  out=$(in_root "$agent" crun --version 2>&1) || fail "crun --version in the image: $out"
  [[ $out == "crun version "* ]] || fail "crun --version: $out"
  ok "crun runs in the image: $(head -1 <<<"$out")"
  out=$(in_root --userspec=65532:65532 "$operator" /usr/bin/schedkit-operator --help 2>&1) ||
    fail "schedkit-operator --help as 65532 in the image: $out"
  ok "schedkit-operator --help runs in the image as 65532"
  [ ! -e "$operator/usr/bin/crun" ] || fail "the operator image carries crun"

  # Sizes, for the record.
  local n r
  for n in schedkit-agent schedkit-operator; do
    r=$work/roots/$n
    echo "size: $n unpacked $(du -sb "$r" | cut -f1) bytes ($(find "$r" -type f | wc -l) files)," \
      "compressed $(line "$n" | awk '{print $3}') bytes"
  done
}

case_pause() {
  [ "$(id -u)" = 0 ] || skip "PID namespaces and crun need root"
  local pause pid ns_pid rc
  pause=$(pulled_root schedkit-pause)
  expect_eq "$(cd "$pause" && find . -mindepth 1 | sort | tr '\n' ' ')" "./pause " "the pause image holds only /pause"
  echo "size: schedkit-pause unpacked $(du -sb "$pause" | cut -f1) bytes, compressed $(line schedkit-pause | awk '{print $3}') bytes"

  # PID 1 of a new PID namespace, in a chroot of the image.
  # Its output to a file: a background process must not hold ctest's pipe open.
  unshare --pid --fork --kill-child chroot "$pause" /pause >"$work/pause.log" 2>&1 &
  pid=$!
  # Whatever runs when this case ends early goes with it.
  trap 'kill -KILL ${ns_pid:-} ${pid:-} 2>/dev/null || true' EXIT
  ns_pid=
  for _ in $(seq 50); do
    ns_pid=$(awk '{print $1}' "/proc/$pid/task/$pid/children" 2>/dev/null || true)
    [ -n "$ns_pid" ] && [ "$(readlink "/proc/$ns_pid/exe" 2>/dev/null)" = "$pause/pause" ] && break
    sleep 0.1
  done
  [ -n "$ns_pid" ] || fail "/pause did not start"
  # An orphan in its namespace is reparented to it and reaped when it exits.
  nsenter -t "$ns_pid" -p -- /bin/sh -c 'sleep 0.3 & exit 0'
  sleep 1
  local zombies
  zombies=$({ ps --ppid "$ns_pid" -o stat= || true; } | awk '/Z/ {n++} END {print n + 0}')
  expect_eq "$zombies" 0 "zombies left under /pause"
  kill -TERM "$ns_pid"
  rc=0
  wait "$pid" || rc=$?
  expect_eq "$rc" 0 "/pause exit status after SIGTERM"

  # As a container, run by the agent image's own crun, in a mount namespace where that image's
  # root has /proc, /sys and /dev (as the agent's pod has). crun keeps its state in the image
  # root, where this shell reads the container's PID.
  local agent bundle state id=schedkit-images-test-$$
  agent=$(pulled_root schedkit-agent)
  bundle=$agent/var/lib/schedkit/bundle state=$agent/var/lib/schedkit/crun
  mkdir -p "$bundle/rootfs"
  cp -a "$pause/." "$bundle/rootfs/"
  cat >"$work/crun-pause.sh" <<'SH'
set -eu
agent=$1 id=$2 bundle=$1/var/lib/schedkit/bundle
mount --bind "$agent" "$agent" # the container's "/" is a mount, as a pod's root is
for d in proc sys dev; do mkdir -p "$agent/$d"; mount --rbind "/$d" "$agent/$d"; done
# A hybrid-cgroup host (v1 controllers, v2 at /sys/fs/cgroup/unified) is one crun refuses and
# schedkit does not support (docs/deploy.md: cgroup v2 nodes): show crun the v2 hierarchy alone.
if [ -d /sys/fs/cgroup/unified ] && [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
  umount -R "$agent/sys/fs/cgroup"
  mount --bind /sys/fs/cgroup/unified "$agent/sys/fs/cgroup"
fi
crun() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$agent" /usr/bin/crun "$@"; }
crun spec --bundle /var/lib/schedkit/bundle
jq '.process.args = ["/pause"] | .process.terminal = false | .root.readonly = true' \
  "$bundle/config.json" >"$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"
# No cgroup manager: a sandbox needs no limits, and a v2 hierarchy without controllers (this
# machine's) has nothing to manage; the agent's own crun calls do use cgroups.
crun --cgroup-manager=disabled --root /var/lib/schedkit/crun run --bundle /var/lib/schedkit/bundle "$id"
SH
  unshare --mount --propagation private sh "$work/crun-pause.sh" "$agent" "$id" >"$work/crun.log" 2>&1 &
  pid=$!
  ns_pid=
  for _ in $(seq 100); do
    ns_pid=$(jq -r '.pid // empty' "$state/$id/status" 2>/dev/null || true)
    [ -n "$ns_pid" ] && [ -d "/proc/$ns_pid" ] && break
    ns_pid=
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ns_pid" ]; then
    rc=0
    wait "$pid" || rc=$?
    fail "crun in the agent image did not start /pause (exit $rc): $(cat "$work/crun.log")"
  fi
  expect_eq "$(readlink "/proc/$ns_pid/exe" | sed 's|.*/||')" pause "the container's process"
  kill -TERM "$ns_pid"
  rc=0
  wait "$pid" || rc=$?
  expect_eq "$rc" 0 "crun run of the pause image, exit status after SIGTERM"
  trap - EXIT
}

case_kustomize() {
  command -v kubectl >/dev/null || skip "kubectl is needed"
  local overlay=$work/overlay out
  rm -rf "$overlay" && mkdir -p "$overlay"
  cat >"$overlay/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [$(realpath --relative-to="$overlay" "$root/deploy")]
images:
  - name: registry.example.com/schedkit/schedkit-agent
    newName: $(ref_of schedkit-agent | sed 's/:[^:/]*$//')
    digest: $(digest_of schedkit-agent)
  - name: registry.example.com/schedkit/schedkit-operator
    newName: $(ref_of schedkit-operator | sed 's/:[^:/]*$//')
    digest: $(digest_of schedkit-operator)
EOF
  out=$(kubectl kustomize "$overlay") || fail "kubectl kustomize of the overlay"
  local ds op
  # The rendered stream as JSON, without an API server.
  out=$(python3 -c 'import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))' <<<"$out") ||
    fail "the overlay did not render YAML (python3-yaml is needed)"
  ds=$(jq 'map(select(.kind == "DaemonSet"))[0].spec.template.spec.containers[0]' <<<"$out")
  op=$(jq 'map(select(.kind == "Deployment"))[0].spec.template.spec.containers[0]' <<<"$out")
  expect_eq "$(jq -r .image <<<"$ds")" "$(ref_of schedkit-agent | sed 's/:[^:/]*$//')@$(digest_of schedkit-agent)" "the DaemonSet's image"
  expect_eq "$(jq -r .image <<<"$op")" "$(ref_of schedkit-operator | sed 's/:[^:/]*$//')@$(digest_of schedkit-operator)" "the Deployment's image"
  # What the image layout needs: the entrypoint's path and crun's.
  expect_eq "$(jq -c .command <<<"$ds")" '["/usr/bin/schedkit-agent"]' "the agent's command"
  jq -e '.args | index("--crun=/usr/bin/crun") != null' <<<"$ds" >/dev/null || fail "the agent is not told --crun=/usr/bin/crun"
  expect_eq "$(jq -c .command <<<"$op")" '["/usr/bin/schedkit-operator"]' "the operator's command"
}

case_refusals() {
  local empty=$work-refusals out
  rm -rf "$empty" && mkdir -p "$empty/build/cli"
  # No binaries at all: each one is named, and the cmake command that makes them.
  if out=$("$root/hack/images.sh" --build "$empty/build" --out "$empty/out" 2>&1); then
    fail "hack/images.sh succeeded without binaries: $out"
  fi
  for want in "cli/schedkitctl" "agent/schedkit-agent" "operator/schedkit-operator" \
    "cmake --build $empty/build --target schedkit-agent schedkit-operator schedkitctl"; do
    [[ $out == *"$want"* ]] || fail "the error does not name '$want': $out"
  done
  ok "a build dir without binaries: $(head -1 <<<"$out")"
  [ ! -d "$empty/out/schedkit-agent" ] || fail "a layout was written anyway"
  # Only the agent missing: only it is named.
  ln -s "$build/cli/schedkitctl" "$empty/build/cli/schedkitctl"
  mkdir -p "$empty/build/operator" && ln -s "$build/operator/schedkit-operator" "$empty/build/operator/"
  out=$("$root/hack/images.sh" --build "$empty/build" --out "$empty/out" 2>&1) && fail "succeeded without the agent"
  [[ $out == *"agent/schedkit-agent"* && $out != *"operator/schedkit-operator;"* ]] || fail "wrong names: $out"
  ok "only the missing agent is named"
  # ... and what does not need it still builds.
  out=$("$root/hack/images.sh" --build "$empty/build" --out "$empty/out" --only schedkit-pause 2>/dev/null) ||
    fail "--only schedkit-pause needs no agent: $out"
  [[ $out =~ ^schedkit-pause\ oci:$empty/out/schedkit-pause:$tag@sha256:[0-9a-f]{64}\ [0-9]+$ ]] ||
    fail "--only schedkit-pause printed: $out"
  ok "--only schedkit-pause: $out"
  out=$("$root/hack/images.sh" --build "$empty/nothing" 2>&1) && fail "a missing build dir succeeded"
  [[ $out == *"no build dir $empty/nothing"*"cmake -S"* ]] || fail "a missing build dir: $out"
  out=$("$root/hack/images.sh" --only schedkit-nope 2>&1) && fail "--only schedkit-nope succeeded"
  [[ $out == *"no such image"* ]] || fail "--only schedkit-nope: $out"
  out=$("$root/hack/images.sh" --tag 'bad tag' --build "$build" 2>&1) && fail "a bad tag succeeded"
  [[ $out == *"not a valid image tag"* ]] || fail "bad tag: $out"
  out=$("$root/hack/images.sh" --frobnicate 2>&1) && fail "an unknown flag succeeded"
  [[ $out == *"unknown argument"* ]] || fail "unknown flag: $out"
  "$root/hack/images.sh" --help | grep -q "NAME REF@sha256:DIGEST SIZE_BYTES" || fail "--help lacks the output format"
  ok "flags refused with a reason"
  rm -rf "$empty"
}

# The packages a Containerfile's runtime stage installs must cover every library the binary
# links directly (the base image has libc6, libgcc-s1, libstdc++6 and zlib1g).
case_containerfiles() {
  command -v dpkg >/dev/null || skip "dpkg is needed to map libraries to packages"
  local f bin pkgs lib path pkg missing
  for pair in agent.Containerfile:agent/schedkit-agent agent.Containerfile:cli/schedkitctl \
    operator.Containerfile:operator/schedkit-operator; do
    f=$root/deploy/images/${pair%%:*} bin=$build/${pair#*:}
    [ -x "$bin" ] || fail "no $bin"
    grep -q 'hack/deps.sh' "$f" || fail "$f does not build with hack/deps.sh's packages"
    grep -q 'hack/images.sh' "$f" || fail "$f does not say that hack/images.sh is what CI tests"
    pkgs=" $(sed -n '/^FROM debian:${DEBIAN_SUITE}-slim/,$p' "$f" | tr -s ' \\\n' ' ') "
    missing=()
    local -A where=()
    while read -r lib path; do where[$lib]=$path; done < <(ldd "$bin" | awk '/=>/ && $3 ~ /^\// {print $1, $3}')
    for lib in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      path=${where[$lib]:-}
      [ -n "$path" ] || fail "$bin needs $lib, which ldd does not find here"
      pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "/usr$path" 2>/dev/null || dpkg -S "${path#/usr}" 2>/dev/null || true)
      pkg=${pkg%%:*}
      [ -n "$pkg" ] || fail "$lib ($path) belongs to no package"
      [[ " libc6 libgcc-s1 libstdc++6 zlib1g " == *" $pkg "* ]] && continue
      [[ $pkgs == *" $pkg "* ]] || missing+=("$pkg ($lib)")
    done
    unset where
    [ ${#missing[@]} -eq 0 ] || fail "$f installs no package for: ${missing[*]} (needed by $bin)"
    ok "$(basename "$f") has a package for every library of $(basename "$bin")"
  done
}

"case_$1"
