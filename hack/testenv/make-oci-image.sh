#!/usr/bin/env bash
# Writes a tiny single-layer OCI image layout (oci-layout, index.json, blobs/sha256/...) for
# registry tests: one gzip layer holding /hello.txt, an image config, a manifest, and an
# index entry tagged TAG. Deterministic for the same CONTENT.
#   hack/testenv/make-oci-image.sh OUTDIR [TAG] [CONTENT]     (TAG defaults to v1)
# Then e.g.: skopeo copy oci:OUTDIR:TAG docker://127.0.0.1:PORT/test/tiny:TAG
set -euo pipefail
source "$(dirname "$0")/lib.sh"

usage() { sed -n '2,6s/^# \{0,1\}//p' "$0"; }
case ${1:-} in
  -h | --help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac
out=$1 tag=${2:-v1} content=${3:-hello from schedkit testenv}
mkdir -p "$out/blobs/sha256"
blobs=$out/blobs/sha256
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# put FILE MEDIATYPE: stores FILE as a blob, prints its descriptor JSON.
put() {
  local d s
  d=$(sha256sum "$1" | cut -d' ' -f1)
  s=$(stat -c %s "$1")
  cp "$1" "$blobs/$d"
  printf '{"mediaType":"%s","digest":"sha256:%s","size":%s}' "$2" "$d" "$s"
}

mkdir -p "$work/root"
printf '%s\n' "$content" >"$work/root/hello.txt"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$work/root" -cf "$work/layer.tar" hello.txt
diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
# Compressed, so clients such as skopeo push it as is and digests survive a copy.
gzip -9n <"$work/layer.tar" >"$work/layer.tar.gz"
layer=$(put "$work/layer.tar.gz" application/vnd.oci.image.layer.v1.tar+gzip)

printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
  "$diff_id" >"$work/config.json"
config=$(put "$work/config.json" application/vnd.oci.image.config.v1+json)

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
  "$config" "$layer" >"$work/manifest.json"
manifest=$(put "$work/manifest.json" application/vnd.oci.image.manifest.v1+json)

# index.json: keep entries for other tags, replace this tag's.
entry=$(jq -c --arg tag "$tag" '. + {annotations: {"org.opencontainers.image.ref.name": $tag}}' <<<"$manifest")
if [ -s "$out/index.json" ]; then
  jq -c --arg tag "$tag" --argjson e "$entry" \
    '.manifests = ([.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] != $tag)] + [$e])' \
    "$out/index.json" >"$work/index.json"
else
  printf '{"schemaVersion":2,"manifests":[%s]}' "$entry" >"$work/index.json"
fi
mv "$work/index.json" "$out/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
jq -r .digest <<<"$manifest"
