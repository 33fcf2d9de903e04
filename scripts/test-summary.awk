# Summarise the output of `cargo test --no-fail-fast` (scripts/test.sh):
# tests passed, failed and ignored (skipped: counted as not done), the
# names of the failures and ignores, and the test binaries that ended
# without a result (a crash or a harness panic outside any test).
#
#   awk -v title="today's clock" -f scripts/test-summary.awk run.log
# Exits 1 if anything failed or did not finish, else 0.

function flush_binary() {
  if (binary != "" && !finished) {
    unfinished[++n_unfinished] = binary
  }
}

/^ *Running / {
  flush_binary()
  # "Running tests/bopis.rs (target/debug/deps/bopis-…)" or
  # "Running unittests src/lib.rs (target/debug/deps/storenode-…)"
  path = $0
  sub(/.*\(/, "", path); sub(/\).*/, "", path)
  sub(/.*\//, "", path); sub(/-[0-9a-f]+$/, "", path)
  binary = path
  finished = 0
  binaries++
  next
}
/^ *Doc-tests / {
  flush_binary()
  binary = "doc:" $2
  finished = 0
  binaries++
  next
}
/^test .* \.\.\. FAILED$/ {
  name = $2
  failed_names[++n_failed] = binary "::" name
  next
}
/^test .* \.\.\. ignored/ {
  name = $2
  why = $0
  sub(/.*\.\.\. ignored,? ?/, "", why)
  ignored_names[++n_ignored] = binary "::" name (why != "" ? " (" why ")" : "")
  next
}
/^test result: / {
  finished = 1
  for (i = 1; i <= NF; i++) {
    if ($i ~ /^passed/) passed += $(i - 1)
    if ($i ~ /^failed/) failed += $(i - 1)
    if ($i ~ /^ignored/) ignored += $(i - 1)
  }
  next
}
END {
  flush_binary()
  printf "\n== tests on %s: %d passed, %d failed, %d skipped (ignored), %d binaries ==\n", \
    title, passed, failed, ignored, binaries
  if (n_failed) {
    print "failed:"
    for (i = 1; i <= n_failed; i++) print "  " failed_names[i]
  }
  if (n_unfinished) {
    print "ended without a result (crashed, or failed outside a test):"
    for (i = 1; i <= n_unfinished; i++) print "  " unfinished[i]
  }
  if (n_ignored) {
    print "skipped (not done):"
    for (i = 1; i <= n_ignored; i++) print "  " ignored_names[i]
  }
  if (binaries == 0) print "no test binary ran"
  exit (failed > 0 || n_failed > 0 || n_unfinished > 0 || binaries == 0) ? 1 : 0
}
