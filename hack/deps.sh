#!/usr/bin/env bash
# Installs every build and test dependency of schedkit on Debian 12 (bookworm).
# Idempotent: a second run checks what is there and prints nothing unless it has work to do.
#   hack/deps.sh            build + unit-test dependencies, plus the tools for every test tier
#   SCHEDKIT_DEPS=build     only what building and unit tests need
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
# bpftool lives in /usr/sbin, which a non-login root shell may not have on PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

BUILD_PKGS=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  clang-19 lld-19 llvm-19 libclang-rt-19-dev clang-format
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libcpprest-dev libyaml-cpp-dev libarchive-dev libssl-dev nlohmann-json3-dev
  libcli11-dev libspdlog-dev libfmt-dev googletest libgtest-dev libgmock-dev
  libelf-dev zlib1g-dev libzstd-dev civetweb libcivetweb-dev
)
BACKPORT_PKGS=(libbpf-dev bpftool)
TEST_PKGS=(
  qemu-system-x86 busybox-static cpio zstd xz-utils kmod crun
  docker-registry skopeo apache2-utils openssl iproute2 jq prometheus python3-yaml
)

pkgs=("${BUILD_PKGS[@]}")
[ "${SCHEDKIT_DEPS:-all}" = build ] || pkgs+=("${TEST_PKGS[@]}")

missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

ensure_backports() {
  local f=/etc/apt/sources.list.d/bookworm-backports.sources
  grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
  log "adding bookworm-backports (libbpf 1.4, bpftool 7.5)"
  as_root tee "$f" >/dev/null <<SRC
Types: deb
URIs: $DEBIAN_MIRROR
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  APT_UPDATED=
}

libbpf_ok() {
  # bookworm's libbpf 1.1 lacks what .struct_ops.link needs; require the 1.4 backport.
  local v
  v=$(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null || true)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 1:1.4 || return 1
  # Captured first: `bpftool | grep -q` under pipefail fails whenever grep exits before bpftool.
  local b
  b=$(bpftool version 2>/dev/null) || return 1
  [[ $b =~ bpftool\ v7\.([5-9]|[1-9][0-9]) ]]
}

install_debian() {
  local need
  mapfile -t need < <(missing "${pkgs[@]}")
  ensure_backports
  if [ ${#need[@]} -eq 0 ] && libbpf_ok; then return 0; fi
  log "installing from Debian: ${need[*]} ${BACKPORT_PKGS[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  if [ ${#need[@]} -gt 0 ]; then
    as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  libbpf_ok || as_root apt-get install -y -qq --no-install-recommends -t bookworm-backports \
    "${BACKPORT_PKGS[@]}" >/dev/null
  libbpf_ok || die "libbpf-dev >= 1.4 and bpftool >= 7.5 from bookworm-backports are required"
}

# prometheus-cpp is not packaged for bookworm: build Debian's upstream tarball into a cached prefix.
PROM_VERSION=1.0.2
PROM_PREFIX=$SCHEDKIT_CACHE/prometheus-cpp-$PROM_VERSION
install_prometheus_cpp() {
  [ -f "$PROM_PREFIX/.done" ] && return 0
  log "building prometheus-cpp $PROM_VERSION into $PROM_PREFIX"
  local src=$SCHEDKIT_CACHE/src; mkdir -p "$src"
  local tarball=$src/prometheus-cpp_$PROM_VERSION.orig.tar.gz
  if [ ! -s "$tarball" ]; then
    # The pool path is stable for a given version; fall back to apt's source lookup.
    curl -fsSL -o "$tarball.tmp" "$DEBIAN_MIRROR/pool/main/p/prometheus-cpp/prometheus-cpp_$PROM_VERSION.orig.tar.gz" ||
      (cd "$src" && foreign_apt trixie-src "deb-src $DEBIAN_MIRROR trixie main" -- \
        source --download-only -qq "prometheus-cpp=$PROM_VERSION" >/dev/null 2>&1 &&
        mv "prometheus-cpp_$PROM_VERSION.orig.tar.gz" "$tarball.tmp") ||
      die "could not download prometheus-cpp $PROM_VERSION source"
    mv "$tarball.tmp" "$tarball"
  fi
  local work; work=$(mktemp -d)
  tar -xzf "$tarball" -C "$work"
  cmake -S "$work"/prometheus-cpp-* -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$PROM_PREFIX" -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DENABLE_PUSH=OFF -DENABLE_COMPRESSION=OFF -DENABLE_TESTING=OFF -DUSE_THIRDPARTY_LIBRARIES=OFF \
    >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; die "prometheus-cpp configure failed"; }
  cmake --build "$work/build" >"$work/build.log" 2>&1 || { tail -50 "$work/build.log"; die "prometheus-cpp build failed"; }
  cmake --install "$work/build" >/dev/null
  touch "$PROM_PREFIX/.done"
  rm -rf "$work"
}

# etcd >= 3.5.11 for a current kube-apiserver: Debian trixie's etcd-server, extracted, never installed.
ETCD_SERIES=${ETCD_SERIES:-3.5}
install_etcd() {
  local have
  have=$(ls -d "$SCHEDKIT_CACHE"/etcd-"$ETCD_SERIES".*/bin/etcd 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$have" ] && return 0
  log "fetching etcd-server $ETCD_SERIES from Debian trixie"
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && foreign_apt trixie "deb $DEBIAN_MIRROR trixie main" -- download -qq etcd-server >/dev/null) ||
    die "could not download etcd-server from trixie"
  local deb; deb=$(ls "$tmp"/etcd-server_*.deb)
  local ver; ver=$(dpkg-deb -f "$deb" Version | sed 's/-.*//; s/^[0-9]*://')
  case $ver in "$ETCD_SERIES".*) ;; *) die "trixie offers etcd $ver, wanted $ETCD_SERIES.x" ;; esac
  dpkg-deb -x "$deb" "$tmp/x"
  mkdir -p "$SCHEDKIT_CACHE/etcd-$ver/bin"
  cp "$tmp"/x/usr/bin/etcd* "$SCHEDKIT_CACHE/etcd-$ver/bin/"
  rm -rf "$tmp"
}

# Rust for building the scx schedulers (hack/scx.sh, the vm tier): scx 1.1 needs rustc >= 1.91,
# newer than any Debian rustc reachable here, so rustup's stable toolchain; a machine that already
# has one (rustup) keeps it. The C side of their build (clang-19 for BPF, libclang for bindgen,
# libelf, zlib, libzstd, pkg-config) is in BUILD_PKGS.
RUST_MIN=1.91 RUST_TOOLCHAIN=${SCHEDKIT_RUST_TOOLCHAIN:-1.95.0}
rust_ok() {
  local v
  v=$(rustc --version 2>/dev/null | awk '{print $2}') && [ -n "$v" ] && command -v cargo >/dev/null &&
    [ "$(printf '%s\n%s\n' "$RUST_MIN" "$v" | sort -V | head -1)" = "$RUST_MIN" ]
}
install_rust() {
  export PATH="$HOME/.cargo/bin:$PATH"
  rust_ok && return 0
  log "installing Rust $RUST_TOOLCHAIN with rustup (scx schedulers need rustc >= $RUST_MIN)"
  local dir=$SCHEDKIT_CACHE/rustup-init url=https://static.rust-lang.org/rustup/dist/x86_64-unknown-linux-gnu/rustup-init
  mkdir -p "$dir"
  if [ ! -x "$dir/rustup-init" ]; then
    curl -fsSL -o "$dir/rustup-init.tmp" "$url" && curl -fsSL -o "$dir/rustup-init.sha256" "$url.sha256" ||
      die "could not download rustup-init from $url"
    [ "$(sha256sum <"$dir/rustup-init.tmp" | cut -d' ' -f1)" = "$(cut -d' ' -f1 <"$dir/rustup-init.sha256")" ] ||
      die "rustup-init checksum mismatch"
    chmod +x "$dir/rustup-init.tmp" && mv "$dir/rustup-init.tmp" "$dir/rustup-init"
  fi
  "$dir/rustup-init" -y -q --no-modify-path --profile minimal --default-toolchain "$RUST_TOOLCHAIN" >/dev/null ||
    die "rustup-init failed"
  rust_ok || die "Rust >= $RUST_MIN is still not on PATH after rustup-init"
}

install_debian
install_prometheus_cpp
if [ "${SCHEDKIT_DEPS:-all}" != build ]; then
  install_etcd
  install_rust
fi
