#!/usr/bin/env bash
# Builds the scx project's schedulers from crates.io with cargo, pinned and cached by version.
# Prints one line per scheduler, "NAME PATH", on stdout. A second run builds nothing.
#
#   hack/scx.sh                      scx_lavd, scx_bpfland and scx_rusty at $SCHEDKIT_SCX_VERSION
#   hack/scx.sh scx_lavd             only the ones named
#   hack/scx.sh --print-version      the pinned version
#   SCHEDKIT_SCX_VERSION=1.1.3 hack/scx.sh   another release (every one is cached separately)
#
# Cache layout, $SCHEDKIT_CACHE/scx/<version>/:
#   bin/<name>   the stripped binary (needs only libelf, libz and libc at run time)
#   target/      cargo's target dir while building, shared by the three (their dependency
#                trees overlap); removed afterwards
#   build.log    the last cargo run's output
# Cargo's registry and crate sources live in $SCHEDKIT_CACHE/cargo, so a rebuild needs no network.
# Build needs: cargo and rustc >= 1.91 (rustup), clang-19 (BPF), libclang (bindgen), libelf,
# zlib, libzstd and pkg-config: all but the Rust toolchain are installed by hack/deps.sh.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

SCX_VERSION=${SCHEDKIT_SCX_VERSION:-1.1.4}
ALL=(scx_lavd scx_bpfland scx_rusty)
MIN_RUST=1.91

case ${1:-} in
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  --print-version) echo "$SCX_VERSION"; exit 0 ;;
esac
names=("$@"); [ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
for n in "${names[@]}"; do
  [[ $n =~ ^scx_[a-z0-9_]+$ ]] || die "'$n' is not an scx scheduler crate name (scx_lavd, ...)"
done

prefix=$SCHEDKIT_CACHE/scx/$SCX_VERSION
missing_names() { local n; for n in "${names[@]}"; do [ -x "$prefix/bin/$n" ] || echo "$n"; done; }
report() { local n; for n in "${names[@]}"; do echo "$n $prefix/bin/$n"; done; }

mapfile -t todo < <(missing_names)
if [ ${#todo[@]} -eq 0 ]; then report; exit 0; fi

mkdir -p "$prefix/bin"
exec 9>"$prefix/.lock"
flock 9
mapfile -t todo < <(missing_names)  # another run may have built them while we waited
if [ ${#todo[@]} -eq 0 ]; then report; exit 0; fi

export PATH="$HOME/.cargo/bin:$PATH"  # rustup's proxies (hack/deps.sh installs them when missing)
command -v cargo >/dev/null || die "cargo is needed (Rust >= $MIN_RUST, e.g. by rustup) to build ${todo[*]}"
rust=$(rustc --version | awk '{print $2}')
[ "$(printf '%s\n%s\n' "$MIN_RUST" "$rust" | sort -V | head -1)" = "$MIN_RUST" ] ||
  die "scx $SCX_VERSION needs rustc >= $MIN_RUST, this machine has $rust"
LLVM=/usr/lib/llvm-19
[ -x "$LLVM/bin/clang" ] || die "clang-19 is needed to compile the schedulers' BPF; run hack/deps.sh"

# clang for BPF and libclang for bindgen come from LLVM 19; the cargo registry is ours.
export PATH="$LLVM/bin:$PATH" LIBCLANG_PATH=$LLVM/lib CLANG=$LLVM/bin/clang BPF_CLANG=$LLVM/bin/clang
export CARGO_HOME=${SCHEDKIT_CARGO_HOME:-$SCHEDKIT_CACHE/cargo}
export CARGO_TARGET_DIR=$prefix/target CARGO_TERM_COLOR=never CARGO_TERM_PROGRESS_WHEN=never
# A rustup toolchain is found through RUSTUP_HOME, not CARGO_HOME.
export RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}

specs=(); for n in "${todo[@]}"; do specs+=("$n@$SCX_VERSION"); done
stage=$(mktemp -d "$prefix/.install.XXXXXX")
trap 'rm -rf "$stage"' EXIT
log "building ${specs[*]} with cargo $rust (once; about 5 min for all three cold on 2 cores; log in $prefix/build.log)"
start=$SECONDS
if ! cargo install --locked --root "$stage" "${specs[@]}" >"$prefix/build.log" 2>&1; then
  tail -40 "$prefix/build.log" >&2
  die "cargo install ${specs[*]} failed (full log: $prefix/build.log)"
fi
for n in "${todo[@]}"; do
  [ -x "$stage/bin/$n" ] || die "cargo built no $n"
  "$LLVM/bin/llvm-strip" --strip-debug -o "$stage/bin/$n.stripped" "$stage/bin/$n"
  "$stage/bin/$n.stripped" --version >/dev/null 2>&1 || "$stage/bin/$n.stripped" --help >/dev/null 2>&1 ||
    die "the built $n does not run on this machine"
  mv "$stage/bin/$n.stripped" "$prefix/bin/$n"
done
log "built ${todo[*]} in $((SECONDS - start)) s"
# The binaries are the cache; the target dir (1.7 GB) would only speed up another crate's build.
rm -rf "$CARGO_TARGET_DIR"
report
