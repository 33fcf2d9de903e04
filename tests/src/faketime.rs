//! Tests and time: a wall clock the test controls, with libfaketime
//! (Debian's `faketime`, installed by `scripts/test.sh`) preloaded into
//! the real binary.
//!
//! No test may depend on today's date. A test that needs a date either
//! pins the node's wall clock ([`pinned_at`], e.g. to the day a fixture
//! was made) or moves it relative to the test's own clock
//! ([`FakeClock`]). Under both, the node's monotonic clock stays real
//! (`DONT_FAKE_MONOTONIC`): the node tells a step of the wall clock by
//! comparing the two.
//!
//! `scripts/test.sh` runs the tests that touch time a second time with
//! the whole test process shifted ([`process_shift_s`], `FAKETIME=+400d`
//! through `scripts/faketime-run`, both clocks by the same offset), so
//! that a date that passes today and fails next year is caught. The
//! children inherit that shift; a test that sets its own clock composes
//! with it ([`FakeClock`]) or pins an absolute time ([`pinned_at`]).
use std::path::{Path, PathBuf};

/// libfaketime, where Debian puts it for this machine's architecture.
pub fn library() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists());
    found.expect("libfaketime not found: scripts/test.sh installs the faketime package")
}

/// Seconds in a libfaketime relative offset: `[+-]N[smhdy]` (`+400d`,
/// `-73h`, `+0`); `None` for anything else (an absolute time).
pub fn offset_s(text: &str) -> Option<i64> {
    let text = text.trim();
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (number, unit) = match rest.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&rest[..i], c),
        _ => (rest, 's'),
    };
    let n: f64 = number.parse().ok()?;
    let scale = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3_600.0,
        'd' => 86_400.0,
        'y' => 365.0 * 86_400.0,
        _ => return None,
    };
    Some(sign * (n * scale) as i64)
}

/// How far this test process's own wall clock is shifted: the
/// year-ahead run preloads libfaketime into the test binary with
/// `FAKETIME=+400d`; 0 otherwise.
pub fn process_shift_s() -> i64 {
    if std::env::var_os("LD_PRELOAD").is_none() {
        return 0;
    }
    std::env::var("FAKETIME")
        .ok()
        .and_then(|f| offset_s(&f))
        .unwrap_or(0)
}

/// What a child process needs to run with its wall clock starting at
/// `at` (UTC, `YYYY-MM-DD hh:mm:ss`) and running on from there. Absolute:
/// the same whatever the date the test runs on (and in the year-ahead
/// run).
pub fn pinned_at(at: &str) -> Vec<(String, String)> {
    vec![
        ("LD_PRELOAD".into(), library().display().to_string()),
        ("FAKETIME".into(), format!("@{at}")),
        ("TZ".into(), "UTC".into()),
        ("DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]
}

/// A wall clock that a test moves while the node runs (as NTP does on a
/// Raspberry Pi with no real-time clock): an offset file libfaketime
/// reads at every call. Offsets are relative to the test's own clock.
pub struct FakeClock {
    file: PathBuf,
}

impl FakeClock {
    pub fn new(dir: &Path, offset: &str) -> FakeClock {
        let c = FakeClock {
            file: dir.join("faketime"),
        };
        c.set(offset);
        c
    }

    /// `offset`: libfaketime's relative form, e.g. "-73h" or "+0", from
    /// the test process's own clock (which the year-ahead run shifts).
    pub fn set(&self, offset: &str) {
        let own = offset_s(offset).unwrap_or_else(|| panic!("not an offset: {offset}"));
        let total = own + process_shift_s();
        std::fs::write(&self.file, format!("{total:+}\n")).expect("write the faketime file");
    }

    /// The environment of a child that follows this clock. `FAKETIME`
    /// must go (libfaketime prefers it to the file): see
    /// [`FakeClock::env_remove`].
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".into(), library().display().to_string()),
            (
                "FAKETIME_TIMESTAMP_FILE".into(),
                self.file.display().to_string(),
            ),
            ("FAKETIME_NO_CACHE".into(), "1".into()),
            ("DONT_FAKE_MONOTONIC".into(), "1".into()),
        ]
    }

    /// Variables a child of this clock must not inherit.
    pub fn env_remove() -> Vec<String> {
        vec!["FAKETIME".into()]
    }
}

#[cfg(test)]
mod tests {
    use super::offset_s;

    #[test]
    fn offsets_in_libfaketimes_relative_form() {
        for (text, want) in [
            ("+400d", Some(400 * 86_400)),
            ("-73h", Some(-73 * 3_600)),
            ("+0", Some(0)),
            ("-90", Some(-90)),
            ("+1.5m", Some(90)),
            ("@2026-12-02 03:00:00", None),
            ("2026-12-02", None),
            ("+x", None),
            ("", None),
        ] {
            assert_eq!(offset_s(text), want, "{text}");
        }
    }
}
