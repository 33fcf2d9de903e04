#!/usr/bin/env bash
# Run storenode's whole test suite on a fresh Debian/Ubuntu machine with Rust.
# Installs the system packages the tests need (only if missing), then runs
# formatting and lint checks and every test: unit, property, golden-vector
# and black-box tests against the real binary, broker and database.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use. Each entry: "command-to-check:package".
needs=(
  # (none yet: the foundation tests start only storenode itself; the cloud
  # sync and staff-page tests add mosquitto and chromium/chromium-driver here)
)
missing=()
for n in "${needs[@]+"${needs[@]}"}"; do
  command -v "${n%%:*}" >/dev/null 2>&1 || missing+=("${n##*:}")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo build --locked --workspace --bins
cargo test --locked --workspace
