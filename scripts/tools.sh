# Sourced by scripts/test.sh and scripts/build-release.sh: the packaging
# tools, the test runner and the tests' clustered broker, installed only if
# missing.
CARGO_DEB_VERSION=3.6.0
# cargo-nextest runs the test suite (.config/nextest.toml); any version from
# this one on reads that file.
NEXTEST_MIN_VERSION=0.9.98
# RMQTT, the clustered MQTT broker of tests/tests/suite/rmqtt_cluster.rs, run by
# tests/rmqtt-launcher (storenode-rmqttd): its rmqtt crates are pinned to
# this version (its Cargo.toml and Cargo.lock).
RMQTT_VERSION=0.24.0

ensure_cargo_deb() {
  if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    echo "installing cargo-deb $CARGO_DEB_VERSION"
    cargo install --quiet --locked cargo-deb --version "$CARGO_DEB_VERSION"
  fi
}

ensure_nextest() {
  local have
  have="$(cargo nextest --version 2>/dev/null | sed -n 's/^cargo-nextest \([0-9.]*\).*/\1/p' | head -n 1)"
  if [ -z "$have" ] || [ "$(printf '%s\n%s\n' "$NEXTEST_MIN_VERSION" "$have" | sort -V | head -n 1)" != "$NEXTEST_MIN_VERSION" ]; then
    echo "installing cargo-nextest (found: ${have:-none}; needs $NEXTEST_MIN_VERSION or later)"
    cargo install --quiet --locked cargo-nextest
  fi
}

ensure_aarch64_target() {
  if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    echo "adding Rust's aarch64-unknown-linux-gnu target"
    rustup target add aarch64-unknown-linux-gnu
  fi
}

# storenode-rmqttd (tests/rmqtt-launcher: RMQTT with only the Raft cluster,
# retainer and shared-subscription plugins, plain TCP) into ~/.cargo/bin,
# rebuilt only when its version or RMQTT's changes: about 400 crates, not
# the published rmqttd's 700 (Kafka, Pulsar, NATS bridges...). Its build
# scripts still need protoc (tonic-build, for its gRPC) and a C/C++
# toolchain with make (aws-lc, zstd, lz4, and protobuf built from source by
# rmqtt-raft's proto crate); no cmake, no OpenSSL.
ensure_rmqtt() {
  local dir version
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/rmqtt-launcher" && pwd)"
  version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$dir/Cargo.toml" | head -n 1)"
  if [ "$(storenode-rmqttd --version 2>/dev/null)" = "storenode-rmqttd $version (rmqtt $RMQTT_VERSION)" ]; then
    return 0
  fi
  local missing=()
  command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
  command -v make >/dev/null 2>&1 || missing+=(make)
  command -v g++ >/dev/null 2>&1 || missing+=(g++)
  if ((${#missing[@]})); then
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "installing storenode-rmqttd's build tools: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
  fi
  echo "installing storenode-rmqttd $version (rmqtt $RMQTT_VERSION; about 20 minutes on 2 cores)"
  cargo install --quiet --locked --path "$dir"
}
