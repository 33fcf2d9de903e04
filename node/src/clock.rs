//! The node's clock: one type that every decision about time reads, and
//! that tests drive.
//!
//! A Raspberry Pi has no real-time clock. It boots with the last time it
//! saved, runs for a while on it, and then NTP steps the clock, often by
//! days. Taken straight from the system clock, event times would go
//! backwards across such a step and every pickup window opened before it
//! would close at once. So:
//!
//! - **Never backwards.** [`Clock::now_ms`] is the wall clock, but never
//!   earlier than the newest logged event or any earlier answer. Behind
//!   that (a clock that boots behind the log or steps back), the node's
//!   time runs on from the newest answer by real (monotonic) time until
//!   the wall catches up, so durations stay true; the node says it is not
//!   synchronised.
//! - **Steps are seen.** Each reading compares the wall clock's progress
//!   with the monotonic clock's since the previous reading; a difference
//!   over [`STEP_MS`] is a step. It is logged and counted in either
//!   direction.
//! - **Durations survive a forward step.** A forward step is kept as a
//!   [`Step`] (persisted by the store) and timers read an order's times
//!   [`corrected`]: a time stamped in this run before the step moves on by
//!   the step. Three days of NTP catch-up therefore do not expire an order
//!   that was staged five minutes ago. What a previous run stamped is taken
//!   as it is (nothing can tell whether that clock was right).
//!
//! The monotonic clock (`CLOCK_MONOTONIC`) stops while the machine is
//! suspended; a store's node is not, and a resume would read as a forward
//! step (harmless: durations then exclude the suspension).
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// A jump of the wall clock against the monotonic clock larger than this
/// is a step, not drift (NTP slews at most 0.5 ms per second).
pub const STEP_MS: u64 = 2_000;
/// Forward steps kept (the oldest are forgotten; each is a few bytes).
pub const KEEP_STEPS: usize = 32;

/// Where the clock gets its readings.
pub trait Source: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch, as the system clock says.
    fn wall_ms(&self) -> u64;
    /// Milliseconds on a clock that never steps (any origin).
    fn mono_ms(&self) -> u64;
}

/// The machine's clocks.
pub struct System {
    origin: Instant,
}

impl Default for System {
    fn default() -> Self {
        System {
            origin: Instant::now(),
        }
    }
}

impl Source for System {
    fn wall_ms(&self) -> u64 {
        wall_ms()
    }
    fn mono_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }
}

/// The system clock, raw: for what is not a decision (a log line, an
/// expiry of a login session).
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A clock a test sets by hand: `advance` moves both clocks, `step` only
/// the wall clock.
#[cfg(test)]
#[derive(Default)]
pub struct Manual {
    wall: AtomicU64,
    mono: AtomicU64,
}

#[cfg(test)]
impl Manual {
    pub fn at(wall_ms: u64) -> Arc<Manual> {
        Arc::new(Manual {
            wall: AtomicU64::new(wall_ms),
            mono: AtomicU64::new(0),
        })
    }
    /// Time passes.
    pub fn advance(&self, ms: u64) {
        self.wall.fetch_add(ms, Ordering::SeqCst);
        self.mono.fetch_add(ms, Ordering::SeqCst);
    }
    /// The wall clock is set to `wall_ms` (NTP, or someone with `date`).
    pub fn set_wall(&self, wall_ms: u64) {
        self.wall.store(wall_ms, Ordering::SeqCst);
    }
}

#[cfg(test)]
impl Source for Manual {
    fn wall_ms(&self) -> u64 {
        self.wall.load(Ordering::SeqCst)
    }
    fn mono_ms(&self) -> u64 {
        self.mono.load(Ordering::SeqCst)
    }
}

/// A forward jump of the node's time: what this run had stamped before
/// it (`since_ms <= t < until_ms`) was `by_ms` behind a right clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub since_ms: u64,
    pub until_ms: u64,
    pub by_ms: u64,
}

/// `ms` as a clock that was right would have read it: moved on by every
/// forward step that came after it in the run that stamped it.
pub fn corrected(steps: &[Step], ms: u64) -> u64 {
    steps
        .iter()
        .filter(|s| s.since_ms <= ms && ms < s.until_ms)
        .fold(ms, |t, s| t.saturating_add(s.by_ms))
}

/// Which way a step went, as counted in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
        }
    }
}

struct State {
    /// The newest answer: nothing is answered before it.
    floor: u64,
    /// The monotonic clock at the newest answer.
    floor_mono: u64,
    /// The wall and monotonic clocks at the previous reading.
    last_wall: u64,
    last_mono: u64,
    /// The earliest answer this run can give (later than anything an
    /// earlier run stamped).
    since: u64,
    steps: Vec<Step>,
    /// Steps not yet written to the store.
    unsaved: bool,
    /// The newest step of the wall clock seen in this run, either way:
    /// (wall time after it, by how much, which way).
    last_step: Option<(u64, u64, Direction)>,
}

struct Inner {
    source: Arc<dyn Source>,
    state: Mutex<State>,
    forward: AtomicU64,
    backward: AtomicU64,
}

/// Cheap to clone.
#[derive(Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock").finish_non_exhaustive()
    }
}

impl Clock {
    /// A clock that answers nothing before `floor_ms` (the newest logged
    /// event's time), knowing the forward steps a store kept.
    pub fn new(source: Arc<dyn Source>, floor_ms: u64, steps: Vec<Step>) -> Clock {
        let wall = source.wall_ms();
        let mono = source.mono_ms();
        if wall < floor_ms {
            tracing::warn!(
                behind_ms = floor_ms - wall,
                "the system clock reads before the newest logged event: event times hold still until it catches up (is NTP running?)"
            );
        }
        Clock {
            inner: Arc::new(Inner {
                source,
                state: Mutex::new(State {
                    // At least one past the newest event: what this run
                    // stamps is told apart from what an earlier run did.
                    floor: wall.max(floor_ms.saturating_add(1)),
                    floor_mono: mono,
                    last_wall: wall,
                    last_mono: mono,
                    since: wall.max(floor_ms.saturating_add(1)),
                    steps,
                    unsaved: false,
                    last_step: None,
                }),
                forward: AtomicU64::new(0),
                backward: AtomicU64::new(0),
            }),
        }
    }

    /// The machine's clock with no history (tools, tests of other parts).
    pub fn system() -> Clock {
        Clock::new(Arc::new(System::default()), 0, Vec::new())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding it leaves plain numbers behind: usable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Read the wall clock, noting a step since the previous reading.
    fn read(&self, st: &mut State) -> u64 {
        let wall = self.inner.source.wall_ms();
        let mono = self.inner.source.mono_ms();
        let expected = st
            .last_wall
            .saturating_add(mono.saturating_sub(st.last_mono));
        let step = if wall > expected.saturating_add(STEP_MS) {
            Some((wall - expected, Direction::Forward, &self.inner.forward))
        } else if expected > wall.saturating_add(STEP_MS) {
            Some((expected - wall, Direction::Backward, &self.inner.backward))
        } else {
            None
        };
        if let Some((by_ms, direction, count)) = step {
            tracing::warn!(
                from_ms = expected,
                to_ms = wall,
                by_ms,
                direction = direction.name(),
                "the wall clock stepped (going back: the node's time runs on by real time until the wall clock is past it)"
            );
            st.last_step = Some((wall, by_ms, direction));
            count.fetch_add(1, Ordering::Relaxed);
        }
        st.last_wall = wall;
        st.last_mono = mono;
        wall
    }

    /// The node's time for readings `wall` and `mono`: the wall clock
    /// while it is not behind the newest answer; behind it, the newest
    /// answer moved on by real (monotonic) time.
    fn answer(st: &State, wall: u64, mono: u64) -> (u64, u64) {
        let flowing = st.floor.saturating_add(mono.saturating_sub(st.floor_mono));
        let answer = if wall >= st.floor { wall } else { flowing };
        (answer, flowing)
    }

    /// Now, for anything the node decides or stamps: never earlier than
    /// the newest logged event or an earlier answer.
    pub fn now_ms(&self) -> u64 {
        let mut st = self.state();
        let wall = self.read(&mut st);
        let mono = st.last_mono;
        let (answer, flowing) = Clock::answer(&st, wall, mono);
        // The answer ran ahead of real time: what this run stamped so far
        // is behind by the difference.
        if answer > flowing.saturating_add(STEP_MS) {
            let step = Step {
                since_ms: st.since,
                until_ms: flowing.saturating_add(1),
                by_ms: answer - flowing,
            };
            tracing::warn!(
                by_ms = step.by_ms,
                "the node's time moved on by a clock step: pickup and payment times stamped before it are counted from the new time"
            );
            st.steps.push(step);
            let excess = st.steps.len().saturating_sub(KEEP_STEPS);
            st.steps.drain(..excess);
            st.unsaved = true;
        }
        st.floor = answer;
        st.floor_mono = mono;
        answer
    }

    /// How far the wall clock reads before the node's time (0: it does
    /// not). While it does, the node's time runs on from the newest event
    /// by real time, not by the wall clock.
    pub fn behind_ms(&self) -> u64 {
        let mut st = self.state();
        let wall = self.read(&mut st);
        let mono = st.last_mono;
        Clock::answer(&st, wall, mono).0.saturating_sub(wall)
    }

    /// The forward steps known (this run's and earlier runs').
    pub fn steps(&self) -> Vec<Step> {
        self.state().steps.clone()
    }

    /// The steps, if some were seen since the last call (for the store to
    /// write down).
    pub fn take_unsaved(&self) -> Option<Vec<Step>> {
        let mut st = self.state();
        if !st.unsaved {
            return None;
        }
        st.unsaved = false;
        Some(st.steps.clone())
    }

    /// The newest step of this run: (wall time after it, size, direction).
    pub fn last_step(&self) -> Option<(u64, u64, Direction)> {
        self.state().last_step
    }

    /// Steps seen in this run, by direction.
    pub fn step_count(&self, d: Direction) -> u64 {
        match d {
            Direction::Forward => self.inner.forward.load(Ordering::Relaxed),
            Direction::Backward => self.inner.backward.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;

    #[test]
    fn never_before_the_log_and_never_backwards() {
        let src = Manual::at(10_000);
        let clock = Clock::new(src.clone(), 50_000, Vec::new());
        // Booted behind the newest event: time starts just past it and
        // runs on by real time.
        assert_eq!(clock.now_ms(), 50_001);
        assert_eq!(clock.behind_ms(), 40_001);
        src.advance(1_000);
        assert_eq!(clock.now_ms(), 51_001);
        assert_eq!(clock.behind_ms(), 40_001);
        // The wall is put right: time follows it again (a step forward).
        src.set_wall(60_000);
        assert_eq!(clock.now_ms(), 60_000);
        assert_eq!(clock.behind_ms(), 0);
        assert_eq!(clock.steps().len(), 1);
        src.advance(10);
        assert_eq!(clock.now_ms(), 60_010);
        // A step back: never earlier, and real time goes on.
        src.set_wall(30_000);
        assert_eq!(clock.now_ms(), 60_010);
        src.advance(500);
        assert_eq!(clock.now_ms(), 60_510);
        assert_eq!(clock.step_count(Direction::Backward), 1);
        assert_eq!(clock.behind_ms(), 30_010);
        assert_eq!(clock.steps().len(), 1, "going back moves nothing on");
        // A wall clock that runs a little slow is followed, not outrun.
        src.set_wall(60_600);
        clock.now_ms();
        for _ in 0..100 {
            src.advance(1_000);
            src.set_wall(src.wall_ms() - 1);
            assert_eq!(clock.now_ms(), src.wall_ms());
        }
    }

    #[test]
    fn wall_steps_are_told_from_drift_in_both_directions() {
        let src = Manual::at(DAY);
        let clock = Clock::new(src.clone(), 0, Vec::new());
        // Slewing by NTP (1.5 s over an hour) is no step.
        for _ in 0..60 {
            src.advance(60_000);
            src.set_wall(src.wall_ms() + 25);
            clock.now_ms();
        }
        assert_eq!(clock.step_count(Direction::Forward), 0);
        assert!(clock.take_unsaved().is_none());
        // Three days of NTP catch-up: one forward step, kept.
        let before = clock.now_ms();
        src.set_wall(src.wall_ms() + 3 * DAY);
        clock.now_ms();
        assert_eq!(clock.step_count(Direction::Forward), 1);
        let saved = clock.take_unsaved().expect("the step is to be saved");
        assert_eq!(
            saved,
            vec![Step {
                since_ms: DAY,
                until_ms: before + 1,
                by_ms: 3 * DAY
            }]
        );
        assert!(clock.take_unsaved().is_none(), "saved once");
        assert_eq!(clock.last_step().map(|s| s.2), Some(Direction::Forward));
        // Back by 5 s: counted, not kept as a step.
        src.set_wall(src.wall_ms() - 5_000);
        clock.now_ms();
        assert_eq!(clock.step_count(Direction::Backward), 1);
        assert!(clock.take_unsaved().is_none());
    }

    /// The Pi: booted an hour behind its newest event, an order is made
    /// ready five minutes into the run, and five minutes later NTP puts the
    /// clock three days on. The order was ready five minutes ago.
    #[test]
    fn a_boot_behind_the_log_then_ntp() {
        let last_event = 100 * DAY;
        let src = Manual::at(last_event - 3_600_000);
        let clock = Clock::new(src.clone(), last_event, Vec::new());
        assert_eq!(clock.now_ms(), last_event + 1);
        src.advance(300_000);
        let ready = clock.now_ms();
        assert_eq!(ready, last_event + 300_001, "real time goes on");
        src.advance(300_000);
        let ntp = src.wall_ms() + 3 * DAY;
        src.set_wall(ntp);
        assert_eq!(clock.now_ms(), ntp);
        let steps = clock.steps();
        assert_eq!(steps.len(), 1, "{steps:?}");
        assert_eq!(corrected(&steps, ready), ntp - 300_000);
        // What the earlier run stamped stays as it was.
        assert_eq!(corrected(&steps, last_event), last_event);
    }

    #[test]
    fn corrected_moves_only_what_the_run_stamped_before_the_step() {
        let steps = [Step {
            since_ms: 1_000,
            until_ms: 5_000,
            by_ms: 3 * DAY,
        }];
        assert_eq!(corrected(&steps, 999), 999, "an earlier run");
        assert_eq!(corrected(&steps, 1_000), 1_000 + 3 * DAY);
        assert_eq!(corrected(&steps, 4_999), 4_999 + 3 * DAY);
        assert_eq!(corrected(&steps, 5_000 + 3 * DAY), 5_000 + 3 * DAY, "after");
        // Two steps in one run: a time before both moves by both.
        let two = [
            Step {
                since_ms: 0,
                until_ms: 100,
                by_ms: 1_000,
            },
            Step {
                since_ms: 0,
                until_ms: 1_500,
                by_ms: 1_000,
            },
        ];
        assert_eq!(corrected(&two, 50), 2_050);
        assert_eq!(corrected(&two, 1_200), 2_200);
        assert_eq!(corrected(&two, 2_600), 2_600);
    }

    #[test]
    fn only_the_newest_steps_are_kept() {
        let src = Manual::at(0);
        let clock = Clock::new(src.clone(), 0, Vec::new());
        for _ in 0..(KEEP_STEPS + 5) {
            src.set_wall(src.wall_ms() + 10_000);
            clock.now_ms();
        }
        assert_eq!(clock.steps().len(), KEEP_STEPS);
        assert_eq!(clock.step_count(Direction::Forward), KEEP_STEPS as u64 + 5);
    }
}
