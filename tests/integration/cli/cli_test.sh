#!/usr/bin/env bash
# schedkitctl against the real docker-registry (hack/testenv/registry-up.sh), skopeo and cosign,
# as a user would run them.
#   cli_test.sh roundtrip|multiarch|cosign
# Environment (set by ctest, tests/integration/cli/CMakeLists.txt):
#   SCHEDKITCTL              the binary under test
#   SCHEDKIT_CLI_REGISTRY    a registry-up.sh DIR (its env file says host, TLS, credentials)
#   SCHEDKIT_CLI_WORK        scratch directory for this test (emptied first)
#   SCHEDKIT_CLI_BPF_OBJECT  a sched_ext BPF object (the fifo test scheduler); optional
#   SCHEDKIT_CACHE           where hack/cosign.sh keeps cosign (cosign case)
set -euo pipefail

root=$(cd "$(dirname "$0")/../../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
[ $# -eq 1 ] || fail "usage: $0 roundtrip|multiarch|cosign"
for v in SCHEDKITCTL SCHEDKIT_CLI_REGISTRY SCHEDKIT_CLI_WORK; do
  [ -n "${!v:-}" ] || fail "$v is not set (run through ctest)"
done
[ -f "$SCHEDKIT_CLI_REGISTRY/env" ] || fail "no registry env in $SCHEDKIT_CLI_REGISTRY"
# shellcheck disable=SC1091
. "$SCHEDKIT_CLI_REGISTRY/env"
command -v skopeo >/dev/null || fail "skopeo is needed (hack/deps.sh installs it)"
command -v jq >/dev/null || fail "jq is needed"

work=$SCHEDKIT_CLI_WORK/$1
rm -rf "$work"
mkdir -p "$work"
cd "$work"
host=$REGISTRY_HOST

# Flags for schedkitctl and skopeo that fit the registry's mode.
sk_reg=() sko_src=() sko_dst=() sko=()
if [ "$REGISTRY_TLS" = 1 ]; then
  sk_reg+=(--ca "$REGISTRY_CA")
  sko_src+=(--src-cert-dir "$REGISTRY_CERT_DIR") sko_dst+=(--dest-cert-dir "$REGISTRY_CERT_DIR")
  sko+=(--cert-dir "$REGISTRY_CERT_DIR")
else
  sko_src+=(--src-tls-verify=false) sko_dst+=(--dest-tls-verify=false) sko+=(--tls-verify=false)
fi
if [ -n "$REGISTRY_AUTHFILE" ]; then
  sk_reg+=(--docker-config "$REGISTRY_AUTHFILE")
  sko_src+=(--src-authfile "$REGISTRY_AUTHFILE") sko_dst+=(--dest-authfile "$REGISTRY_AUTHFILE")
  sko+=(--authfile "$REGISTRY_AUTHFILE")
fi
skctl() { "$SCHEDKITCTL" "$@"; }
skj() { "$SCHEDKITCTL" --output json "$@"; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; ok "$3 = $2"; }

# The scheduler files: the real fifo object when the build has BPF, and a loader "binary".
bpf_object=${SCHEDKIT_CLI_BPF_OBJECT:-}
printf '#!/bin/sh\nexec sleep 1000\n' >scx_test
chmod +x scx_test

roundtrip() {
  local out digest repo=$host/testsched/fifo path_flag=()
  if [ -n "$bpf_object" ]; then
    out=$(skj image build --type bpf-object --file "$bpf_object" --path /fifo.bpf.o --name fifo \
      --version 1 --kernel-min 6.12 --arg=--slice-us=5000 --label org.example.team=kernel \
      --output-layout fifo:1)
    expect_eq "$(jq -r .objectOpsName <<<"$out")" fifo_test "ops name read from the object"
  else
    out=$(skj image build --type binary --file scx_test --name fifo --version 1 --kernel-min 6.12 \
      --arg=--slice-us=5000 --label org.example.team=kernel --output-layout fifo:1)
  fi
  digest=$(jq -r .digest <<<"$out")
  local type
  type=$(jq -r .artifact.type <<<"$out")

  # Same inputs, same digest.
  local again
  [ -z "$bpf_object" ] || path_flag=(--path=/fifo.bpf.o)
  again=$(skj image build "--type=$type" --file "${bpf_object:-scx_test}" "${path_flag[@]}" \
    --name fifo --version 1 --kernel-min 6.12 --arg=--slice-us=5000 \
    --label org.example.team=kernel --output-layout again:1 | jq -r .digest)
  expect_eq "$again" "$digest" "rebuilt digest"

  # Push, then push again: every blob is there already.
  out=$(skj image push fifo:1 "$repo:1" "${sk_reg[@]}")
  expect_eq "$(jq -r .digest <<<"$out")" "$digest" "pushed digest"
  expect_eq "$(jq -r .pinnedReference <<<"$out")" "$repo@$digest" "pinned reference"
  expect_eq "$(jq -r .blobs.pushed <<<"$out")" 2 "blobs pushed"
  out=$(skj image push fifo:1 "$repo:1" "${sk_reg[@]}")
  expect_eq "$(jq -r .blobs.skipped <<<"$out")" 2 "blobs skipped on the second push"
  expect_eq "$(skctl image push fifo:1 "$repo:latest" "${sk_reg[@]}" | tail -1)" "$repo@$digest" \
    "text output's last line"

  # skopeo sees the labels and the digest.
  out=$(skopeo inspect "${sko[@]}" "docker://$repo:1")
  expect_eq "$(jq -r .Digest <<<"$out")" "$digest" "skopeo inspect digest"
  expect_eq "$(jq -r '.Labels["io.schedkit.scheduler.type"]' <<<"$out")" "$type" "skopeo: type label"
  expect_eq "$(jq -r '.Labels["io.schedkit.scheduler.name"]' <<<"$out")" fifo "skopeo: name label"
  expect_eq "$(jq -r '.Labels["io.schedkit.kernel.min"]' <<<"$out")" 6.12 "skopeo: kernel.min label"
  expect_eq "$(jq -c '.Labels["io.schedkit.scheduler.args"]' <<<"$out")" '"[\"--slice-us=5000\"]"' \
    "skopeo: args label"
  expect_eq "$(jq -r '.Labels["org.example.team"]' <<<"$out")" kernel "skopeo: extra label"

  # skopeo copies it to a layout; schedkitctl pulls what skopeo wrote.
  skopeo copy --quiet "${sko_src[@]}" "docker://$repo:1" "oci:$work/skopeo:copied" ||
    fail "skopeo copy to an oci: layout"
  out=$(skj image pull "oci:$work/skopeo:copied" --cache cache)
  expect_eq "$(jq -r .digest <<<"$out")" "$digest" "digest of skopeo's copy"
  local host_path
  host_path=$(jq -r .artifact.hostPath <<<"$out")
  cmp -s "$host_path" "${bpf_object:-scx_test}" || fail "the unpacked scheduler differs from the input"
  ok "unpacked scheduler is byte-identical to the input"
  expect_eq "$(jq -c .artifact.args <<<"$out")" '["--slice-us=5000"]' "artifact args"

  # And from the registry, into the same cache: one root per manifest.
  out=$(skj image pull "$repo:1" --cache cache --policy Always "${sk_reg[@]}")
  expect_eq "$(jq -r .pinnedReference <<<"$out")" "$repo@$digest" "pulled pinned reference"
  expect_eq "$(jq -r .artifact.hostPath <<<"$out")" "$host_path" "same unpacked root"
  out=$(skj image pull "$repo@$digest" --cache cache --policy Never)
  expect_eq "$(jq -r .fromCache <<<"$out")" true "digest pull from the cache, policy Never"

  # inspect, JSON and text.
  out=$(skj image inspect "$repo:1" "${sk_reg[@]}")
  expect_eq "$(jq -r .artifact.opsName <<<"$out")" fifo "inspect: ops name"
  expect_eq "$(jq -r .artifact.kernelMin <<<"$out")" 6.12 "inspect: kernel min"
  expect_eq "$(jq -r .signature.status <<<"$out")" unchecked "inspect: signature"
  skctl image inspect "$repo:1" "${sk_reg[@]}" | grep "^The agent would run:" >/dev/null ||
    fail "inspect text has no 'The agent would run:'"
  ok "inspect text"

  # Artifact style: annotations on the manifest, the empty config.
  out=$(skj image build --type binary --file scx_test --name lavd --annotations \
    --output-layout art:1)
  digest=$(jq -r .digest <<<"$out")
  skj image push art:1 "$host/testsched/artifact:1" "${sk_reg[@]}" >/dev/null
  out=$(skopeo inspect --raw "${sko[@]}" "docker://$host/testsched/artifact:1")
  expect_eq "$(jq -r '.annotations["io.schedkit.scheduler.type"]' <<<"$out")" binary \
    "skopeo --raw: type annotation"
  expect_eq "$(jq -r .config.mediaType <<<"$out")" application/vnd.oci.empty.v1+json "empty config"
  out=$(skj image pull "$host/testsched/artifact:1" --cache cache "${sk_reg[@]}")
  expect_eq "$(jq -r .digest <<<"$out")" "$digest" "artifact-style image pulled"
  [ -x "$(jq -r .artifact.hostPath <<<"$out")" ] || fail "the binary is not executable in the root"
  ok "binary executable in the unpacked root"

  if [ -n "$REGISTRY_AUTHFILE" ]; then
    # Without credentials: refused. With --username/--password-stdin: fine.
    if env -u DOCKER_CONFIG HOME="$work" "$SCHEDKITCTL" image push fifo:1 "$repo:anon" \
      --ca "$REGISTRY_CA" 2>err.txt; then
      fail "an anonymous push was accepted"
    fi
    grep -q "401" err.txt || fail "anonymous push failed without a 401: $(cat err.txt)"
    ok "anonymous push refused (401)"
    printf '%s\n' "$REGISTRY_PASS" |
      skj image push fifo:1 "$repo:stdin" --ca "$REGISTRY_CA" -u "$REGISTRY_USER" --password-stdin \
        >/dev/null || fail "push with --password-stdin"
    ok "push with --username/--password-stdin"
  fi
}

multiarch() {
  local out idx repo=$host/testsched/multi
  printf '#!/bin/sh\n# arm64\nexec sleep 1000\n' >scx_arm
  chmod +x scx_arm
  skj image build --type binary --file scx_test --path /usr/bin/scx_test --name test \
    --platform linux/amd64 --add-to-index --output-layout multi:1 >/dev/null
  out=$(skj image build --type binary --file scx_arm --path /usr/bin/scx_test --name test \
    --platform linux/arm64/v8 --add-to-index --output-layout multi:1)
  idx=$(jq -r .digest <<<"$out")
  expect_eq "$(jq -r .mediaType <<<"$out")" application/vnd.oci.image.index.v1+json "built an index"
  out=$(skj image push multi:1 "$repo:1" "${sk_reg[@]}")
  expect_eq "$(jq -r .digest <<<"$out")" "$idx" "pushed index digest"
  expect_eq "$(jq -r '.platforms | length' <<<"$out")" 2 "platforms pushed"
  out=$(skopeo inspect --raw "${sko[@]}" "docker://$repo:1")
  expect_eq "$(jq -r '[.manifests[].platform.architecture] | join(",")' <<<"$out")" amd64,arm64 \
    "skopeo sees both platforms"
  out=$(skj image inspect "$repo:1" "${sk_reg[@]}")
  expect_eq "$(jq -r '[.platforms[] | .os + "/" + .architecture + (if .variant then "/" + .variant else "" end)] | join(",")' <<<"$out")" \
    linux/amd64,linux/arm64/v8 "inspect lists the platforms"
  expect_eq "$(jq -r .platform.architecture <<<"$out")" amd64 "this host's platform picked"
  expect_eq "$(jq -r .manifest.digest <<<"$out")" "$(jq -r '.platforms[0].digest' <<<"$out")" \
    "its manifest"
  out=$(skj image inspect "$repo:1" --platform linux/arm64 "${sk_reg[@]}")
  expect_eq "$(jq -r .manifest.digest <<<"$out")" "$(jq -r '.platforms[1].digest' <<<"$out")" \
    "--platform linux/arm64 picks the arm64 manifest"
  skctl image inspect "$repo:1" "${sk_reg[@]}" | grep "linux/arm64/v8" >/dev/null ||
    fail "inspect text lists no linux/arm64/v8"
  # An index skopeo copied (--all) into a layout inspects and pulls the same.
  skopeo copy --quiet --all "${sko_src[@]}" "docker://$repo:1" "oci:$work/all:1" ||
    fail "skopeo copy --all"
  out=$(skj image inspect "oci:$work/all:1")
  expect_eq "$(jq -r .digest <<<"$out")" "$idx" "skopeo's layout keeps the index digest"
  out=$(skj image pull "oci:$work/all:1" --platform linux/arm64 --cache cache)
  grep -q "# arm64" "$(jq -r .artifact.hostPath <<<"$out")" || fail "pulled the wrong platform"
  ok "pulled the arm64 file from skopeo's layout"
  # No such platform: a clear error naming the ones there are.
  if skctl image inspect "$repo:1" --platform linux/s390x "${sk_reg[@]}" 2>err.txt; then
    fail "inspect for a missing platform succeeded"
  fi
  grep -q "it has: linux/amd64, linux/arm64/v8" err.txt || fail "unexpected error: $(cat err.txt)"
  ok "missing platform named"
}

cosign_case() {
  local cos out digest other repo=$host/testsched/signed
  cos=$("$root/hack/cosign.sh") || fail "hack/cosign.sh"
  for k in k1 k2; do
    (mkdir -p $k && cd $k && COSIGN_PASSWORD='' "$cos" generate-key-pair >/dev/null 2>&1) ||
      fail "cosign generate-key-pair"
  done
  digest=$(skj image build --type binary --file scx_test --name fifo --version 1 \
    --output-layout img:1 | jq -r .digest)
  skj image push img:1 "$repo:1" >/dev/null
  COSIGN_PASSWORD='' "$cos" sign --key k1/cosign.key --allow-http-registry --tlog-upload=false \
    --yes "$repo@$digest" >cosign.log 2>&1 || fail "cosign sign: $(cat cosign.log)"
  ok "cosign signed $repo@$digest"

  out=$(skj image pull "$repo:1" --cache cache --verify-key k1/cosign.pub --policy Always)
  expect_eq "$(jq -r .signatureVerified <<<"$out")" true "pull --verify-key with the signing key"
  out=$(skj image inspect "$repo:1" --verify-key k1/cosign.pub)
  expect_eq "$(jq -r .signature.status <<<"$out")" verified "inspect --verify-key"

  # Another key: inspect says why and exits 1; pull refuses.
  set +e
  out=$(skj image inspect "$repo:1" --verify-key k2/cosign.pub)
  rc=$?
  set -e
  expect_eq "$rc" 1 "inspect exit status with another key"
  expect_eq "$(jq -r .signature.status <<<"$out")" failed "inspect signature status, other key"
  jq -r .signature.error <<<"$out" | grep -q "does not verify with the given key" ||
    fail "unexpected reason: $(jq -r .signature.error <<<"$out")"
  ! skctl image pull "$repo:1" --cache cache2 --verify-key k2/cosign.pub --policy Always 2>/dev/null ||
    fail "pull accepted another key"
  ok "pull refuses another key"

  # Tampered signature: one character of the signature annotation changed, pushed over the real
  # signature manifest.
  local sigtag="sha256-${digest#sha256:}.sig" raw
  raw=$(skopeo inspect --raw --tls-verify=false "docker://$repo:$sigtag")
  jq -c '.layers[0].annotations["dev.cosignproject.cosign/signature"] |= (.[0:20] + (if .[20:21] == "A" then "B" else "A" end) + .[21:])' \
    <<<"$raw" >tampered.json
  curl -fsS -X PUT -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
    --data-binary @tampered.json "http://$host/v2/testsched/signed/manifests/$sigtag" >/dev/null ||
    fail "pushing the tampered signature"
  if skctl image pull "$repo:1" --cache cache3 --verify-key k1/cosign.pub --policy Always \
    2>err.txt; then
    fail "a tampered signature verified"
  fi
  grep -q "does not verify" err.txt || fail "unexpected error: $(cat err.txt)"
  ok "tampered signature refused: $(grep -o 'signature verification failed.*' err.txt | head -c 120)"
  # cosign agrees.
  ! "$cos" verify --key k1/cosign.pub --allow-http-registry --insecure-ignore-tlog=true \
    "$repo@$digest" >/dev/null 2>&1 || fail "cosign accepted the tampered signature"
  ok "cosign refuses it too"

  # Tampered image: other content pushed under the signed tag; the signature does not cover it.
  printf '#!/bin/sh\n# evil\n' >scx_evil
  chmod +x scx_evil
  other=$(skj image build --type binary --file scx_evil --path /usr/bin/scx_test --name fifo \
    --version 1 --output-layout evil:1 | jq -r .digest)
  skj image push evil:1 "$repo:1" >/dev/null
  set +e
  out=$(skj image pull "$repo:1" --cache cache4 --verify-key k1/cosign.pub --policy Always)
  rc=$?
  set -e
  expect_eq "$rc" 1 "pull of a replaced image exit status"
  jq -r .error.message <<<"$out" | grep -q "the image is not signed" ||
    fail "unexpected error for the replaced image: $out"
  ok "replaced image ($other) refused: not signed"
}

case $1 in
  roundtrip) roundtrip ;;
  multiarch) multiarch ;;
  cosign) cosign_case ;;
  *) fail "unknown case $1" ;;
esac
echo "PASS: $1"
