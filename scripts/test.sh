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
# The tests run under cargo-nextest (.config/nextest.toml): each in its own
# process, several at once; the aarch64 build runs beside them. Every test
# runs even when one fails; the end lists every failure by name, what was
# skipped, and the wall time of each phase. The logs are in
# target/test-logs/.
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
  "qemu-aarch64-static:qemu-user-static"         # runs that build here (tests/tests/suite/aarch64.rs)
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

# Tools: cargo-deb (pinned), cargo-nextest, the RMQTT cluster broker the
# cluster tests run (pinned), and Rust's aarch64 standard library.
. scripts/tools.sh
ensure_cargo_deb
ensure_nextest
ensure_rmqtt
ensure_aarch64_target

# One full build of the workspace, not an edit loop: incremental caches
# would only add gigabytes to target/ (set CARGO_INCREMENTAL=1 to keep them).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

logs=target/test-logs
rm -rf "$logs"
mkdir -p "$logs"
failed_steps=()
phases=()

# A step that must pass for the run to pass; a failure is recorded and the
# run goes on, so one red step does not hide the others. Its wall time goes
# into the summary at the end.
step() {
  local name="$1" t0=$SECONDS c0
  cpu_s
  c0=$CPU_S
  shift
  echo "== $name: $*"
  if ! "$@"; then
    echo "== $name FAILED"
    failed_steps+=("$name")
  fi
  cpu_s
  phases+=("$(printf '%-13s %5d s  %6d s' "$name" $((SECONDS - t0)) $((CPU_S - c0)))")
}
# CPU seconds (user + system) of everything this script has waited for,
# into CPU_S: what each phase cost the machine, beside its wall time. The
# `times` builtin runs in this shell (a command substitution would read a
# fresh subshell's zero).
cpu_s() {
  times >"$logs/.times"
  CPU_S="$(awk 'NR == 2 { n = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); n += a[1] * 60 + a[2] } printf "%d", n }' "$logs/.times")"
}
cpu_s
phases+=("$(printf '%-13s %5d s  %6d s' setup "$SECONDS" "$CPU_S")")

step fmt cargo fmt --all -- --check
step clippy cargo clippy --locked --workspace --all-targets -- -D warnings
build() {
  cargo build --locked --workspace --bins && cargo nextest run --locked --workspace --no-run
}
step build build
if [[ " ${failed_steps[*]} " == *" build "* ]]; then
  echo "== the build failed: no test can run"
  exit 1
fi

# The node cross-compiled for the Raspberry Pi (aarch64, dev profile), in
# its own target directory, in the background while the x86 tests run:
# their test of it (suite aarch64::) waits for this build, then runs it
# under qemu-user. Its log: target/test-logs/aarch64-build.log.
export STORENODE_AARCH64_TARGET_DIR="$PWD/target/aarch64"
aarch64_t0=$SECONDS
CARGO_TARGET_DIR="$STORENODE_AARCH64_TARGET_DIR" \
  cargo build --quiet --locked --target aarch64-unknown-linux-gnu -p storenode --bin storenode \
  >"$logs/aarch64-build.log" 2>&1 &
aarch64_pid=$!

# The binaries the black-box tests start, built above (else each test
# process would ask cargo again).
export STORENODE_BIN="$PWD/target/debug/storenode" CLOUD_BRIDGE_BIN="$PWD/target/debug/cloud-bridge"

# Every test (unit, property, golden, black-box, browser) with
# cargo-nextest: each test in its own process, several at once, every
# failure listed (.config/nextest.toml).
summary() {
  local title="$1" log="$2" filtered="${3:-}"
  {
    echo
    echo "== tests on $title:"
    # nextest counts the tests a filter left out as skipped: say so.
    grep -E '^ *Summary \[' "$log" | tail -1 \
      | if [ -n "$filtered" ]; then sed -E 's/([0-9]+) skipped/\1 not in this run (filtered)/'; else cat; fi
    sed -n '/^ *Summary \[/,$p' "$log" | grep -E '^ *(FAIL|SIGSEGV|SIGABRT|SIGKILL|TIMEOUT|LEAK|ABORT)' || true
  } | tee "$log.summary"
}
tests() {
  local rc=0
  cargo nextest run --locked --workspace 2>&1 | tee "$logs/today.log" || rc=$?
  # Every test's time; kept here, since the year-ahead run writes the
  # same nextest file again.
  cp target/nextest/default/junit.xml "$logs/today.junit.xml" 2>/dev/null || true
  summary "today's clock" "$logs/today.log"
  local ignored
  ignored="$(cargo nextest list --locked --workspace --run-ignored ignored-only 2>/dev/null | grep -v '^ *$' || true)"
  if [ -n "$ignored" ]; then
    echo "skipped (ignored, counted as not done):" | tee -a "$logs/today.log.summary"
    echo "$ignored" | sed 's/^/  /' | tee -a "$logs/today.log.summary"
    rc=1
  fi
  return $rc
}
step tests tests

aarch64_build() {
  wait "$aarch64_pid" || { cat "$logs/aarch64-build.log"; return 1; }
  echo "(the background build, started $((SECONDS - aarch64_t0)) s ago beside the tests, is done)"
}
step aarch64-build aarch64_build

# The year-ahead run: the tests that touch time (the fixtures and the
# migration, timers and expiry, staff sessions, certificates, the clock,
# till receipts' times, HQ's snapshots as of a time, counts) again, each
# test process under libfaketime with the wall clock shifted (cargo's
# target runner, which nextest honours: nextest and cargo stay on the real
# clock); what a test starts (the node, Mosquitto, the bridge, Chromium)
# inherits it. Nothing is built. See "Tests and time" in
# docs/reliability.md.
year_ahead_filter='kind(lib)
  | test(/^(clock|bopis|security|deliveries|stock)::/)
  | test(/^packaging::previous_release/)
  | test(/^sync::.*(tls|hq)/)
  | test(/^web::(refusals|the_first_manager|manager_sees_the_day)/)'
if [ "${STORENODE_YEAR_AHEAD:-1}" != 0 ]; then
  export STORENODE_SHIFT="${STORENODE_SHIFT:-+400d}"
  echo "== year-ahead run: the wall clock at $STORENODE_SHIFT ($(FAKETIME="$STORENODE_SHIFT" LD_PRELOAD="$(scripts/faketime-run --library)" date -u))"
  year_ahead() {
    local rc=0
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="$PWD/scripts/faketime-run" \
      cargo nextest run --locked --workspace -E "$year_ahead_filter" 2>&1 \
      | tee "$logs/year-ahead.log" || rc=$?
    cp target/nextest/default/junit.xml "$logs/year-ahead.junit.xml" 2>/dev/null || true
    summary "the clock at $STORENODE_SHIFT" "$logs/year-ahead.log" filtered
    return $rc
  }
  step year-ahead year_ahead
fi

echo
for s in "$logs"/*.summary; do
  [ -e "$s" ] && cat "$s"
done
echo
echo "== by phase: wall time, CPU time (the aarch64 build ran beside the tests;"
echo "   its CPU counts in the phase it ended in)"
printf '  %s\n' "${phases[@]}"
cpu_s
printf '  %-13s %5d s  %6d s\n' total "$SECONDS" "$CPU_S"
if ((${#failed_steps[@]})); then
  echo "RED: ${failed_steps[*]} failed"
  exit 1
fi
echo "GREEN: every step passed"
