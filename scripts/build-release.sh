#!/usr/bin/env bash
# Release artefacts: stripped release builds of storenode and cloud-bridge
# and their Debian packages, for amd64 (x86 mini-PCs, HQ) and arm64
# (Raspberry Pi 4), into target/debian/.
#
#   scripts/build-release.sh [amd64|arm64|all]      (default: all)
#
# arm64 is cross-compiled with Debian's gcc-aarch64-linux-gnu (the linker
# is set in .cargo/config.toml). Needs: Rust, and on Debian/Ubuntu
#   apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross
# (installed here if missing, like cargo-deb and the Rust target).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tools.sh
which="${1:-all}"
case "$which" in amd64|arm64|all) ;; *) echo "usage: $0 [amd64|arm64|all]" >&2; exit 2;; esac

ensure_cargo_deb
out=target/debian
mkdir -p "$out"

build() { # $1: Debian arch, $2: Rust target or "" for the host
  local arch=$1 target=$2 t=()
  [ -n "$target" ] && t=(--target "$target")
  cargo build --locked --release "${t[@]}" -p storenode -p cloud-bridge
  for p in storenode cloud-bridge; do
    cargo deb --no-build "${t[@]}" -p "$p" -o "$out/"
  done
  local dir=target/${target:+$target/}release
  for b in storenode cloud-bridge; do
    awk -v a="$arch" -v b="$b" -v s="$(stat -c %s "$dir/$b")" -v p="$dir/$b" \
      'BEGIN { printf "%-8s %-13s %6.1f MiB  %s\n", a, b, s / 1048576, p }'
  done
}

if [ "$which" = amd64 ] || [ "$which" = all ]; then
  build amd64 ""
fi
if [ "$which" = arm64 ] || [ "$which" = all ]; then
  if ! command -v aarch64-linux-gnu-gcc >/dev/null || [ ! -e /usr/aarch64-linux-gnu/lib/crt1.o ]; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  fi
  ensure_aarch64_target
  build arm64 aarch64-unknown-linux-gnu
fi
ls -l "$out"/*.deb
