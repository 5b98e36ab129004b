#!/usr/bin/env bash
# Builds schedkit's own container images without a container engine, from the binaries in a build
# dir, with `schedkitctl image assemble` (one layer, sorted entries, mtime 0, no timestamps but the
# commit's: the same inputs give the same digests), and optionally pushes them.
#   hack/images.sh [--build DIR] [--out DIR] [--tag TAG] [--registry HOST[:PORT]] [--prefix PATH]
#                  [--insecure] [--ca FILE] [--docker-config FILE] [--only NAME]... [--no-strip]
#   --build     build dir holding agent/schedkit-agent, operator/schedkit-operator and
#               cli/schedkitctl (default build/ci); it is not built for you
#   --out       OCI layouts are written to OUT/NAME, tagged TAG (default BUILD/images)
#   --tag       default: the chart's appVersion (helm/schedkit/Chart.yaml)
#   --registry  push each image to HOST[:PORT]/PREFIX/NAME:TAG (schedkitctl image push)
#   --prefix    repository path under the registry (default schedkit, as the chart's images)
#   --insecure, --ca, --docker-config   passed to schedkitctl image push
#   --only      build just this image (repeatable): schedkit-agent, schedkit-operator, schedkit-pause
#   --no-strip  keep the binaries' debug info (by default a copy is stripped with strip --strip-debug)
# Images (each also holds /etc/passwd, /etc/group, /etc/nsswitch.conf from hack/images/etc, /tmp):
#   schedkit-agent     /usr/bin/schedkit-agent, /usr/bin/schedkitctl, /usr/bin/crun (this machine's
#                      Debian crun), their loader and shared libraries, CA certificates; runs as root
#   schedkit-operator  /usr/bin/schedkit-operator with its libraries, CA certificates; user 65532
#   schedkit-pause     /pause only: hack/images/pause.c, gcc -static (a pod sandbox image)
# Labels and manifest annotations: org.opencontainers.image.{title,description,version,revision,
# created,source}; revision is the git commit (with -dirty when the tree has changes), created the
# commit time. Environment: SOURCE_DATE_EPOCH, SCHEDKIT_IMAGE_REVISION and SCHEDKIT_IMAGE_SOURCE
# override created, revision and source; SCHEDKIT_IMAGE_CRUN the crun to carry (/usr/bin/crun),
# SCHEDKIT_IMAGE_CA_BUNDLE the CA bundle (/etc/ssl/certs/ca-certificates.crt).
# Prints one line per image on stdout:
#   NAME REF@sha256:DIGEST SIZE_BYTES      (REF: the registry reference when pushed, else
#                                           oci:OUT/NAME:TAG; SIZE: config + layer, compressed)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

usage() { sed -n '2,32s/^# \{0,1\}//p' "$0"; }
build=$SCHEDKIT_ROOT/build/ci out= tag= registry= prefix=schedkit strip=1
push_flags=() only=()
need() { [ "$2" -ge 2 ] || die "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
  case $1 in
    --build) need "$1" $#; build=$2; shift 2 ;;
    --out) need "$1" $#; out=$2; shift 2 ;;
    --tag) need "$1" $#; tag=$2; shift 2 ;;
    --registry) need "$1" $#; registry=$2; shift 2 ;;
    --prefix) need "$1" $#; prefix=$2; shift 2 ;;
    --insecure) push_flags+=(--insecure); shift ;;
    --ca) need "$1" $#; push_flags+=(--ca "$2"); shift 2 ;;
    --docker-config) need "$1" $#; push_flags+=(--docker-config "$2"); shift 2 ;;
    --only) need "$1" $#; only+=("$2"); shift 2 ;;
    --no-strip) strip=; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

all_images=(schedkit-agent schedkit-operator schedkit-pause)
[ ${#only[@]} -gt 0 ] || only=("${all_images[@]}")
for n in "${only[@]}"; do
  [[ " ${all_images[*]} " == *" $n "* ]] || die "--only $n: no such image (${all_images[*]})"
done
wants() { [[ " ${only[*]} " == *" $1 "* ]]; }

[ -d "$build" ] || die "no build dir $build; configure and build it first:
  cmake -S $SCHEDKIT_ROOT -B $build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCHEDKIT_BUILD_BPF=OFF
  cmake --build $build --target schedkit-agent schedkit-operator schedkitctl"
build=$(cd "$build" && pwd)
out=${out:-$build/images}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The binaries this run needs, each checked before anything is built.
schedkitctl=$build/cli/schedkitctl
needed=("$schedkitctl")
wants schedkit-agent && needed+=("$build/agent/schedkit-agent")
wants schedkit-operator && needed+=("$build/operator/schedkit-operator")
missing=()
for f in "${needed[@]}"; do [ -x "$f" ] || missing+=("$f"); done
if [ ${#missing[@]} -gt 0 ]; then
  die "missing in the build dir: ${missing[*]}; build them first:
  cmake --build $build --target schedkit-agent schedkit-operator schedkitctl
(configure it with: cmake -S $SCHEDKIT_ROOT -B $build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCHEDKIT_BUILD_BPF=OFF)"
fi
if wants schedkit-agent && grep -qs '^SCHEDKIT_BUILD_BPF:BOOL=OFF' "$build/CMakeCache.txt"; then
  log "warning: $build has SCHEDKIT_BUILD_BPF=OFF: this agent lacks the run-queue latency probe" \
    "(health.runqueueLatency); build release images from a BPF build"
fi
crun=${SCHEDKIT_IMAGE_CRUN:-/usr/bin/crun}
cacerts=${SCHEDKIT_IMAGE_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
if wants schedkit-agent; then
  [ -x "$crun" ] || die "no $crun: the agent image carries this machine's crun (apt-get install crun)"
fi
if wants schedkit-agent || wants schedkit-operator; then
  [ -s "$cacerts" ] || die "no $cacerts (apt-get install ca-certificates)"
fi
if wants schedkit-pause; then
  command -v gcc >/dev/null || die "gcc is needed for the pause image (build-essential)"
fi
command -v jq >/dev/null || die "jq is needed (apt-get install jq)"

if [ -z "$tag" ]; then
  tag=$(sed -n 's/^appVersion:[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p' \
    "$SCHEDKIT_ROOT/helm/schedkit/Chart.yaml")
  [ -n "$tag" ] || die "no appVersion in helm/schedkit/Chart.yaml; pass --tag"
fi
[[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "--tag $tag is not a valid image tag"

# Provenance, from git when this is a checkout. No wall-clock time anywhere: rebuilding the same
# commit gives the same digests. --no-optional-locks: other people's git commands may be running.
git_() { git -C "$SCHEDKIT_ROOT" --no-optional-locks "$@" 2>/dev/null; }
revision=${SCHEDKIT_IMAGE_REVISION:-} created= source_url=${SCHEDKIT_IMAGE_SOURCE:-}
if head=$(git_ rev-parse HEAD); then
  if [ -z "$revision" ]; then
    revision=$head
    git_ diff-index --quiet HEAD -- || revision+=-dirty
  fi
  [ -n "$source_url" ] || source_url=$(git_ config --get remote.origin.url || true)
  epoch=${SOURCE_DATE_EPOCH:-$(git_ log -1 --format=%ct HEAD)}
else
  revision=${revision:-unknown}
  epoch=${SOURCE_DATE_EPOCH:-}
fi
source_url=${source_url:-https://github.com/schedkit/schedkit}
[ -z "$epoch" ] || created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

work=$(mktemp -d "${TMPDIR:-/tmp}/schedkit-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A copy of a built binary, without debug info (88 MB → 4 MB for the agent); strip is
# deterministic, so the same binary always gives the same bytes.
prepare() {
  local src=$1 dst
  dst=$work/bin/$(basename "$1")
  mkdir -p "$work/bin"
  if [ -n "$strip" ]; then
    strip --strip-debug -o "$dst" "$src" || die "strip $src failed"
  else
    cp "$src" "$dst"
  fi
  echo "$dst"
}

etc=$SCHEDKIT_ROOT/hack/images/etc
base_flags=(
  --file "$etc/passwd:/etc/passwd:0644" --file "$etc/group:/etc/group:0644"
  --file "$etc/nsswitch.conf:/etc/nsswitch.conf:0644"
  --dir /tmp:1777 --dir /root:0700
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
)
# OpenSSL looks in /usr/lib/ssl (Debian's OPENSSLDIR); SSL_CERT_FILE says it once more.
ca_flags=(
  --file "$cacerts:/etc/ssl/certs/ca-certificates.crt:0644"
  --symlink /usr/lib/ssl/cert.pem:/etc/ssl/certs/ca-certificates.crt
  --symlink /usr/lib/ssl/certs:/etc/ssl/certs
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
)

# label_flags NAME DESCRIPTION: the same org.opencontainers.image.* keys as config labels and as
# manifest annotations (registries show the latter without fetching the config).
label_flags() {
  local kv
  local keys=("title=$1" "description=$2" "version=$tag" "revision=$revision" "source=$source_url")
  [ -z "$created" ] || keys+=("created=$created")
  for kv in "${keys[@]}"; do
    printf '%s\n' --label "org.opencontainers.image.$kv" --annotation "org.opencontainers.image.$kv"
  done
  [ -z "$created" ] || printf '%s\n' --created "$created"
}

# assemble NAME FLAGS...: one image into OUT/NAME:TAG (replacing what was there), then the push.
assemble() {
  local name=$1 t0 doc digest size ref pushed
  shift
  t0=$(date +%s%N)
  rm -rf "${out:?}/$name"
  doc=$("$schedkitctl" -o json image assemble --output-layout "$out/$name:$tag" "$@") ||
    die "building $name failed: $(jq -r '.error.message? // .' <<<"$doc" 2>/dev/null || echo "$doc")"
  digest=$(jq -r .digest <<<"$doc")
  size=$(jq -r .size <<<"$doc")
  printf '%s\n' "$doc" >"$work/$name.json"
  ref=oci:$out/$name:$tag
  if [ -n "$registry" ]; then
    ref=$registry/$prefix/$name:$tag
    pushed=$("$schedkitctl" -o json image push "${push_flags[@]}" "$out/$name:$tag" "$ref") ||
      die "pushing $name to $ref failed: $(jq -r '.error.message? // .' <<<"$pushed" 2>/dev/null || echo "$pushed")"
    [ "$(jq -r .digest <<<"$pushed")" = "$digest" ] ||
      die "the registry names $ref $(jq -r .digest <<<"$pushed"), not the built $digest"
  fi
  log "$name: $(jq -r .unpackedSize <<<"$doc") bytes of files, $size compressed," \
    "$(jq '.entries | length' <<<"$doc") entries, in $((($(date +%s%N) - t0) / 1000000)) ms"
  printf '%s %s@%s %s\n' "$name" "$ref" "$digest" "$size"
}

ctl_bin=$(prepare "$schedkitctl")
if wants schedkit-agent; then
  agent_bin=$(prepare "$build/agent/schedkit-agent")
  crun_version=$("$crun" --version | sed -n '1s/^crun version //p')
  mapfile -t labels < <(label_flags schedkit-agent \
    "schedkit node agent: attaches sched_ext schedulers and reports their health; with schedkitctl and crun $crun_version")
  # The agent runs binary schedulers with `crun` from PATH (its --crun default): /usr/bin/crun.
  assemble schedkit-agent "${base_flags[@]}" "${ca_flags[@]}" "${labels[@]}" \
    --binary "$agent_bin:/usr/bin/schedkit-agent" --binary "$ctl_bin:/usr/bin/schedkitctl" \
    --binary "$crun:/usr/bin/crun" --dir /run/schedkit:0700 --dir /var/lib/schedkit:0700 \
    --entrypoint /usr/bin/schedkit-agent --user 0:0 --workdir / --stop-signal SIGTERM
fi
if wants schedkit-operator; then
  operator_bin=$(prepare "$build/operator/schedkit-operator")
  mapfile -t labels < <(label_flags schedkit-operator \
    "schedkit operator: rolls SchedulerPolicies out across nodes and rolls node states up")
  assemble schedkit-operator "${base_flags[@]}" "${ca_flags[@]}" "${labels[@]}" \
    --binary "$operator_bin:/usr/bin/schedkit-operator" \
    --entrypoint /usr/bin/schedkit-operator --user 65532:65532 --workdir / --stop-signal SIGTERM
fi
if wants schedkit-pause; then
  # Compiled in the scratch dir from a copy, so no path of this checkout ends up in the binary.
  cp "$SCHEDKIT_ROOT/hack/images/pause.c" "$work/pause.c"
  (cd "$work" && gcc -static -Os -s -Wall -Wextra -Werror -DPAUSE_VERSION="\"$tag\"" \
    -o pause pause.c) || die "compiling hack/images/pause.c failed"
  mapfile -t labels < <(label_flags schedkit-pause \
    "pod sandbox (pause) process: holds a pod's namespaces, reaps zombies, exits 0 on SIGTERM")
  assemble schedkit-pause "${labels[@]}" --binary "$work/pause:/pause" \
    --entrypoint /pause --user 65535:65535 --stop-signal SIGTERM
fi
