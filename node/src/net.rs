//! What the node's listeners share: admission of connections within
//! limits per client address and in all, and log lines that cannot flood
//! the journal.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many connections a listener holds open, in all and per address.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub total: usize,
    pub per_client: usize,
}

/// Open connections of one listener, by client address.
#[derive(Default, Clone)]
pub struct Admission {
    open: Arc<Mutex<Open>>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// One admitted connection; gives its place back when dropped.
pub struct Admitted {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut o) = self.open.lock() {
            o.total = o.total.saturating_sub(1);
            if let Some(n) = o.by_client.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    o.by_client.remove(&self.ip);
                }
            }
        }
    }
}

impl Admission {
    /// A place for a connection from `ip`, or `None` when `ip` or the
    /// listener is at its cap.
    pub fn admit(&self, ip: IpAddr, caps: Caps) -> Option<Admitted> {
        let mut o = self.open.lock().ok()?;
        let mine = o.by_client.get(&ip).copied().unwrap_or(0);
        if o.total >= caps.total || mine >= caps.per_client {
            return None;
        }
        o.total += 1;
        *o.by_client.entry(ip).or_insert(0) += 1;
        Some(Admitted {
            open: self.open.clone(),
            ip,
        })
    }

    /// Connections open now.
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.open.lock().map(|o| o.total).unwrap_or(0)
    }
}

/// A warning that is written at most once per `every`; the lines it held
/// back are counted in the next one. A flood of refused connections then
/// costs a line per interval, not megabytes per second.
pub struct Throttled {
    every: Duration,
    last: Mutex<Option<Instant>>,
    held: AtomicU64,
}

impl Throttled {
    pub const fn new(every: Duration) -> Self {
        Throttled {
            every,
            last: Mutex::new(None),
            held: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when a line may be written now (`n` lines were held back
    /// since the last one), `None` to stay quiet.
    pub fn ready(&self) -> Option<u64> {
        let now = Instant::now();
        let mut last = self.last.lock().ok()?;
        if last.is_some_and(|t| now.duration_since(t) < self.every) {
            self.held.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *last = Some(now);
        Some(self.held.swap(0, Ordering::Relaxed))
    }
}

/// Let this process open as many files as its hard limit allows. Each
/// connection is a descriptor (a device's MQTT connection through the
/// listener's front, two); the soft limit of 1,024 that many systems start
/// a service with is less than the listeners' caps together. Returns
/// (before, after).
pub fn raise_open_files_limit() -> std::io::Result<(u64, u64)> {
    let (before, _) = rlimit::Resource::NOFILE.get()?;
    let after = rlimit::increase_nofile_limit(u64::MAX)?;
    Ok((before, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_client_and_in_all() {
        let admission = Admission::default();
        let caps = Caps {
            total: 3,
            per_client: 2,
        };
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = admission.admit(a, caps).expect("a1");
        let _a2 = admission.admit(a, caps).expect("a2");
        assert!(admission.admit(a, caps).is_none(), "a's third");
        let _b1 = admission.admit(b, caps).expect("b1");
        assert!(admission.admit(b, caps).is_none(), "the fourth in all");
        assert_eq!(admission.open(), 3);
        drop(a1);
        assert!(admission.admit(b, caps).is_some(), "a place came free");
    }

    #[test]
    fn a_throttled_line_counts_what_it_held_back() {
        let t = Throttled::new(Duration::from_millis(50));
        assert_eq!(t.ready(), Some(0));
        assert_eq!(t.ready(), None);
        assert_eq!(t.ready(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(t.ready(), Some(2));
    }
}
