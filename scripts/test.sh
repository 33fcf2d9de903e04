#!/usr/bin/env bash
# Run storenode's whole test suite on a fresh Debian/Ubuntu machine with Rust.
# Installs the system packages the tests need (only if missing; nothing is
# downloaded by URL: axe-core for the accessibility checks is vendored in
# tests/vendor), then runs formatting and lint checks and every test: unit,
# property, golden-vector, black-box tests against the real binary, broker
# and database, the sync link against a real Mosquitto and cloud-bridge,
# and the staff pages in a real headless Chromium. Then the tests that
# touch time run again with the wall clock 400 days ahead (libfaketime),
# so that no test can depend on today's date.
#
# Every test binary runs even when one fails; the end says what passed,
# failed and was skipped, by name. The logs are in target/test-logs/.
#
#   STORENODE_YEAR_AHEAD=0   skip the year-ahead run (an edit loop; CI runs it)
#   STORENODE_SHIFT=+800d    shift the year-ahead run by another offset
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use. Each entry: "path-or-command:package".
needs=(
  "chromium:chromium"                 # the staff pages' browser tests
  "chromedriver:chromium-driver"      # WebDriver for them (no downloads)
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

# axe-core, vendored (tests/vendor/axe-core/README.md): checked, not fetched.
(cd tests/vendor/axe-core && sha256sum -c --quiet SHA256SUMS)

# Tools: cargo-deb (pinned), the RMQTT cluster broker the cluster tests run
# (pinned), and Rust's aarch64 standard library.
. scripts/tools.sh
ensure_cargo_deb
ensure_rmqtt
ensure_aarch64_target

# One full build of the workspace, not an edit loop: incremental caches
# would only add gigabytes to target/ (set CARGO_INCREMENTAL=1 to keep them).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

logs=target/test-logs
rm -rf "$logs"
mkdir -p "$logs"
failed_steps=()

# A step that must pass for the run to pass; a failure is recorded and the
# run goes on, so one red step does not hide the others.
step() {
  local name="$1"
  shift
  echo "== $name: $*"
  if ! "$@"; then
    echo "== $name FAILED"
    failed_steps+=("$name")
  fi
}

step fmt cargo fmt --all -- --check
step clippy cargo clippy --locked --workspace --all-targets -- -D warnings
if ! cargo build --locked --workspace --bins; then
  echo "== the build failed: no test can run"
  exit 1
fi
# The node cross-compiled for the Raspberry Pi (aarch64, dev profile: 3 min
# here against 5 for the stripped release that scripts/build-release.sh
# makes): tests/tests/aarch64.rs completes orders with it under qemu-user.
# Once per run, before the tests (the test's own build is then a no-op).
step aarch64-build cargo build --locked --target aarch64-unknown-linux-gnu -p storenode --bin storenode

# Every test binary, whatever fails (cargo test alone stops at the first
# failing binary); the summary reads the log.
run_tests() {
  local title="$1" log="$2"
  shift 2
  : >"$log"
  local part
  for part in "$@"; do
    # shellcheck disable=SC2086 # a part is cargo's arguments, split on spaces
    cargo test --locked --no-fail-fast $part 2>&1 | tee -a "$log" || true
  done
  awk -v title="$title" -f scripts/test-summary.awk "$log" | tee "$log.summary"
  return "${PIPESTATUS[0]}"
}

step tests run_tests "today's clock" "$logs/today.log" "--workspace"

# The year-ahead run: the tests that touch time (the fixtures and the
# migration, timers and expiry, staff sessions, certificates, the clock)
# again, each test binary under libfaketime with the wall clock shifted;
# what a test starts (the node, Mosquitto, the bridge, Chromium) inherits
# it. The binaries are the ones the run above built, run directly: cargo
# with another selection of targets resolves other features and rebuilds
# (minutes each), and cargo itself is better off on the real clock. See
# "Tests and time" in docs/reliability.md.
#
# One binary by its target kind and name, with the test name filters:
# run_binary LOG KIND NAME [FILTER...]
run_binary() {
  local log="$1" kind="$2" name="$3"
  shift 3
  local line manifest exe
  line="$(grep '"executable":"' "$logs/binaries.json" | grep "\"kind\":\[\"$kind\"\]" \
    | grep "\"name\":\"$name\"" | head -1)"
  manifest="$(sed -E 's/.*"manifest_path":"([^"]*)".*/\1/' <<<"$line")"
  exe="$(sed -E 's/.*"executable":"([^"]*)".*/\1/' <<<"$line")"
  echo "     Running $kind $name ($exe)" | tee -a "$log"
  if [ -z "$line" ] || [ ! -x "$exe" ]; then
    echo "no test binary for $kind $name" | tee -a "$log"
    return
  fi
  # As cargo runs it: from its package's directory.
  (cd "$(dirname "$manifest")" && "$OLDPWD/scripts/faketime-run" "$exe" "$@") 2>&1 | tee -a "$log" || true
}

if [ "${STORENODE_YEAR_AHEAD:-1}" != 0 ]; then
  export STORENODE_SHIFT="${STORENODE_SHIFT:-+400d}"
  echo "== year-ahead run: the wall clock at $STORENODE_SHIFT ($(FAKETIME="$STORENODE_SHIFT" LD_PRELOAD="$(scripts/faketime-run --library)" date -u))"
  year_ahead() {
    local log="$logs/year-ahead.log"
    : >"$log"
    # The same selection as the run above: nothing is built.
    cargo test --locked --workspace --no-run --message-format=json 2>/dev/null >"$logs/binaries.json"
    run_binary "$log" lib storenode
    run_binary "$log" lib cloud_bridge
    run_binary "$log" lib protocol
    run_binary "$log" lib storenode_tests
    run_binary "$log" test clock
    run_binary "$log" test packaging previous_release
    run_binary "$log" test bopis
    run_binary "$log" test security
    run_binary "$log" test deliveries
    run_binary "$log" test sync tls hq
    # Till receipts' times, HQ's snapshots as of a time, counts.
    run_binary "$log" test stock
    run_binary "$log" test web refusals the_first_manager manager_sees_the_day
    awk -v title="the clock at $STORENODE_SHIFT" -f scripts/test-summary.awk "$log" | tee "$log.summary"
    return "${PIPESTATUS[0]}"
  }
  step year-ahead year_ahead
fi

echo
for s in "$logs"/*.summary; do
  [ -e "$s" ] && cat "$s"
done
if ((${#failed_steps[@]})); then
  echo "RED: ${failed_steps[*]} failed"
  exit 1
fi
echo "GREEN: every step passed"
