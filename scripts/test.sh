#!/usr/bin/env bash
# Run storenode's whole test suite on a fresh Debian/Ubuntu machine with Rust.
# Installs the system packages the tests need (only if missing) and fetches
# axe-core (pinned, checksum-checked) for the accessibility checks, then
# runs formatting and lint checks and every test: unit, property,
# golden-vector, black-box tests against the real binary, broker and
# database, the sync link against a real Mosquitto and cloud-bridge, and
# the staff pages in a real headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use. Each entry: "path-or-command:package".
needs=(
  "chromium:chromium"                 # the staff pages' browser tests
  "chromedriver:chromium-driver"      # WebDriver for them (no downloads)
  "curl:curl"                         # fetches axe-core below
  "/usr/share/zoneinfo/Europe/Berlin:tzdata"  # time zones for the pages
  "/usr/sbin/mosquitto:mosquitto"     # the stand-in cloud broker of the sync tests
  "faketime:faketime"                 # a wall clock the clock tests step (libfaketime)
  "aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu"  # the Raspberry Pi build (linker, C for ring)
  "/usr/aarch64-linux-gnu/lib/crt1.o:libc6-dev-arm64-cross"  # its C library
  "qemu-aarch64-static:qemu-user-static"         # runs that build here (tests/tests/aarch64.rs)
)
missing=()
for n in "${needs[@]}"; do
  what="${n%%:*}"
  if [[ "$what" == /* ]]; then
    [ -e "$what" ] || missing+=("${n##*:}")
  else
    command -v "$what" >/dev/null 2>&1 || missing+=("${n##*:}")
  fi
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
  # The package starts a system-wide broker on port 1883, where the node
  # listens by default. The tests start their own on free ports: stop it.
  if [[ " ${missing[*]} " == *" mosquitto "* ]] && command -v systemctl >/dev/null 2>&1 \
      && systemctl is-active --quiet mosquitto 2>/dev/null; then
    echo "stopping and disabling the system mosquitto service (the tests start their own)"
    $sudo systemctl disable --now mosquitto || true
  fi
fi

# axe-core, from the npm registry, checked against its pinned SHA-256.
AXE_VERSION=4.10.3
AXE_SHA256=0f2b4d7dcdf7d1219df8d1959ad68e565f51d14c3f0d88bb71cd59abeb956292
axe_dir=target/axe
if [ "$(cat "$axe_dir/VERSION" 2>/dev/null)" != "$AXE_VERSION" ] || [ ! -s "$axe_dir/axe.min.js" ]; then
  mkdir -p "$axe_dir"
  tgz="$axe_dir/axe-core-$AXE_VERSION.tgz"
  curl -fsSL -o "$tgz" "https://registry.npmjs.org/axe-core/-/axe-core-$AXE_VERSION.tgz"
  echo "$AXE_SHA256  $tgz" | sha256sum -c --quiet -
  tar -xzf "$tgz" -C "$axe_dir" --strip-components=1 package/axe.min.js
  echo "$AXE_VERSION" > "$axe_dir/VERSION"
  rm -f "$tgz"
fi

# Packaging tools: cargo-deb (pinned) and Rust's aarch64 standard library.
. scripts/tools.sh
ensure_cargo_deb
ensure_aarch64_target

# One full build of the workspace, not an edit loop: incremental caches
# would only add gigabytes to target/ (set CARGO_INCREMENTAL=1 to keep them).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo build --locked --workspace --bins
# The node cross-compiled for the Raspberry Pi (aarch64, dev profile: 3 min
# here against 5 for the stripped release that scripts/build-release.sh
# makes): tests/tests/aarch64.rs completes orders with it under qemu-user.
# Once per run, before the tests (the test's own build is then a no-op).
cargo build --locked --target aarch64-unknown-linux-gnu -p storenode --bin storenode
cargo test --locked --workspace
