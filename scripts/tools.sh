# Sourced by scripts/test.sh and scripts/build-release.sh: the packaging
# tools, installed only if missing.
CARGO_DEB_VERSION=3.6.0

ensure_cargo_deb() {
  if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    echo "installing cargo-deb $CARGO_DEB_VERSION"
    cargo install --quiet --locked cargo-deb --version "$CARGO_DEB_VERSION"
  fi
}

ensure_aarch64_target() {
  if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    echo "adding Rust's aarch64-unknown-linux-gnu target"
    rustup target add aarch64-unknown-linux-gnu
  fi
}
